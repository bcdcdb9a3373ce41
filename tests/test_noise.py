import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from ucs_lite.data import Bundle, DataError, SkippedInput
from ucs_lite.noise import METHODS, Perturbation, apply, craft
from ucs_lite.protect import protect_bundle, protect_folder

FAST = {"uc": {"steps": 2, "batch_per_cluster": 2}, "uc-robust": {"steps": 2, "batch_per_cluster": 2},
        "uc-official": {"epochs": 1, "batch_size": 50, "noise_size": 32, "ngf": 8, "n_blocks": 1},
        "em-class": {"rounds": 1, "train_steps": 2, "pgd_steps": 1}, "em-sample": {"rounds": 1, "train_steps": 2, "pgd_steps": 1},
        "eot-cluster": {"rounds": 1, "train_steps": 2}}


@pytest.fixture(scope="module")
def small(sample):
    return Bundle(sample.train.balanced_subset(100, seed=0), sample.test.balanced_subset(20, seed=0))


SLOW_METHODS = ("em-class", "em-sample", "uc-official", "gen-cluster", "eot-cluster")  # 8-11 s each on 2 CPU cores


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_METHODS else m for m in METHODS])
def test_every_method_bounded_total_and_seeded(small, method):
    kw = dict(eps=8 / 255, seed=1, surrogate="tiny", p=4, device="cpu", progress=False, **FAST.get(method, {}))
    a = craft(method, small.train, **kw)
    b = craft(method, small.train, **kw)
    assert np.array_equal(a.delta, b.delta) and np.array_equal(a.assignment, b.assignment)
    assert len(a.assignment) == len(small.train)
    assert a.assignment.min() >= 0 and a.assignment.max() < a.groups
    assert np.abs(a.delta).max() <= 8 / 255 + 1e-7
    x = apply(small.train.images, a)
    diff = np.abs(x.astype(int) - small.train.images.astype(int)).max()
    assert diff <= 8  # ε·255 = 8 is whole: the bound holds exactly after rounding to uint8
    c = craft(method, small.train, **{**kw, "seed": 2})
    assert not np.array_equal(a.delta, c.delta)


def test_perturbation_roundtrip_and_checks(tmp_path, small):
    p = craft("random-class", small.train, eps=16 / 255, seed=0)
    path = p.save(tmp_path / "pert.npz")
    q = Perturbation.load(path)
    assert np.array_equal(p.delta, q.delta) and np.array_equal(p.assignment, q.assignment)
    assert (q.method, q.eps, q.seed, q.version) == (p.method, p.eps, p.seed, p.version)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind
    with pytest.raises(DataError, match="exceeds"):
        Perturbation(np.full((1, 3, 4, 4), 0.5, np.float32), np.zeros(3, np.int64), "x", 16 / 255, 0)
    with pytest.raises(DataError, match="assignment"):
        Perturbation(np.zeros((2, 3, 4, 4), np.float32), np.array([0, 5]), "x", 16 / 255, 0)
    with pytest.raises(ValueError, match="out of range"):
        Perturbation(np.zeros((2, 3, 4, 4), np.float32), np.array([0, 1]), "x", 0.0, 0)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(DataError, match="bad.npz"):
        Perturbation.load(tmp_path / "bad.npz")


def test_protect_bundle_keeps_test_and_keys(small):
    prot, pert = protect_bundle(small, "uc", eps=16 / 255, surrogate="tiny", p=3, device="cpu", progress=False,
                                steps=1, batch_per_cluster=2)
    assert np.array_equal(prot.test.images, small.test.images)
    assert not np.array_equal(prot.train.images, small.train.images)
    assert np.array_equal(prot.extras["cluster_train"], pert.assignment)
    meta = prot.meta()
    assert meta["method"] == "uc" and meta["p"] == 3 and 20 < meta["psnr"] < 40 and 0 < meta["ssim"] <= 1
    assert meta["max_abs_delta_255"] <= 17 and "warning" in meta  # tiny surrogate is labelled as such
    assert set(meta["clusters_vs_labels"]) == {"fine", "coarse"}


def _tree_hash(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_protect_folder_native_sizes_and_untouched_input(tmp_path):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = {"a.jpg": (50, 40), "sub/b.png": (17, 33), "c.png": (64, 64), "d.png": (32, 48)}
    for name, (w, h) in sizes.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(src / name)
    (src / "notes.txt").write_text("not an image")
    (src / "broken.png").write_bytes(b"\x89PNG garbage")
    before = _tree_hash(src)
    out = tmp_path / "out"
    with pytest.warns(SkippedInput) as warned:  # one warning per skipped file, each naming it
        summary = protect_folder(src, out, eps=8 / 255, p=2, surrogate="tiny", work_size=32, device="cpu",
                                 progress=False, method="uc", steps=1, batch_per_cluster=2)
    named = [str(w.message) for w in warned if issubclass(w.category, SkippedInput)]
    assert len(named) == 2 and any("broken.png" in m for m in named) and any("notes.txt" in m for m in named)
    assert _tree_hash(src) == before
    assert summary["written"] == 4 and {s["file"] for s in summary["skipped"]} == {"broken.png", "notes.txt"}
    for name, (w, h) in sizes.items():
        o = out / (name.rsplit(".", 1)[0] + ".png")
        im = np.asarray(Image.open(o))
        assert im.shape == (h, w, 3)
        if name.endswith(".png"):
            orig = np.asarray(Image.open(src / name).convert("RGB")).astype(int)
            assert np.abs(im.astype(int) - orig).max() <= 9
    assert json.loads((out / "ucs_lite_summary.json").read_text())["written"] == 4
    with pytest.raises(DataError, match="not empty"):
        protect_folder(src, out, surrogate="tiny", device="cpu", progress=False)
    with pytest.raises(DataError, match="inside the input"):
        protect_folder(src, src / "prot", surrogate="tiny", device="cpu", progress=False)


def test_uc_robust_noise_is_achromatic(small):
    p = craft("uc-robust", small.train, surrogate="tiny", p=3, device="cpu", progress=False, steps=2,
              batch_per_cluster=2)
    assert p.method == "uc-robust"
    assert np.array_equal(p.delta[:, 0], p.delta[:, 1]) and np.array_equal(p.delta[:, 1], p.delta[:, 2])


def test_uc_official_subsample_and_untrained(small):
    """``max_images`` caps the images each generator sees (its cost stops growing with N); ``epochs=0`` is
    the untrained generators; M ≥ N is the released schedule unchanged."""
    kw = dict(surrogate="tiny", p=3, device="cpu", progress=False, noise_size=32, ngf=8, n_blocks=1, batch_size=10)
    full = craft("uc-official", small.train, epochs=1, **kw)
    sub = craft("uc-official", small.train, epochs=1, max_images=20, **kw)
    assert full.meta["images_per_generator"] == 100 and sub.meta["images_per_generator"] == 20
    assert len(full.meta["loss_curve"]) == 3 * 10 and len(sub.meta["loss_curve"]) == 3 * 2
    assert not np.array_equal(full.delta, sub.delta)
    same = craft("uc-official", small.train, epochs=1, max_images=1000, **kw)
    assert np.array_equal(full.delta, same.delta)
    untrained = craft("uc-official", small.train, epochs=0, **kw)
    assert untrained.meta["loss_curve"] == [] and np.abs(untrained.delta).max() <= 16 / 255 + 1e-7
    assert not np.array_equal(untrained.delta, full.delta)
    with pytest.raises(ValueError, match="max_images"):
        craft("uc-official", small.train, epochs=1, max_images=0, **kw)


@pytest.mark.slow  # three 224-px generators at full width
def test_generator_patterns_are_the_untrained_official_generators(small):
    """``random_patterns(form="generator")`` is exactly ``uc-official`` with 0 epochs (same generator seeds),
    resized to the images, within ±ε and mostly saturated; ``random-cluster --opt form=generator`` uses it."""
    import torch.nn.functional as F
    import torch

    from ucs_lite.noise.patterns import generator_patterns, random_patterns

    eps = 16 / 255
    official = craft("uc-official", small.train, surrogate="tiny", p=3, device="cpu", progress=False, epochs=0,
                     noise_size=32, seed=2)
    size = small.train.images.shape[1:3]
    ours = generator_patterns(3, size, eps, seed=2, noise_size=32)
    theirs = F.interpolate(torch.from_numpy(official.delta), size=size, mode="bilinear", align_corners=False).numpy()
    assert ours.shape == (3, 3, *size) and np.array_equal(ours, theirs)
    assert np.abs(ours).max() <= eps + 1e-7 and (np.abs(ours) > 0.99 * eps).mean() > 0.5
    assert not np.array_equal(ours[0], ours[1])
    assert np.array_equal(random_patterns(3, size, eps, 2, form="generator")[:1],
                          generator_patterns(1, size, eps, seed=2))
    pert = craft("random-cluster", small.train, surrogate="tiny", p=3, device="cpu", progress=False, form="generator")
    assert pert.meta["form"] == "generator" and np.abs(pert.delta).max() <= eps + 1e-7
    with pytest.raises(ValueError, match="gray"):
        random_patterns(2, size, eps, 0, form="generator", gray=True)
