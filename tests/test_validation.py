"""Issue 22, "validate before work": every flag is checked before any feature is computed, folder mode honours
``--method`` (or refuses in one line), ``--labels same`` is resolved once, ``removed`` is undefined below a floor
and the worst of seeds keeps every seed, and ``ucs-lite --help`` does not import torch.

Each test names the defect it guards; the runs use the random-init ``tiny`` surrogate and tiny images.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ucs_lite.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

from test_reliability import assert_one_line_error, cli  # noqa: E402

TINY = ["--surrogate", "tiny", "--device", "cpu", "--quiet"]


def make_npz(path: Path, n: int = 24, size: int = 16, seed: int = 0) -> Path:
    """A bundle of ``n`` random ``size``² training images (fine: 3 classes, coarse: 2) and 8 test images."""
    rng = np.random.default_rng(seed)
    y_tr, y_te = np.arange(n) % 3, np.arange(8) % 3
    np.savez(path, x_train=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), y_train=y_tr,
             y_train_coarse=(y_tr > 0).astype(np.int64), x_test=rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8),
             y_test=y_te, y_test_coarse=(y_te > 0).astype(np.int64), class_names=np.array(["a", "b", "c"]))
    return path


def photo_folder(root: Path, n: int = 4, size: int = 24) -> Path:
    """``n`` random RGB PNGs of ``size``² in ``root / 'photos'``."""
    src = root / "photos"
    src.mkdir()
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(src / f"p{i}.png")
    return src


# one in-process CLI runner and one-line-error check for the CLI tests (tests/test_reliability.py)
run, one_line_error = cli, assert_one_line_error


@pytest.fixture
def no_features(monkeypatch):
    """Feature extraction and K-means fail the test if reached (validation must come first)."""
    import ucs_lite.cluster as cluster
    import ucs_lite.noise.registry as registry

    def boom(*a, **k):
        raise AssertionError("features / K-means ran before the options were checked")

    monkeypatch.setattr(registry, "cluster_images", boom)
    monkeypatch.setattr(cluster, "extract_features", boom)


# ------------------------------------------------------------------ defect 1: --opt checked before any work

def test_unknown_opt_fails_before_features(tmp_path, capsys, no_features):
    """``--opt steps=40`` with the default method: one line naming the key and the method's options,
    exit 2, nothing written (was: features and K-means, then a TypeError traceback)."""
    from ucs_lite.methods import DEFAULT_METHOD
    from ucs_lite.noise.registry import accepted_options

    data = make_npz(tmp_path / "in.npz")
    code, _, err = run(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--opt", "steps=40", *TINY)
    line = one_line_error(code, err, "steps", DEFAULT_METHOD, sorted(accepted_options(DEFAULT_METHOD))[0])
    assert "Traceback" not in line
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("opt, needles", [
    ("steps=forty", ("steps", "whole number")),
    ("steps=2.5", ("steps", "whole number")),
    ("gray=1", ("gray", "true or false")),
    ("lr=fast", ("lr", "number")),
    ("param=wavelet", ("param", "lowfreq")),
    ("eps=8", ("eps", "--eps")),
    ("progress=false", ("progress", "--quiet")),
])
def test_opt_values_and_flag_arguments_are_checked(tmp_path, capsys, no_features, opt, needles):
    data = make_npz(tmp_path / "in.npz")
    code, _, err = run(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--method", "uc",
                       "--opt", opt, *TINY)
    one_line_error(code, err, *needles)


def test_valid_opts_pass_and_library_craft_checks_too(tmp_path, no_features):
    """Well-typed options pass the check unchanged; ``craft`` itself refuses an unknown key before clustering."""
    from ucs_lite.data import load_npz
    from ucs_lite.noise import craft
    from ucs_lite.noise.registry import check_options

    opts = {"steps": 2, "lr": 1, "gray": True, "param": "pixel", "craft_resolution": None, "max_batch": 4}
    assert check_options("uc", opts) == opts
    assert check_options("gen-cluster", {"form": "lowfreq", "lowfreq_res": 4}) == {"form": "lowfreq", "lowfreq_res": 4}
    b = load_npz(make_npz(tmp_path / "in.npz"))
    with pytest.raises(ValueError, match="gen-cluster has no option 'steps'"):
        craft("gen-cluster", b.train, surrogate="tiny", p=2, device="cpu", progress=False, steps=40)


# ------------------------------------------------------------------ defect 2: folder mode honours --method

def _summary(dst: Path) -> dict:
    return json.loads((dst / "ucs_lite_summary.json").read_text())


def test_folder_mode_honours_method(tmp_path, capsys):
    src, dst = photo_folder(tmp_path), tmp_path / "out"
    code, _, err = run(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2,
                       "--method", "random-cluster", *TINY)
    assert code == 0, err
    s = _summary(dst)
    assert s["method"] == "random-cluster" and s["config"]["method"] == "random-cluster"
    assert s["construction"]["cells"] == 16 and s["construction"]["colour"] == "luma"  # the balanced strength's


def test_folder_mode_default_is_gen_cluster_and_luma_stays_achromatic(tmp_path, capsys):
    """No --method: gen-cluster (as --help says); under a luminance-only strength its δ is the same on R, G, B."""
    src, dst = photo_folder(tmp_path, n=3), tmp_path / "out"
    code, out, err = run(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2,
                         "--strength", "strong", *TINY)
    assert code == 0, err
    s = _summary(dst)
    assert s["method"] == "gen-cluster" and json.loads(out)["method"] == "gen-cluster"
    assert s["construction"]["colour"] == "luma" and s["construction"]["cells"] is None  # a generator texture
    clean = np.asarray(Image.open(src / "p0.png")).astype(int)
    diff = np.asarray(Image.open(dst / "p0.png")).astype(int) - clean
    inside = (clean > 20).all(-1) & (clean < 235).all(-1)  # away from clipping at 0 / 255
    assert np.abs(diff).max() > 0
    assert np.abs(diff[inside] - diff[inside][:, :1]).max() <= 1  # rounding only


@pytest.mark.parametrize("flags, needles", [
    (["--method", "random-class"], ("random-class", "--input-dir", "gen-cluster")),
    (["--method", "em-sample"], ("em-sample", "--input-dir")),
    (["--labels", "coarse"], ("--labels", "--input-dir")),
    (["--method", "uc", "--opt", "epochs=3"], ("epochs", "uc")),
])
def test_folder_mode_refuses_what_a_folder_cannot_use(tmp_path, capsys, no_features, flags, needles):
    src = photo_folder(tmp_path, n=2)
    code, _, err = run(capsys, "protect", "--input-dir", src, "--output-dir", tmp_path / "out", *flags, *TINY)
    one_line_error(code, err, *needles)
    assert not (tmp_path / "out").exists()


def test_folder_mode_saves_the_perturbation(tmp_path, capsys):
    from ucs_lite.noise import Perturbation

    src, dst, pert_path = photo_folder(tmp_path, n=3), tmp_path / "out", tmp_path / "pert.npz"
    code, _, err = run(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2,
                       "--method", "random-cluster", "--save-perturbation", pert_path, *TINY)
    assert code == 0, err
    pert = Perturbation.load(pert_path)
    assert len(pert.assignment) == 3 and pert.delta.shape[0] == 2 and pert.delta.shape[-2:] == (64, 64)
    assert _summary(dst)["perturbation"] == str(pert_path.resolve())
    code, _, err = run(capsys, "protect", "--input-dir", src, "--output-dir", tmp_path / "out2",
                       "--save-perturbation", src / "p.npz", *TINY)
    one_line_error(code, err, "--save-perturbation", "input")


# ------------------------------------------------------------------ defect 3: --labels same resolved once

def _fake_result(labels: str, acc: float, chance: float = 0.5) -> dict:
    return {"method": "x", "labels": labels, "n_classes": 2, "chance": chance, "test_acc_final": acc,
            "test_acc_peak": acc, "test_acc_valsel": acc, "seconds": 0.0}


def test_evaluate_same_labels_resolved_once_for_both_runs(tmp_path, capsys, monkeypatch):
    """A bundle protected from coarse labels, ``evaluate --clean C --labels same``: both attackers use coarse."""
    import ucs_lite.attack as attack
    import ucs_lite.cache as cache

    data = make_npz(tmp_path / "in.npz")
    prot = tmp_path / "prot.npz"
    assert main(["protect", "--data", str(data), "--out", str(prot), "--method", "random-class", "--labels",
                 "coarse", "--quiet"]) == 0
    capsys.readouterr()
    views = {}

    def fake_evaluate(bundle, labels="fine", config=None, progress=True, **k):
        views["protected"] = attack.resolve_view(bundle, labels)
        return _fake_result(views["protected"], 0.6)

    def fake_cached(bundle, labels="fine", config=None, progress=True, **k):
        views["clean"] = attack.resolve_view(bundle, labels)  # as cache.evaluate resolves it
        return _fake_result(views["clean"], 0.9)

    monkeypatch.setattr(attack, "evaluate", fake_evaluate)
    monkeypatch.setattr(cache, "evaluate", fake_cached)
    code, out, err = run(capsys, "evaluate", "--data", prot, "--clean", data, "--labels", "same", "--quiet")
    assert code == 0, err
    assert views == {"protected": "coarse", "clean": "coarse"}
    r = json.loads(out)
    assert r["labels"] == "coarse" and r["removed_peak"] == pytest.approx((0.9 - 0.6) / (0.9 - 0.5))


# ------------------------------------------------------------------ defect 4: removed's floor, worst keeps NaN

def test_removed_is_nan_below_the_floor_and_says_why():
    from ucs_lite.metrics import removed

    assert math.isnan(removed(0.11, 0.10, 0.10))  # 1 point above chance: a ratio of noise (was 1.0)
    from ucs_lite.metrics import REMOVED_MIN_HEADROOM, removed_reason

    assert 0 < REMOVED_MIN_HEADROOM <= 0.05
    assert math.isnan(removed(0.10 + REMOVED_MIN_HEADROOM / 2, 0.05, 0.10))
    assert removed(0.10 + 2 * REMOVED_MIN_HEADROOM, 0.10, 0.10) == pytest.approx(1.0)
    assert "floor" in removed_reason(0.11, 0.10, 0.10) and "0.010" in removed_reason(0.11, 0.10, 0.10)
    assert "not a number" in removed_reason(float("nan"), 0.1, 0.1)
    assert removed_reason(0.5, 0.3, 0.1) is None


def test_worst_removed_never_drops_a_seed():
    from ucs_lite.metrics import worst_removed

    assert math.isnan(worst_removed([0.5, 0.5], [0.3, float("nan")], 0.1))
    assert math.isnan(worst_removed([0.5, 0.105], [0.3, 0.1], 0.1))  # seed 2's clean run is at chance
    assert worst_removed([0.5, 0.6], [0.1, 0.4], 0.1) == pytest.approx(0.4)


def test_evaluate_reports_why_removed_is_nan(tmp_path, capsys, monkeypatch):
    import ucs_lite.attack as attack
    import ucs_lite.cache as cache

    data = make_npz(tmp_path / "in.npz")
    prot = tmp_path / "prot.npz"
    assert main(["protect", "--data", str(data), "--out", str(prot), "--method", "random-class", "--quiet"]) == 0
    capsys.readouterr()
    def fake(bundle, labels="fine", config=None, **k):  # clean and protected both 0.7 points above chance
        return _fake_result(labels, 0.34, 1 / 3)

    monkeypatch.setattr(attack, "evaluate", fake)
    monkeypatch.setattr(cache, "evaluate", fake)
    code, out, err = run(capsys, "evaluate", "--data", prot, "--clean", data, "--quiet", "--out", tmp_path / "r.json")
    assert code == 0, err
    r = json.loads((tmp_path / "r.json").read_text())
    assert math.isnan(r["removed_peak"]) and "floor" in r["removed_note"]
    assert "removed_note" in json.loads(out)


# ------------------------------------------------------------------ defect 5: --help without torch

@pytest.mark.parametrize("argv", [["--help"], ["protect", "--help"], ["evaluate", "--help"], ["compare", "--help"],
                                  ["estimate", "--help"], ["protect", "--method", "no-such-method"]])
def test_help_and_argument_errors_do_not_import_torch(argv):
    script = ("import sys; from ucs_lite.cli import main; rc = main(sys.argv[1:]); "
              "print('TORCH' if 'torch' in sys.modules else 'NO_TORCH', rc)")
    r = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert r.stdout.split()[-2:] == ["NO_TORCH", "0" if "--help" in argv else "2"], (r.stdout[-500:], r.stderr[-500:])


def test_torch_free_names_match_the_modules_that_use_them():
    """The constants the parser reads from the torch-free :mod:`ucs_lite.methods`, :mod:`ucs_lite.strengths` and
    :mod:`ucs_lite.profiles` are the ones the library uses."""
    from ucs_lite import attack, methods, profiles, strengths, surrogates
    from ucs_lite.noise import photo, registry

    assert registry.METHODS == methods.METHODS and registry.DEFAULT_METHOD == methods.DEFAULT_METHOD
    assert set(methods.FOLDER_METHODS) <= set(methods.METHODS)
    assert not set(methods.FOLDER_METHODS) & set(methods.LABELLED_METHODS)
    assert attack.ATTACKERS == profiles.ATTACKERS and surrogates.DEFAULT_SURROGATE == methods.DEFAULT_SURROGATE
    assert photo.STRENGTHS is strengths.STRENGTHS and photo.DEFAULT_STRENGTH == strengths.DEFAULT_STRENGTH


def test_sweep_worst_case_keeps_a_nan_seed():
    """``sweep``'s worst case over defenses and seeds is NaN when one seed's removed is (pandas' min skipped it)."""
    import pandas as pd

    from ucs_lite.experiment import worst_case

    df = pd.DataFrame({"method": ["uc"] * 2, "built_from": ["—"] * 2, "labels": ["fine"] * 2,
                       "defense": ["none", "jpeg:10"], "test_acc_peak": [0.2, 0.3], "test_acc_final": [0.2, 0.3],
                       "removed_peak": [0.8, float("nan")], "removed_final": [0.8, 0.7]})
    w = worst_case(df)
    assert math.isnan(w.loc[0, "worst_removed_peak"]) and w.loc[0, "worst_removed_final"] == pytest.approx(0.7)
