"""Shared fixtures. Tests run offline (HF_HUB_OFFLINE=1) on the CPU with 1–2 threads."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from ucs_lite.data import Bundle, ImageSet, find_shared_bundle, load_sample

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test session gets its own feature/result cache (no cross-talk with a user's cache)."""
    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def sample() -> Bundle:
    return load_sample()


@pytest.fixture(scope="session")
def shared_path():
    p = find_shared_bundle()
    if p is None:
        pytest.skip("../shared/data/cifar10_subset.npz is not on this machine (CI has it)")
    return p


@pytest.fixture
def small_set() -> ImageSet:
    """60 random 32×32 images, 3 fine classes, 2 coarse."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    y = np.repeat(np.arange(3), 20)
    return ImageSet(x, {"fine": y, "coarse": (y > 0).astype(np.int64)}, {"fine": ["a", "b", "c"], "coarse": ["x", "y"]})


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (cheap, and steadier timing on a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """Model hubs pointed at an empty temporary folder, offline: a test sees what a fresh machine sees,
    whatever weights this machine has cached."""
    import huggingface_hub.constants as hc

    hub = tmp_path / "empty_hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "UCS_LITE_CLIP_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(hub))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    return hub
