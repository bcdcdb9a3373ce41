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
