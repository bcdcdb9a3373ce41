"""The house (issue 35): one method table that everything reads, one error boundary, and the small defects fixed
with it — each test here failed before its fix."""
from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ucs_lite import methods
from ucs_lite.methods import METHOD_TABLE, METHODS, MethodSpec, method_spec

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- one method table

@pytest.mark.parametrize("spec", METHOD_TABLE, ids=lambda s: s.name)
def test_every_method_is_one_consistent_entry(spec: MethodSpec):
    """Its function loads, its presets are options of that function, its fixed arguments are parameters of it, and
    ``craft``'s way of calling it (``inputs``) takes the first positional parameters it has."""
    fn = spec.load()
    params = inspect.signature(fn).parameters
    by_craft = {"feature_mode"} if spec.inputs.startswith("clusters") else set()  # craft clusters with it first
    assert set(spec.presets) - by_craft <= set(params), (spec.name, set(spec.presets) - set(params))
    assert not spec.inputs.startswith("clusters") or "feature_mode" in spec.presets
    assert set(spec.fixed) <= set(params)
    first = list(params)[:2]
    expected = {"labels": ["labels", "size"], "labels+images": ["images", "labels"], "clusters": ["clustering", "size"],
                "clusters+images": ["images", "labels"], "surrogate": ["train", "surrogate"],
                "surrogate+images": ["images", "surrogate"]}[spec.inputs]
    assert first == expected, (spec.name, first)
    assert spec.summary and len(spec.summary) < 140
    assert spec.needs_labels == (spec.name in methods.LABELLED_METHODS)
    assert spec.on_folders == (spec.name in methods.FOLDER_METHODS)


def test_everything_reads_the_table():
    """The command line's choices, ``craft``'s registry, the time model and the cache keys come from the table."""
    from ucs_lite import cache, profiles
    from ucs_lite.cli import build_parser
    from ucs_lite.noise import registry

    protect = build_parser()._subparsers._group_actions[0].choices["protect"]
    method_action = next(a for a in protect._actions if a.dest == "method")
    assert tuple(method_action.choices) == METHODS == registry.METHODS
    assert profiles.CLUSTER_METHODS == {m.name for m in METHOD_TABLE if m.clusters}
    assert profiles.CRAFTED_METHODS == {m.name for m in METHOD_TABLE if m.crafted}
    assert cache._code("jpeg-cluster")["definition"] == method_spec("jpeg-cluster").definition == 2
    assert cache._code("study:anything")["definition"] == 1


def test_a_new_method_is_one_entry(monkeypatch, small_set):
    """Adding a method = one MethodSpec (here reusing an existing function): ``craft`` crafts it, checks its options
    and names the perturbation after it; the cache keys it; folder mode refuses it with the entry's reason."""
    from ucs_lite import cache, noise, protect

    spec = MethodSpec("tile-class", "ucs_lite.noise.patterns:craft_random_class", "labels",
                      summary="a test method", presets={"form": "jpeg-tile"}, folder="it is a test")
    monkeypatch.setattr(methods, "_BY_NAME", {**methods._BY_NAME, spec.name: spec})
    monkeypatch.setattr(methods, "METHODS", (*METHODS, spec.name))
    pert = noise.craft("tile-class", small_set, seed=0)
    assert pert.method == "tile-class" and pert.meta["form"] == "jpeg-tile"
    with pytest.raises(ValueError, match="tile-class has no option 'steps'"):
        noise.craft("tile-class", small_set, steps=3)
    assert cache.craft_key("tile-class", small_set)["method"] == "tile-class"
    with pytest.raises(ValueError, match="it is a test"):
        protect.check_folder_method("tile-class")


def test_unknown_method_is_one_line():
    from ucs_lite.errors import OptionError

    with pytest.raises(OptionError, match="unknown method 'nope'; choose one of uc, "):
        method_spec("nope")


def test_method_spec_validates_itself():
    with pytest.raises(ValueError, match="inputs must be one of"):
        MethodSpec("x", "m:f", "pixels", summary="")
    with pytest.raises(ValueError, match="module:function"):
        MethodSpec("x", "m.f", "labels", summary="")


# ---------------------------------------------------------------- one error boundary

def _run_cli(args: list[str], pre: str = "") -> subprocess.CompletedProcess:
    script = f"import sys\n{pre}\nfrom ucs_lite.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_a_user_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    r = _run_cli(["protect", "--data", str(bad), "--out", str(tmp_path / "o.npz"), "--method", "random-class"])
    assert r.returncode == 2, r.stderr[-800:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ucs-lite: error: ") and "Traceback" not in r.stderr, r.stderr


def test_an_internal_error_shows_its_traceback(tmp_path):
    """A planted bug (a TypeError inside crafting) is not dressed up as a user error: traceback, 'bug', exit 1."""
    plant = ("import ucs_lite.noise.patterns as p\n"
             "def broken(*a, **k):\n    return None + 1\n"
             "p.craft_random_class = broken\n")
    r = _run_cli(["protect", "--data", "sample", "--out", str(tmp_path / "o.npz"), "--method", "random-class",
                  "--quiet"], pre=plant)
    assert r.returncode == 1, r.stderr[-800:]
    assert "Traceback (most recent call last)" in r.stderr and "TypeError" in r.stderr
    assert "this is a bug in ucs_lite" in r.stderr


def test_a_missing_input_file_is_one_line(tmp_path):
    r = _run_cli(["protect", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o.npz")])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-800:]


def test_user_error_classes_are_value_errors():
    """Callers that caught ValueError for bad input still do."""
    from ucs_lite import errors

    for cls in (errors.InputError, errors.OptionError, errors.DataError):
        assert issubclass(cls, errors.UcsError) and issubclass(cls, ValueError)
    from ucs_lite.data import DataError
    assert DataError is errors.DataError


# ---------------------------------------------------------------- smaller defects, each with its test

def test_load_cifar_default_root_follows_the_cache(monkeypatch, tmp_path):
    """load_cifar's default folder is inside UCS_LITE_CACHE (it was always ~/.cache/ucs_lite)."""
    import torchvision

    from ucs_lite import data

    seen = {}

    class Fake:
        def __init__(self, root, train, download):
            seen["root"] = root
            raise RuntimeError("offline")

    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path / "c"))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Fake)
    with pytest.raises(data.DataError):
        data.load_cifar("cifar10", download=False)
    assert Path(seen["root"]) == tmp_path / "c" / "datasets"


def test_declared_package_data_exists():
    """pyproject's package-data names only files that exist (py.typed was listed but missing); a pattern inside a
    folder that the build makes (absent from a checkout) is not checked here."""
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in cfg["tool"]["setuptools"]["package-data"]["ucs_lite"]:
        folder = (ROOT / "ucs_lite" / pattern).parent
        if folder.is_dir():
            assert list((ROOT / "ucs_lite").glob(pattern)), f"package-data {pattern!r} matches no file"
    assert (ROOT / "ucs_lite" / "py.typed").is_file()


def test_eot_cluster_records_its_surrogate(small_set):
    """A cluster method crafted from the images records the surrogate its clusters came from (was "")."""
    from ucs_lite import noise

    pert = noise.craft("eot-cluster", small_set, surrogate="tiny", p=3, rounds=1, train_steps=1, seed=0,
                       progress=False)
    assert pert.surrogate == "tiny" and pert.method == "eot-cluster" and pert.centroids is not None


def test_unreadable_cache_entry_warns_naming_the_file(tmp_path, small_set):
    from ucs_lite import cache
    from ucs_lite.errors import UcsWarning

    cache.craft("random-class", small_set, cache_dir=tmp_path)
    entry = next(p for p in (tmp_path / "perturbations").iterdir() if not p.name.endswith(".key.json"))
    entry.write_bytes(b"garbage")
    with pytest.warns(UcsWarning, match=f"cache entry {entry}.* could not be read"):
        cache.craft("random-class", small_set, cache_dir=tmp_path)
    with warnings.catch_warnings():  # replaced: read back without a warning the next time
        warnings.simplefilter("error", UcsWarning)
        cache.craft("random-class", small_set, cache_dir=tmp_path)


def test_unreadable_features_warn_naming_the_file(tmp_path):
    from ucs_lite.cluster import extract_features
    from ucs_lite.errors import UcsWarning
    from ucs_lite.surrogates import create_surrogate

    s = create_surrogate("tiny")
    x = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    extract_features(s, x, cache_dir=tmp_path, progress=False)
    f = next((tmp_path / "features").glob("*.npy"))
    f.write_bytes(b"junk")
    with pytest.warns(UcsWarning, match="could not be read"):
        extract_features(s, x, cache_dir=tmp_path, progress=False)


def test_offline_message_only_for_download_failures(monkeypatch):
    """Offline, a failure that is not a download (a bug inside open_clip's call) is not reported as 'hub
    unreachable' (every failure was)."""
    import open_clip

    from ucs_lite import surrogates
    from ucs_lite.errors import SurrogateUnavailable

    monkeypatch.setattr(surrogates, "_hub_reachable", lambda timeout=3.0: False)

    def download_fails(*a, **k):
        raise RuntimeError("Failed to download weights for tag 'openai'")

    monkeypatch.setattr(open_clip, "create_model", download_fails)
    with pytest.raises(SurrogateUnavailable, match="cannot be reached"):
        surrogates.create_surrogate("clip:RN50/openai")

    def bug(*a, **k):
        raise RuntimeError("size mismatch for conv1.weight")

    monkeypatch.setattr(open_clip, "create_model", bug)
    with pytest.raises(SurrogateUnavailable) as e:
        surrogates.create_surrogate("clip:RN50/openai")
    assert "cannot be reached" not in str(e.value) and "size mismatch" in str(e.value)

    def typo(*a, **k):
        raise TypeError("unexpected keyword")

    monkeypatch.setattr(open_clip, "create_model", typo)
    with pytest.raises(TypeError):
        surrogates.create_surrogate("clip:RN50/openai")


def test_one_library_versions():
    """One function says what a result was made with; the cache keys on the part of it that changes numbers."""
    from ucs_lite import cache, provenance

    full = provenance.library_versions()
    assert {"ucs_lite", "torch", "numpy", "scikit-learn", "python"} <= set(full)
    assert cache.library_versions() == {k: full[k] for k in ("torch", "scikit-learn")}


def test_dead_code_is_gone():
    from ucs_lite import data

    assert not hasattr(data, "CIFAR10_CLASSES") and not hasattr(data, "_cifar_arrays")
    run = (ROOT / "benchmarks" / "countermeasures.py").read_text().split("\ndef run(")[1].split("\ndef ")[0]
    assert "out = stored()" not in run  # an unused read of the stored results


def test_defaults_bundle_and_folder():
    """Issue 36: ``protect --data`` defaults to the rule's winner (a method built for re-encoding); folder mode and
    streaming, which cannot craft it, to a folder method."""
    import inspect as _inspect

    from ucs_lite import protect, stream
    from ucs_lite.methods import DEFAULT_FOLDER_METHOD, DEFAULT_METHOD

    assert method_spec(DEFAULT_METHOD).robust_to and not method_spec(DEFAULT_METHOD).on_folders
    assert method_spec(DEFAULT_FOLDER_METHOD).on_folders
    assert _inspect.signature(protect.protect_bundle).parameters["method"].default == DEFAULT_METHOD
    assert _inspect.signature(protect.protect_folder).parameters["method"].default == DEFAULT_FOLDER_METHOD
    assert stream.StreamConfig("in", "out").method == DEFAULT_FOLDER_METHOD
