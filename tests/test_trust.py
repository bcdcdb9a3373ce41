"""Numbers a user can trust (issue 16): one cache keyed by everything that changes a result, no silent wrong
numbers (folders without a test split, NaN chance, a mutated config, an unseeded augmentation, cluster
predictions that depend on their batch), and the test-selected peak reported next to a validation-selected one."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ucs_lite import cache
from ucs_lite.attack import AttackConfig, chance_rate, evaluate, validation_split
from ucs_lite.cli import main
from ucs_lite.cluster import fit_clusters
from ucs_lite.data import Bundle, DataError, ImageSet, load

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_bundle(sample) -> Bundle:
    return Bundle(sample.train.balanced_subset(60, seed=0), sample.test.balanced_subset(30, seed=0))


def _relabelled(b: Bundle) -> Bundle:
    """Same pixels, the fine labels shifted by one class (a relabelled dataset)."""
    def shift(s: ImageSet) -> ImageSet:
        return ImageSet(s.images, {**s.labels, "fine": (s.labels["fine"] + 1) % 10}, dict(s.class_names))
    return Bundle(shift(b.train), shift(b.test), dict(b.extras), b.source)


def _files(root: Path, kind: str) -> list[Path]:
    return [f for f in (root / kind).glob("*") if not f.name.endswith(".key.json")]


# ------------------------------------------------------------------ one cache, keyed by everything that matters

def test_fingerprint_covers_labels(tiny_bundle):
    other = _relabelled(tiny_bundle)
    assert np.array_equal(other.train.images, tiny_bundle.train.images)
    assert other.train.fingerprint() != tiny_bundle.train.fingerprint()
    assert other.test.fingerprint() != tiny_bundle.test.fingerprint()
    renamed = ImageSet(tiny_bundle.train.images, dict(tiny_bundle.train.labels),
                       {**tiny_bundle.train.class_names, "fine": list("abcdefghij")})
    assert renamed.fingerprint() != tiny_bundle.train.fingerprint()


def test_relabelled_bundle_gets_its_own_attacker_result(tiny_bundle, tmp_path):
    kw = dict(epochs=1, batch_size=30, device="cpu", progress=False, cache_dir=tmp_path)
    a = cache.evaluate(tiny_bundle, "fine", **kw)
    b = cache.evaluate(_relabelled(tiny_bundle), "fine", **kw)
    assert len(_files(tmp_path, "attack")) == 2
    fresh = evaluate(_relabelled(tiny_bundle), "fine", epochs=1, batch_size=30, device="cpu", progress=False)
    assert b["per_epoch"] == fresh["per_epoch"] != a["per_epoch"]  # what an uncached run gives, not a's entry
    again = cache.evaluate(tiny_bundle, "fine", **kw)
    assert again == a and len(_files(tmp_path, "attack")) == 2  # a hit reads back the same result


def test_relabelled_bundle_gets_its_own_protected_copy(tiny_bundle, tmp_path):
    kw = dict(eps=8 / 255, labels="fine", cache_dir=tmp_path)
    a = cache.protect(tiny_bundle, "random-class", **kw)
    b = cache.protect(_relabelled(tiny_bundle), "random-class", **kw)
    assert len(_files(tmp_path, "protected")) == 2
    assert np.array_equal(b.train.labels["fine"], _relabelled(tiny_bundle).train.labels["fine"])
    assert not np.array_equal(a.train.images, b.train.images)  # class-wise noise follows the new labels


def test_protect_cache_keys_by_meaning(tiny_bundle, tmp_path):
    b = tiny_bundle
    a = cache.protect(b, "random-class", cache_dir=tmp_path, eps=16 / 255, labels="fine", form="lowfreq", dist="sign")
    assert len(_files(tmp_path, "protected")) == 1
    same = cache.protect(b, "random-class", cache_dir=tmp_path, eps=16 / 255, labels="fine", surrogate="tiny", p=3)
    assert len(_files(tmp_path, "protected")) == 1  # defaults left out; surrogate and p do not matter here
    assert np.array_equal(a.train.images, same.train.images)
    other = cache.protect(b, "random-class", cache_dir=tmp_path, eps=16 / 255, labels="fine", form="pixel")
    assert len(_files(tmp_path, "protected")) == 2
    assert not np.array_equal(a.train.images, other.train.images)
    with pytest.raises(ValueError, match="unknown method"):
        cache.protect(b, "nope", cache_dir=tmp_path)


def test_key_holds_code_version_definition_and_precision(tiny_bundle, monkeypatch):
    import dataclasses

    from ucs_lite import methods

    base = cache.protect_key(tiny_bundle, "random-class")
    spec = methods.method_spec("random-class")  # as if its defaults had changed: its definition number bumped
    monkeypatch.setattr(methods, "_BY_NAME", {**methods._BY_NAME, "random-class": dataclasses.replace(spec, definition=7)})
    assert cache.protect_key(tiny_bundle, "random-class") != base
    monkeypatch.undo()
    monkeypatch.setattr(cache, "CACHE_VERSION", cache.CACHE_VERSION + 1)
    assert cache.protect_key(tiny_bundle, "random-class") != base
    monkeypatch.undo()
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    assert cache.protect_key(tiny_bundle, "random-class") != base
    monkeypatch.undo()
    cfg = AttackConfig(device="cpu")
    k_cpu = cache.evaluate_key(tiny_bundle, "fine", cfg)
    assert k_cpu["precision"] == "cpu"
    monkeypatch.setattr(cache, "precision_label", lambda dev: "cuda-bfloat16")
    assert cache.evaluate_key(tiny_bundle, "fine", cfg) != k_cpu
    assert cache.craft_key("uc", tiny_bundle.train)["precision"] == "cuda-bfloat16"


def test_craft_cache_marks_hits(tiny_bundle, tmp_path):
    a = cache.craft("random-class", tiny_bundle.train, eps=8 / 255, cache_dir=tmp_path)
    b = cache.craft("random-class", tiny_bundle.train, eps=8 / 255, cache_dir=tmp_path)
    assert not a.meta["from_cache"] and b.meta["from_cache"]
    assert np.array_equal(a.delta, b.delta) and len(_files(tmp_path, "perturbations")) == 1


def test_cached_perturbation_computes_once_per_key_and_rekeys_on_code(tmp_path, monkeypatch):
    from ucs_lite.noise import Perturbation
    calls = []

    def compute(v: float = 0.01) -> Perturbation:
        calls.append(v)
        return Perturbation(np.full((2, 3, 4, 4), v, np.float32), np.array([0, 1, 1]), "study:x", 16 / 255, 0)

    a = cache.cached_perturbation({"method": "study:x", "seed": 0}, compute, cache_dir=tmp_path)
    b = cache.cached_perturbation({"method": "study:x", "seed": 0}, lambda: compute(0.02), cache_dir=tmp_path)
    assert calls == [0.01] and np.array_equal(a.delta, b.delta)  # the second is read back, not recomputed
    cache.cached_perturbation({"method": "study:x", "seed": 1}, lambda: compute(0.03), cache_dir=tmp_path)
    assert calls == [0.01, 0.03]  # another key: computed
    monkeypatch.setattr(cache, "CACHE_VERSION", cache.CACHE_VERSION + 1)
    cache.cached_perturbation({"method": "study:x", "seed": 0}, lambda: compute(0.04), cache_dir=tmp_path)
    assert calls == [0.01, 0.03, 0.04]  # a code change re-keys it
    keys = [json.loads(f.read_text()) for f in (tmp_path / "perturbations").glob("*.key.json")]
    assert len(keys) == 3 and all(k["kind"] == "perturbations" and "code" in k for k in keys)
    listed = [e["summary"] for e in cache.entries(tmp_path)]
    assert len(listed) == 3 and all(t.startswith("study:x ") and "None" not in t for t in listed)


def test_cache_ls_and_clear(tiny_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path))
    cache.protect(tiny_bundle, "random-class", eps=8 / 255)
    cache.evaluate(tiny_bundle, "coarse", epochs=1, batch_size=30, device="cpu", progress=False)
    (tmp_path / "keep.txt").write_text("not the cache's")
    assert main(["cache", "ls"]) == 0
    out = capsys.readouterr().out
    assert "protected" in out and "random-class eps=8.0/255" in out and "view coarse" in out
    assert "2 entries" in out and str(tmp_path) in out
    assert main(["cache", "clear", "--kind", "attack"]) == 0
    assert "removed 2 files" in capsys.readouterr().out  # the entry and its key file
    assert [e["kind"] for e in cache.entries()] == ["protected"]
    assert main(["cache", "clear"]) == 0
    capsys.readouterr()
    assert cache.entries() == [] and (tmp_path / "keep.txt").is_file()


# ------------------------------------------------------------------ no silent wrong numbers

def _folder(root: Path, n_per: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c, base in (("cats", 60), ("dogs", 190)):
        (root / c).mkdir(parents=True)
        for i in range(n_per):
            img = np.clip(base + rng.normal(0, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def test_evaluate_on_a_folder_needs_a_held_out_split(tmp_path, capsys):
    src = _folder(tmp_path / "photos")
    code = main(["evaluate", "--data", str(src), "--epochs", "1", "--quiet", "--device", "cpu", "--model", "resnet18"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ucs-lite: error: ")
    assert "no test images" in lines[0] and "--test-fraction" in lines[0]
    out = tmp_path / "r.json"
    assert main(["evaluate", "--data", str(src), "--epochs", "1", "--quiet", "--device", "cpu", "--model", "resnet18",
                 "--test-fraction", "0.25", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n_test"] == 3 and r["n_train"] == 9  # round(0.25 · 12) held out, disjoint from training
    assert np.isfinite(r["chance"]) and 0 <= r["test_acc_final"] <= 1


def test_folder_split_is_disjoint_and_seeded(tmp_path):
    src = _folder(tmp_path / "photos")
    a, b = load(src, test_fraction=0.25, seed=1), load(src, test_fraction=0.25, seed=1)
    assert len(a.test) == 3 and len(a.train) == 9
    assert np.array_equal(a.test.images, b.test.images)
    rows = {r.tobytes() for r in a.train.images} & {r.tobytes() for r in a.test.images}
    assert not rows
    with pytest.raises(DataError, match="image folders only"):
        load("sample", test_fraction=0.2)


def test_chance_is_never_nan(tiny_bundle):
    with pytest.raises(ValueError, match="needs test labels"):
        chance_rate(np.zeros(0, np.int64), 2)
    empty = Bundle(tiny_bundle.train, tiny_bundle.test.subset(np.zeros(0, np.int64)))
    with pytest.raises(DataError, match="no test images"):
        evaluate(empty, "fine", epochs=1, device="cpu", progress=False)


def test_evaluate_leaves_the_callers_config_alone(tiny_bundle):
    cfg = AttackConfig(epochs=2, batch_size=30, device="cpu")
    before = AttackConfig(**vars(cfg))
    r = evaluate(tiny_bundle, "coarse", cfg, progress=False, epochs=1, seed=4)
    assert cfg == before
    assert r["config"]["epochs"] == 1 and r["config"]["seed"] == 4 and len(r["per_epoch"]) == 1
    with pytest.raises(TypeError, match="unknown attack option 'epoch'"):
        evaluate(tiny_bundle, "coarse", cfg, progress=False, epoch=1)


def test_valsel_is_chosen_on_validation_and_scored_on_the_rest(tiny_bundle):
    val, scored = validation_split(30)
    assert len(val) == 6 and len(scored) == 24 and not set(val) & set(scored)
    assert sorted(np.concatenate([val, scored]).tolist()) == list(range(30))
    r = evaluate(tiny_bundle, "fine", epochs=3, batch_size=30, device="cpu", progress=False)
    assert r["peak_selected_on"] == "test" and r["val_split"] == {"n_val": 6, "n_scored": 24, "seed": 0}
    ep = r["per_epoch"]
    best = int(np.argmax([e["val_acc"] for e in ep]))
    assert r["test_acc_valsel"] == ep[best]["heldout_acc"]
    assert r["test_acc_peak"] == max(e["test_acc"] for e in ep)
    for e in ep:  # the full test accuracy is the weighted mean of its two disjoint parts
        assert e["test_acc"] == pytest.approx((6 * e["val_acc"] + 24 * e["heldout_acc"]) / 30)


def test_strong_aug_is_bit_identical_for_one_seed(tiny_bundle):
    runs = []
    for noise in (0, 1):
        torch.manual_seed(1000 + noise)  # whatever the global RNG holds, the attacker's seed decides
        before = torch.get_rng_state()
        runs.append(evaluate(tiny_bundle, "coarse", epochs=1, batch_size=30, defense="strong-aug", seed=2,
                             device="cpu", progress=False))
        assert torch.equal(torch.get_rng_state(), before)  # and the caller's global RNG is left alone
    assert runs[0]["per_epoch"] == runs[1]["per_epoch"]
    other = evaluate(tiny_bundle, "coarse", epochs=1, batch_size=30, defense="strong-aug", seed=3, device="cpu",
                     progress=False)
    assert other["per_epoch"] != runs[0]["per_epoch"]


@pytest.mark.parametrize("mode", ["standardize", "pca-whiten", "l2", "none"])
def test_cluster_predict_uses_the_fitted_statistics(mode):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16)) * 5
    y = np.repeat(np.arange(4), 30)
    feats = (centers[y] + rng.normal(size=(120, 16))).astype(np.float32)
    c = fit_clusters(feats, 4, seed=0, mode=mode)
    assert np.array_equal(c.predict(feats), c.labels)
    t = rng.uniform(0, 1, (100, 1))
    mid = centers[0] * t + centers[1] * (1 - t)  # between two clusters: where the scaling decides
    far = centers[np.arange(100) % 4] + 15 * rng.normal(size=16)  # predicted in the same batch, far away
    new = np.concatenate([mid, far]).astype(np.float32)
    together = c.predict(new)[:100]
    alone = np.array([c.predict(new[i:i + 1])[0] for i in range(100)])
    assert np.array_equal(together, alone)  # an image's cluster does not depend on what else is predicted
