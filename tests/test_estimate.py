"""The notebook time model (ucs_lite.estimate), `ucs-lite estimate`, and the estimate resolve() prints."""
import ast
import json

import papermill as pm
import pytest

from ucs_lite import estimate as E
from ucs_lite import notebooks as nbmod
from ucs_lite.cli import main


def test_knobs_match_the_notebooks_parameters_cells():
    for name, knobs in E.NOTEBOOK_KNOBS.items():
        declared = pm.inspect_notebook(str(nbmod.NOTEBOOK_DIR / f"{name}.ipynb"))
        for k, v in knobs.items():
            assert k in declared, f"{name} has no parameter {k}"
            assert ast.literal_eval(declared[k]["default"]) == v, f"{name}: {k}"


def test_gpu_class_fits_a_lesson_on_a_t4():
    est = E.estimate_profile("gpu-class", "t4")
    assert set(est["seconds"]) == set(nbmod.NOTEBOOKS)
    assert all(0 < s <= 600 for s in est["seconds"].values()), est["seconds"]
    assert est["measured"] is False and "assumption" in est["source"]
    paper = E.estimate_profile("gpu-paper", "t4")["seconds"]
    assert paper["04_label_agnostic_evaluation"] > 3600  # paper scale is hours, not a lesson
    assert E.estimate_profile("cpu-quick", "cpu")["measured"] is True


def test_model_grows_with_the_work():
    cfg = dict(nbmod.PROFILES["gpu-class"])
    base = E.estimate_notebook("04_label_agnostic_evaluation", cfg, "t4")
    more_epochs = E.estimate_notebook("04_label_agnostic_evaluation", {**cfg, "epochs": 24}, "t4")
    fewer = E.estimate_notebook("04_label_agnostic_evaluation", cfg, "t4", methods=["clean", "uc"])
    assert more_epochs["parts"]["attacker"] == pytest.approx(2 * (base["parts"]["attacker"] - 10 * 3.0) + 10 * 3.0)
    assert fewer["seconds"] < base["seconds"] < more_epochs["seconds"]
    assert E.estimate_notebook("04_label_agnostic_evaluation", cfg, "a100")["seconds"] < base["seconds"]
    with pytest.raises(ValueError, match="unknown notebook"):
        E.estimate_notebook("99_nothing", cfg)


@pytest.mark.parametrize("reported, key", [("Tesla T4", "t4"), ("NVIDIA A100-SXM4-40GB", "a100"),
                                           ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h100"),
                                           ("t4", "t4"), (None, "cpu"), ("cpu", "cpu")])
def test_hardware_from_cuda_device_names(reported, key):
    assert E.hardware_for(reported) == E.HARDWARE[key]


def test_unknown_gpu_uses_t4_figures_and_says_so():
    hw = E.hardware_for("NVIDIA L4")
    assert "unknown GPU" in hw.name and hw.attacker_train_32 == E.HARDWARE["t4"].attacker_train_32


def test_cli_prints_json_seconds_per_notebook(capsys):
    assert main(["estimate", "--profile", "gpu-class", "--gpu", "t4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["profile"] == "gpu-class" and set(out["seconds"]) == set(nbmod.NOTEBOOKS)
    assert max(out["seconds"].values()) <= 600


def test_resolve_prints_the_running_notebooks_estimate(monkeypatch, capsys):
    monkeypatch.setenv(nbmod.NOTEBOOK_ENV, "04_label_agnostic_evaluation")
    monkeypatch.setattr(nbmod, "_SESSION", {"device": "cuda", "gpu": "Tesla T4"})

    def line(notebook_globals):
        exec("cfg = nb.resolve('gpu-class', epochs=None, model=None)", {"nb": nbmod, **notebook_globals})
        out = capsys.readouterr().out
        return next(l for l in out.splitlines() if l.startswith("estimated time for this notebook"))

    full = line({})
    assert "NVIDIA T4" in full and "not measured" in full
    two = line({"methods": ["clean", "uc"], "views": ["fine"]})  # the notebook's own knobs are read
    minutes = lambda s: float(s.split("~")[1].split(" min")[0])  # noqa: E731
    assert minutes(two) < minutes(full)
    monkeypatch.delenv(nbmod.NOTEBOOK_ENV)
    nbmod.resolve("gpu-class", epochs=None)
    assert "estimated time" not in capsys.readouterr().out  # outside a notebook: no estimate
