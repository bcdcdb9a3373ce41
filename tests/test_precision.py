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
        def __init__(self, device, enabled=True, **kw):
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
    # the KL losses are tiny (~3e-5: a random surrogate) and come out of a difference of O(1) float32
    # log-probabilities, so their rounding is absolute, ~1e-7 (1e-8 held at one thread, not at two)
    np.testing.assert_allclose(chunked.meta["loss_curve"], one.meta["loss_curve"], rtol=0, atol=2e-7)
    assert np.array_equal(chunked.assignment, one.assignment)


# ---------------------------------------------------------------- loss scaling and the official schedule (issue 22)

class _Overflowing(torch.nn.Module):
    """The tiny surrogate in float32, whose feature gradient turns infinite on the chosen calls of ``encode``:
    what an fp16 overflow in the backward pass looks like to the optimiser."""

    def __init__(self, bad_calls):
        super().__init__()
        self.base = create_surrogate("tiny", device="cpu")
        self.name, self.resolution, self.dim = "tiny", self.base.resolution, self.base.dim
        self.bad, self.calls = set(bad_calls), 0

    @property
    def device(self):
        return self.base.device

    def encode(self, x):
        self.calls += 1
        f = self.base.backbone(self.base.preprocess(x.to(self.device)))
        if self.calls in self.bad:
            f.register_hook(lambda g: g * float("inf"))
        return f


def _float16_everywhere(monkeypatch):
    """Make ucs_lite.precision answer as on a T4 (float16 autocast) for the CPU too."""
    monkeypatch.setattr(precision, "autocast_dtype", lambda device: torch.float16)


def test_uc_steps_skip_a_non_finite_gradient_under_float16(monkeypatch, small_set):
    """Before issue 22: a static loss scale of 1024, no check: one overflowing step made δ NaN. Now the UC
    scaler (precision.uc_grad_scaler) skips that step and δ stays finite and trained."""
    _float16_everywhere(monkeypatch)
    kw = dict(p=3, eps=16 / 255, seed=0, batch_per_cluster=4, progress=False)
    s = _Overflowing(bad_calls={3})  # call 1: clustering features; calls 2..: steps 0..; step 1 overflows
    out = uc_mod.craft_uc(small_set, s, steps=5, **kw)
    untrained = uc_mod.craft_uc(small_set, _Overflowing(()), steps=0, **kw)
    assert np.isfinite(out.delta).all()
    assert np.abs(out.delta - untrained.delta).max() > 1e-4  # the other steps still moved δ
    assert np.isfinite(out.meta["loss_curve"]).all()
    scaler = precision.uc_grad_scaler("cpu")
    assert scaler.is_enabled() and scaler.get_scale() == precision.UC_INIT_SCALE


def test_official_schedule_skips_a_non_finite_gradient_under_float16(monkeypatch, small_set):
    """Before issue 22 craft_uc_official ran its float16 backward unscaled and unchecked: δ became NaN."""
    _float16_everywhere(monkeypatch)
    kw = dict(p=2, eps=16 / 255, seed=0, epochs=2, batch_size=30, noise_size=32, ngf=8, n_blocks=1, progress=False)
    out = uc_mod.craft_uc_official(small_set, _Overflowing(bad_calls={3}), **kw)
    assert np.isfinite(out.delta).all() and np.abs(out.delta).max() > 0


def test_uc_crafting_takes_its_scaler_from_precision(monkeypatch, small_set):
    """Every UC schedule asks ucs_lite.precision for its scaler, once per optimiser (uc: one; official: one
    per generator), and steps through precision.optimizer_step."""
    made, steps = [], []
    real_scaler, real_step = precision.uc_grad_scaler, precision.optimizer_step
    monkeypatch.setattr(uc_mod, "uc_grad_scaler", lambda d: made.append(torch.device(d).type) or real_scaler(d))
    monkeypatch.setattr(uc_mod, "optimizer_step", lambda sc, opt: steps.append(1) or real_step(sc, opt))
    s = create_surrogate("tiny", device="cpu")
    uc_mod.craft_uc(small_set, s, p=3, steps=2, batch_per_cluster=4, progress=False)
    assert made == ["cpu"] and len(steps) == 2
    made.clear(); steps.clear()
    uc_mod.craft_uc_official(small_set, s, p=2, epochs=1, batch_size=30, noise_size=32, ngf=8, n_blocks=1,
                             progress=False)
    assert made == ["cpu", "cpu"] and len(steps) == 2 * 2  # 2 generators × 2 batches of 30


def test_official_schedule_chunked_equals_unchunked(small_set):
    """The released schedule under a memory budget: batches of 24 images encoded in chunks of 5 (and 24, the
    one-pass code) vs one pass. float32; bound: δ within 1e-4 on the [0,1] scale (ε = 0.063, one 8-bit level
    0.0039): Adam divides each gradient element by its own magnitude, so where a gradient is near zero float32
    summation order can become a difference of up to its step size (lr = 1e-4); losses within 2e-7 absolute
    (float32 rounding of a KL of O(1) log-probabilities); max_batch ≥ the batch is bit-identical to no limit."""
    s = create_surrogate("tiny", device="cpu")
    kw = dict(p=2, eps=16 / 255, seed=0, epochs=2, batch_size=24, noise_size=32, ngf=8, n_blocks=1, progress=False)
    one = uc_mod.craft_uc_official(small_set, s, **kw)
    chunked = uc_mod.craft_uc_official(small_set, s, max_batch=5, **kw)
    wide = uc_mod.craft_uc_official(small_set, s, max_batch=24, **kw)
    assert np.array_equal(one.delta, wide.delta)
    assert np.abs(one.delta).max() > 0
    np.testing.assert_allclose(chunked.delta, one.delta, rtol=0, atol=1e-4)
    assert np.median(np.abs(chunked.delta - one.delta)) < 1e-6  # most elements agree far closer
    np.testing.assert_allclose(chunked.meta["loss_curve"], one.meta["loss_curve"], rtol=0, atol=2e-7)


def test_official_step_chunked_gives_the_same_gradient():
    """One step of the released schedule in float64: chunks of 3 and 7 of 20 images vs one pass (1e-12 relative)."""
    torch.manual_seed(0)
    from ucs_lite.noise.patterns import seeded_generator

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
                                           torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())

        def encode(self, x):
            return self.net(x)

    s = Encoder().double().eval()
    x = torch.rand(20, 3, 16, 16, dtype=torch.float64)
    target = torch.randn(32, dtype=torch.float64)

    def grads(max_batch):
        gen = seeded_generator(0, 0, 24, 16 / 255, ngf=4, n_blocks=1).double()
        loss = uc_mod.official_step(gen, s, x, target, 24, max_batch)
        return loss, torch.cat([q.grad.flatten() for q in gen.parameters() if q.grad is not None])

    loss0, g0 = grads(None)
    assert g0.abs().max() > 0
    for mb in (3, 7):
        loss, g = grads(mb)
        assert abs(loss - loss0) <= 1e-12 * abs(loss0)
        torch.testing.assert_close(g, g0, rtol=1e-10, atol=1e-14)
