import time

import numpy as np
import pytest
import torch

from ucs_lite.cluster import cluster_metrics, extract_features, fit_clusters, purity
from ucs_lite.surrogates import SurrogateUnavailable, create_surrogate


@pytest.fixture(scope="module")
def effnet():
    return create_surrogate("imagenet:efficientnet_lite0", device="cpu")


def test_tiny_contract():
    s = create_surrogate("tiny", device="cpu")
    assert s.for_tests_only
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    f = s.encode(x)
    assert f.shape == (4, s.dim)
    f.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in s.parameters())
    s.train()
    assert not s.training  # stays frozen


@pytest.mark.slow
def test_effnet_contract(effnet):
    assert effnet.resolution == 224 and effnet.dim == 1280
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    f = effnet.encode(x)
    assert f.shape == (2, 1280)
    f.pow(2).sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in effnet.parameters())
    with pytest.raises(ValueError, match="N×3×H×W"):
        effnet.encode(torch.rand(2, 32, 32, 3))


def _imagenet_top5(s, img):
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return s.classify(x).softmax(-1)[0].topk(5)


def test_effnet_imagenet_sanity_on_real_photos(effnet):
    """scikit-image's sample photos get their ImageNet classes (weights and normalisation are right)."""
    import skimage.data

    p, idx = _imagenet_top5(effnet, skimage.data.coffee())
    assert idx[0] == 967 and p[0] > 0.6  # espresso
    p, idx = _imagenet_top5(effnet, skimage.data.chelsea())
    assert set(idx[:3].tolist()) <= {281, 282, 285, 287}  # tabby, tiger cat, Egyptian cat, lynx
    assert p[:3].sum() > 0.6


def test_clip_offline_gives_clear_error_fast(empty_hub):
    t = time.time()
    with pytest.raises(SurrogateUnavailable) as e:
        create_surrogate("clip:RN50/openai", device="cpu")
    msg = str(e.value)
    assert "imagenet:efficientnet_lite0" in msg and "checkpoint" in msg
    assert time.time() - t < 20


def test_clip_missing_checkpoint_and_unknown_names(tmp_path):
    with pytest.raises(SurrogateUnavailable, match="no checkpoint file"):
        create_surrogate(f"clip:RN50/{tmp_path}/missing.pt")
    with pytest.raises(SurrogateUnavailable, match="unknown open_clip architecture"):
        create_surrogate("clip:NoSuchNet/openai")
    with pytest.raises(SurrogateUnavailable, match="unknown surrogate"):
        create_surrogate("resnet9000")


@pytest.mark.slow
def test_clip_local_checkpoint_loads(tmp_path):
    """A local open_clip checkpoint path works offline (random weights of a real architecture)."""
    import open_clip

    m = open_clip.create_model("RN50", pretrained=None)
    path = tmp_path / "rn50.pt"
    torch.save(m.state_dict(), path)
    s = create_surrogate(f"clip:RN50/{path}", device="cpu")
    assert s.resolution == 224
    assert s.encode(torch.rand(2, 3, 32, 32)).shape == (2, 1024)
    with pytest.raises(ValueError, match="224 px only"):
        create_surrogate(f"clip:RN50/{path}", device="cpu", resolution=64)


def test_kmeans_deterministic_and_metrics():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16)) * 5
    y = np.repeat(np.arange(4), 50)
    feats = (centers[y] + rng.normal(size=(200, 16))).astype(np.float32)
    a, b = fit_clusters(feats, 4, seed=1), fit_clusters(feats, 4, seed=1)
    assert np.array_equal(a.labels, b.labels) and np.allclose(a.centroids, b.centroids)
    m = cluster_metrics(a.labels, y)
    assert m["purity"] == 1.0 and m["nmi"] > 0.99
    assert np.array_equal(a.predict(feats[:10]), a.labels[:10])
    assert purity(np.zeros(200, int), y) == 0.25
    for mode in ("none", "standardize", "pca-whiten"):
        c = fit_clusters(feats, 4, seed=0, mode=mode)
        assert cluster_metrics(c.labels, y)["purity"] == 1.0
        assert np.array_equal(c.predict(feats[:10]), c.labels[:10])
    with pytest.raises(ValueError, match="cannot make"):
        fit_clusters(feats[:3], 4)


def test_feature_cache_hit(tmp_path, sample):
    s = create_surrogate("tiny", device="cpu")
    x = sample.train.images[:40]
    f1 = extract_features(s, x, cache_dir=tmp_path, progress=False)
    files = list((tmp_path / "features").glob("*.npy"))
    assert len(files) == 1
    np.save(files[0], np.full_like(f1, 7.0))  # a hit must read the file, not recompute
    f2 = extract_features(s, x, cache_dir=tmp_path, progress=False)
    assert np.all(f2 == 7.0)
    s.resolution = 48  # another resolution is another key
    f3 = extract_features(s, x, cache_dir=tmp_path, progress=False)
    assert not np.all(f3 == 7.0) and len(list((tmp_path / "features").glob("*.npy"))) == 2


@pytest.mark.slow
def test_effnet_clusters_real_images_better_than_chance(effnet, sample):
    """K-means on real ImageNet features of 200 CIFAR images tracks the classes (NMI well above 0)."""
    sub = sample.train.balanced_subset(200, seed=0)
    effnet.resolution = 96
    try:
        feats = extract_features(effnet, sub.images, progress=False)
    finally:
        effnet.resolution = 224
    c = fit_clusters(feats, 10, seed=0)
    assert cluster_metrics(c.labels, sub.labels["fine"])["nmi"] > 0.25
    rand = np.random.default_rng(0).integers(0, 10, 200)
    assert cluster_metrics(rand, sub.labels["fine"])["nmi"] < 0.15


def test_cluster_metrics_homogeneity_and_completeness():
    """A grouping coarser than the labels is complete (each class in one group) but not homogeneous; a finer
    one is homogeneous but not complete; the values match their entropy definitions."""
    fine = np.repeat(np.arange(8), 10)  # 8 classes of 10
    coarse = fine // 4  # 2 groups, each a union of 4 classes
    split = np.arange(80) // 5  # 16 groups: each class split in two
    m = cluster_metrics(coarse, fine)
    assert m["completeness"] == pytest.approx(1.0) and m["homogeneity"] == pytest.approx(np.log(2) / np.log(8))
    m = cluster_metrics(split, fine)
    assert m["homogeneity"] == pytest.approx(1.0) and m["completeness"] == pytest.approx(np.log(8) / np.log(16))
    assert m["purity"] == 1.0


# ---------------------------------------------------------------- what the caches key on (issue 22)

def _feature_files(folder):
    return sorted((folder / "features").glob("*.npy"))


def test_feature_cache_keys_the_weights_not_the_name(tmp_path, sample):
    """Same name and resolution, other weights (e.g. a local CLIP checkpoint path whose file was replaced):
    before issue 22 the cache served the first surrogate's features for the second."""
    import ucs_lite.cluster as cluster_mod

    x = sample.train.images[:24]
    a, b = create_surrogate("tiny", device="cpu"), create_surrogate("tiny", device="cpu")
    fa = extract_features(a, x, cache_dir=tmp_path, progress=False)
    with torch.no_grad():  # other weights loaded into the same object: its remembered digest must not be reused
        b.load_state_dict({k: -v if v.is_floating_point() else v for k, v in b.state_dict().items()})
    fb = extract_features(b, x, cache_dir=tmp_path, progress=False)
    with torch.no_grad():
        direct = b.encode(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255).numpy()
    assert not np.allclose(fa, fb)
    np.testing.assert_allclose(fb, direct, rtol=1e-5, atol=1e-6)
    fresh = create_surrogate("tiny", device="cpu")
    assert cluster_mod.weights_digest(fresh) == cluster_mod.weights_digest(a) != cluster_mod.weights_digest(b)
    assert len(_feature_files(tmp_path)) == 2


def test_feature_cache_keys_the_precision(tmp_path, sample, monkeypatch):
    """Features made under bf16 autocast (CUDA on Ampere and newer) are other numbers than float32 ones; before
    issue 22 both shared one entry. Here the CPU is made to autocast to bf16 (ucs_lite.precision decides)."""
    from ucs_lite import precision

    x = sample.train.images[:24]
    s = create_surrogate("tiny", device="cpu")
    f32 = extract_features(s, x, cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(precision, "autocast_dtype", lambda device: torch.bfloat16)
    assert precision.precision_label("cpu") == "cpu-bfloat16"
    f16 = extract_features(s, x, cache_dir=tmp_path, progress=False)
    assert not np.array_equal(f16, f32)  # recomputed under bf16, not read back
    np.testing.assert_allclose(f16, f32, rtol=0.05, atol=0.05)  # ... and still the same features, roughly
    assert len(_feature_files(tmp_path)) == 2


def test_feature_cache_keys_the_code_version(tmp_path, sample, monkeypatch):
    """A change of the feature code (FEATURES_VERSION bumped) or of torch re-keys every entry."""
    import ucs_lite.cluster as cluster_mod

    x = sample.train.images[:8]
    s = create_surrogate("tiny", device="cpu")
    key = cluster_mod.feature_key(s, x)
    assert key["code"]["torch"] == torch.__version__ and key["precision"] == "cpu"
    assert key["weights"] == cluster_mod.weights_digest(s) and len(key["weights"]) == 16
    extract_features(s, x, cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(cluster_mod, "FEATURES_VERSION", cluster_mod.FEATURES_VERSION + 1)
    extract_features(s, x, cache_dir=tmp_path, progress=False)
    assert len(_feature_files(tmp_path)) == 2


def test_result_keys_carry_torch_and_scikit_learn_versions(sample):
    """Protected sets, perturbations and attacker runs made under another torch or scikit-learn (other kernels,
    another K-means) are other results: their keys record both versions."""
    import importlib.metadata as md

    from ucs_lite import cache

    small = sample.train.balanced_subset(20, seed=0)
    keys = [cache.craft_key("uc", small, device="cpu"), cache.protect_key(sample, "random-class", device="cpu"),
            cache.evaluate_key(sample, "fine", cache.AttackConfig(device="cpu"))]
    for key in keys:
        assert key["code"]["torch"] == torch.__version__
        assert key["code"]["scikit-learn"] == md.version("scikit-learn")
