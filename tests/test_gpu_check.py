"""benchmarks/gpu_check.py on the CPU: the same code path as on a GPU, at its smallest size."""
import json
import os
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402

from ucs_lite.notebooks import find_notebooks  # noqa: E402


def test_tiny_overrides_are_notebook_parameters():
    """Every tiny value reaches the notebooks: a declared parameter, or a profile value that run_notebooks folds
    into the ``overrides`` parameter each notebook declares."""
    from ucs_lite.profiles import PROFILES

    declared = set()
    for p in find_notebooks():
        params = set(pm.inspect_notebook(str(p)))
        assert "overrides" in params, p.name
        declared |= params
    foldable = set().union(*(set(v) for v in PROFILES.values()))
    assert set(gpu_check.TINY) <= declared | foldable, set(gpu_check.TINY) - declared - foldable


@pytest.mark.slow
def test_gpu_check_runs_on_cpu(tmp_path):
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UCS_LITE_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                        "--out", str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["ok"] and rep["failures"] == []
    assert rep["environment"]["device"] == "cpu" and rep["environment"]["precision"] == "cpu"
    assert rep["environment"]["grad_scaler"] is False
    probes = rep["probes"]
    assert {"surrogate", "uc_step", "attacker_small-cnn"} <= set(probes)
    assert all(p["ok"] for p in probes.values())
    assert probes["surrogate"]["fwd_img_s"] > 0 and probes["attacker_small-cnn"]["train_img_s"] > 0
    assert probes["uc_step"]["chunked"]["max_batch"] < probes["uc_step"]["images"]
    assert probes["uc_step"]["grad_rel_diff"] < 1e-3  # float32, other kernels per batch size; float64: test_precision
    assert rep["notebooks"]["ran"] is False and "skipped" in rep["notebooks"]["reason"]
