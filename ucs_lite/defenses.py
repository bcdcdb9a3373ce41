"""Countermeasures an attacker applies to (possibly protected) training data.

Data-level (applied once to the training images, uint8 in and out): ``jpeg:Q``, ``grayscale``, ``blur:σ``.
Batch-level (inside the training step): ``cutout``, ``mixup``, ``strong-aug`` (torchvision TrivialAugment, its
random draws seeded from the attacker's generator),
``adv-train:ε`` (PGD adversarial training, ε in 0–255 units, 3 steps). ``none`` does nothing.
Several combine with ``+``, e.g. ``jpeg:30+cutout``.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .data import Bundle, ImageSet

__all__ = ["apply_defense", "batch_defense", "DEFENSES", "parse_defense", "transform_images", "noise_survival"]

DEFENSES = ("none", "jpeg:Q", "grayscale", "blur:σ", "cutout", "mixup", "strong-aug", "adv-train:ε")
_DATA = ("jpeg", "grayscale", "blur")
_BATCH = ("cutout", "mixup", "strong-aug", "adv-train")


def parse_defense(spec: str) -> list[tuple[str, float | None]]:
    """``jpeg:10+cutout`` -> [("jpeg", 10.0), ("cutout", None)]; validates names and values."""
    out = []
    for part in (spec or "none").split("+"):
        name, _, val = part.strip().partition(":")
        if name == "none":
            continue
        if name not in _DATA + _BATCH:
            raise ValueError(f"unknown defense {part!r}; choose from {', '.join(DEFENSES)} (combine with +)")
        v = float(val) if val else None
        if name == "jpeg" and (v is None or not 1 <= v <= 100):
            raise ValueError("jpeg needs a quality 1..100, e.g. jpeg:10")
        if name == "blur" and (v is None or v <= 0):
            raise ValueError("blur needs σ > 0 in pixels, e.g. blur:1")
        if name == "adv-train" and (v is None or not 0 < v <= 64):
            raise ValueError("adv-train needs ε in 0–255 units, e.g. adv-train:4")
        out.append((name, v))
    if sum(n == "adv-train" for n, _ in out) + sum(n == "mixup" for n, _ in out) > 1:
        raise ValueError("combine at most one of mixup and adv-train")
    return out


def _jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    out = np.empty_like(images)
    for i, im in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def _grayscale(images: np.ndarray) -> np.ndarray:
    g = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(np.clip(g + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return np.clip(gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0)) + 0.5, 0, 255).astype(np.uint8)


def transform_images(images: np.ndarray, spec: str) -> np.ndarray:
    """The data-level part of ``spec`` (jpeg, grayscale, blur) applied to uint8 N×H×W×3 images;
    batch-level parts are ignored. Returns uint8 N×H×W×3."""
    x = images
    for name, v in parse_defense(spec):
        if name == "jpeg":
            x = _jpeg(x, int(v))
        elif name == "grayscale":
            x = _grayscale(x)
        elif name == "blur":
            x = _blur(x, float(v))
    return x


def noise_survival(clean: np.ndarray, protected: np.ndarray, spec: str) -> float:
    """How much of the added noise a data-level defense leaves in place, without training anything.

    With δ = protected − clean and D the defense, returns the mean over images of
    ⟨D(protected) − D(clean), δ⟩ / ‖δ‖²: 1 when D passes the noise unchanged, 0 when it removes it
    (a linear D that scales the noise by a gives a). Both inputs uint8 N×H×W×3 of the same shape.
    """
    if clean.shape != protected.shape:
        raise ValueError(f"clean {clean.shape} and protected {protected.shape} differ in shape")
    d = protected.astype(np.float32) - clean.astype(np.float32)
    out = transform_images(protected, spec).astype(np.float32) - transform_images(clean, spec).astype(np.float32)
    energy = (d ** 2).reshape(len(d), -1).sum(1)
    keep = energy > 0
    if not keep.any():
        raise ValueError("protected equals clean: there is no noise to measure")
    gain = (out * d).reshape(len(d), -1).sum(1)[keep] / energy[keep]
    return float(gain.mean())


def apply_defense(bundle: Bundle, spec: str, seed: int = 0) -> Bundle:
    """The bundle with data-level defenses applied to its *training* images (grayscale also to the
    test images, as an attacker who trains on grey images tests on grey ones)."""
    parts = [(n, v) for n, v in parse_defense(spec) if n in _DATA]
    if not parts:
        return bundle
    xtr = transform_images(bundle.train.images, spec)
    xte = _grayscale(bundle.test.images) if any(n == "grayscale" for n, _ in parts) else bundle.test.images
    tr = ImageSet(xtr, dict(bundle.train.labels), dict(bundle.train.class_names))
    te = ImageSet(xte, dict(bundle.test.labels), dict(bundle.test.class_names))
    return Bundle(tr, te, bundle.extras, bundle.source)


StepFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def batch_defense(spec: str, gen: torch.Generator) -> StepFn:
    """A training-step function ``(net, x_normalised, y) -> (loss, logits)`` with the batch-level
    defenses of ``spec`` (plain cross-entropy when there are none)."""
    parts = dict((n, v) for n, v in parse_defense(spec) if n in _BATCH)
    trivial = None
    if "strong-aug" in parts:
        from torchvision.transforms import v2

        trivial = v2.TrivialAugmentWide()

    def step(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if trivial is not None:  # works on uint8 images: undo the normalisation (mean .5, std .25) first
            u8 = ((x * 0.25 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
            # TrivialAugment draws from torch's global RNG: seed it from ``gen`` in a forked RNG state, so a
            # run is reproducible from its seed and the caller's global RNG is left as it was
            with torch.random.fork_rng(devices=[u8.device] if u8.device.type == "cuda" else []):
                torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
                x = (torch.stack([trivial(im) for im in u8]).float() / 255 - 0.5) / 0.25
        if "cutout" in parts:
            n, _, h, w = x.shape
            cy = torch.randint(0, h, (n,), generator=gen).to(x.device)
            cx = torch.randint(0, w, (n,), generator=gen).to(x.device)
            half = max(1, h // 4)
            yy = torch.arange(h, device=x.device)[None, :, None]
            xx = torch.arange(w, device=x.device)[None, None, :]
            hole = ((yy - cy[:, None, None]).abs() < half) & ((xx - cx[:, None, None]).abs() < half)
            x = x.masked_fill(hole[:, None], 0.0)
        if "adv-train" in parts:
            eps = parts["adv-train"] / 255 / 0.25  # in normalised units
            d = (torch.rand(x.shape, generator=gen).to(x.device) * 2 - 1) * eps
            for _ in range(3):
                d.requires_grad_(True)
                g, = torch.autograd.grad(F.cross_entropy(net(x + d), y), d)
                d = (d.detach() + eps / 2 * g.sign()).clamp(-eps, eps)
            x = x + d.detach()
        if "mixup" in parts:
            lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen))).beta(1.0, 1.0))
            perm = torch.randperm(len(x), generator=gen).to(x.device)
            out = net(lam * x + (1 - lam) * x[perm])
            loss = lam * F.cross_entropy(out, y) + (1 - lam) * F.cross_entropy(out, y[perm])
            return loss, out
        out = net(x)
        return F.cross_entropy(out, y), out

    return step
