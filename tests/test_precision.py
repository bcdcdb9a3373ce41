"""Precision selection (ucs_lite.precision), its use by the surrogate / attacker, and chunked UC steps.

No GPU here: the CUDA branches are tested by monkeypatching what torch reports (bf16 support, free memory);
the numerics of fp16 / bf16 themselves are only exercised by benchmarks/gpu_check.py on a CUDA machine.
"""
import contextlib

import numpy as np
import pytest
import torch

import ucs_lite.attack as attack_mod
import ucs_lite.surrogates as surrogates_mod
from ucs_lite import precision
from ucs_lite.data import Bundle
from ucs_lite.noise import uc as uc_mod
from ucs_lite.noise.patterns import DeltaField
from ucs_lite.surrogates import create_surrogate


@pytest.mark.filterwarnings("ignore:CUDA is not available")
@pytest.mark.parametrize("bf16, dtype, label", [(True, torch.bfloat16, "cuda-bfloat16"),
                                                 (False, torch.float16, "cuda-float16")])
def test_cuda_dtype_follows_bf16_support(monkeypatch, bf16, dtype, label):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert precision.autocast_dtype("cuda") is dtype
    assert precision.autocast_dtype(torch.device("cuda", 0)) is dtype
    assert precision.precision_label("cuda:0") == label
    ctx = precision.autocast("cuda")
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype is dtype


def test_cpu_is_float32_whatever_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert precision.autocast_dtype("cpu") is None
    assert precision.precision_label("cpu") == "cpu"
    assert isinstance(precision.autocast("cpu"), contextlib.nullcontext)
    assert not precision.grad_scaler("cpu").is_enabled()


@pytest.mark.parametrize("bf16, enabled", [(True, False), (False, True)])
def test_grad_scaler_only_for_float16(monkeypatch, bf16, enabled):
    made = {}

    class FakeScaler:
        def __init__(self, device, enabled=True):
            made.update(device=device, enabled=enabled)

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.amp, "GradScaler", FakeScaler)
    precision.grad_scaler("cuda")
    assert made == {"device": "cuda", "enabled": enabled}


def _recording_autocast(calls):
    real = precision.autocast

    def rec(device):
        calls.append(torch.device(device).type)
        return real(device)
    return rec


def test_surrogate_and_attacker_go_through_precision(monkeypatch, sample):
    calls, scalers = [], []
    monkeypatch.setattr(surrogates_mod, "autocast", _recording_autocast(calls))
    s = create_surrogate("tiny", device="cpu")
    s.encode(torch.rand(2, 3, 32, 32))
    assert calls == ["cpu"]

    calls.clear()
    real_scaler = precision.grad_scaler
    monkeypatch.setattr(attack_mod, "autocast", _recording_autocast(calls))
    monkeypatch.setattr(attack_mod, "grad_scaler", lambda d: scalers.append(torch.device(d).type) or real_scaler(d))
    small = Bundle(sample.train.balanced_subset(40, seed=0), sample.test.balanced_subset(20, seed=0))
    r = attack_mod.evaluate(small, "fine", epochs=1, batch_size=20, device="cpu", progress=False)
    assert scalers == ["cpu"]
    assert calls.count("cpu") == 2 + 1  # two training batches + the test pass of the one epoch
    assert 0.0 <= r["test_acc_final"] <= 1.0


def test_auto_max_batch(monkeypatch):
    assert uc_mod.auto_max_batch("cpu", 224) is None
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (8 * 2**30, 16 * 2**30))
    at224 = uc_mod.auto_max_batch("cuda", 224)
    at112 = uc_mod.auto_max_batch("cuda", 112)
    assert at224 == int(0.5 * 8 * 2**30 / 60e6)            # 71 images of the assumed 60 MB at 224 px
    assert abs(at112 - 4 * at224) <= 4                       # a quarter of the pixels, ~4× the images
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (10 * 2**20, 16 * 2**30))
    assert uc_mod.auto_max_batch("cuda", 224) == 8           # never below 8


def test_chunked_step_gives_the_same_gradient():
    """One UC step: chunks of 3, 7 and 20 images vs one pass of 20 (p=4 clusters × b=5). float64 surrogate and
    field, so that the only difference (summation order) is at float64 rounding: bound 1e-12 relative."""
    torch.manual_seed(0)

    class Encoder(torch.nn.Module):  # what uc_step needs of a surrogate: encode([0,1] images) -> features
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.BatchNorm2d(8).eval(),
                                           torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())

        def encode(self, x):
            return self.net(x)

    s = Encoder().double().eval()
    p, b = 4, 5
    x = torch.rand(p * b, 3, 32, 32, dtype=torch.float64)
    anchors = torch.randn(p, 32, dtype=torch.float64)

    def grads(max_batch):
        field = DeltaField(p, (32, 32), 16 / 255, 0, form="lowfreq", lowfreq_res=8).double()
        loss = uc_mod.uc_step(field, s, x, anchors, b, (32, 32), max_batch)
        return loss, torch.cat([q.grad.flatten() for q in field.parameters()])

    loss0, g0 = grads(None)
    assert g0.abs().max() > 0
    for mb in (3, 7, 20, 64):
        loss, g = grads(mb)
        assert abs(loss - loss0) <= 1e-12 * abs(loss0)
        torch.testing.assert_close(g, g0, rtol=1e-12, atol=1e-15)


def test_chunked_and_unchunked_crafting_give_the_same_delta(small_set):
    """Whole crafting (float32, 6 Adam steps): chunked to 5 images per pass vs 24 in one pass. Bound: the δ
    agree to 1e-5 on the [0,1] scale (ε = 0.063; float32 summation order is the only difference), and the
    unchunked run is bit-identical to max_batch ≥ p·b (that path is the one-pass code)."""
    s = create_surrogate("tiny", device="cpu")
    kw = dict(p=3, eps=16 / 255, seed=0, steps=6, batch_per_cluster=8, progress=False)
    one = uc_mod.craft_uc(small_set, s, **kw)
    chunked = uc_mod.craft_uc(small_set, s, max_batch=5, **kw)
    wide = uc_mod.craft_uc(small_set, s, max_batch=24, **kw)
    assert np.array_equal(one.delta, wide.delta)
    assert np.abs(one.delta).max() > 0
    np.testing.assert_allclose(chunked.delta, one.delta, rtol=0, atol=1e-5)
    # the KL losses are tiny (~3e-5: a random surrogate), so compare them on an absolute scale
    np.testing.assert_allclose(chunked.meta["loss_curve"], one.meta["loss_curve"], rtol=0, atol=1e-8)
    assert np.array_equal(chunked.assignment, one.assignment)
