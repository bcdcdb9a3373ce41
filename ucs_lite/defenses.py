"""Countermeasures an attacker applies to (possibly protected) training data.

Data-level (applied once to the training images, uint8 in and out): ``jpeg:Q``, ``grayscale``, ``blur:σ``,
``down:s`` (resize by 0 < s < 1, as an upload site does; the following data-level steps see the small image, and the
result is scaled back to the original size for training). ``down:0.5+jpeg:75`` is an ordinary photo upload.
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
from .errors import InputError

__all__ = ["apply_defense", "batch_defense", "random_crop_flip", "DEFENSES", "parse_defense", "transform_images", "noise_survival",
           "jpeg_tables", "jpeg_torch", "grayscale_torch", "differentiable_defense"]

DEFENSES = ("none", "jpeg:Q", "grayscale", "blur:σ", "down:s", "cutout", "mixup", "strong-aug", "adv-train:ε")
_DATA = ("jpeg", "grayscale", "blur", "down")
_BATCH = ("cutout", "mixup", "strong-aug", "adv-train")


def parse_defense(spec: str) -> list[tuple[str, float | None]]:
    """``jpeg:10+cutout`` -> [("jpeg", 10.0), ("cutout", None)]; validates names and values."""
    out = []
    for part in (spec or "none").split("+"):
        name, _, val = part.strip().partition(":")
        if name == "none":
            continue
        if name not in _DATA + _BATCH:
            raise InputError(f"unknown defense {part!r}; choose from {', '.join(DEFENSES)} (combine with +)")
        v = float(val) if val else None
        if name == "jpeg" and (v is None or not 1 <= v <= 100):
            raise InputError("jpeg needs a quality 1..100, e.g. jpeg:10")
        if name == "blur" and (v is None or v <= 0):
            raise InputError("blur needs σ > 0 in pixels, e.g. blur:1")
        if name == "down" and (v is None or not 0 < v < 1):
            raise InputError("down needs a scale 0 < s < 1, e.g. down:0.5 (half the width and height)")
        if name == "adv-train" and (v is None or not 0 < v <= 64):
            raise InputError("adv-train needs ε in 0–255 units, e.g. adv-train:4")
        out.append((name, v))
    if sum(n == "adv-train" for n, _ in out) + sum(n == "mixup" for n, _ in out) > 1:
        raise InputError("combine at most one of mixup and adv-train")
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


def _resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 N×H×W×3 -> uint8 N×h×w×3 (``size`` = (h, w)), Pillow's bicubic (antialiased when shrinking)."""
    from PIL import Image

    h, w = size
    out = np.empty((len(images), h, w, 3), np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BICUBIC))
    return out


def transform_images(images: np.ndarray, spec: str) -> np.ndarray:
    """The data-level part of ``spec`` (jpeg, grayscale, blur, down) applied in order to uint8 N×H×W×3 images;
    batch-level parts are ignored. A ``down:s`` step shrinks the images for the steps after it; the result is
    resized back to H×W (what an attacker who trains at the test size does). Returns uint8 N×H×W×3."""
    x = images
    for name, v in parse_defense(spec):
        if name == "jpeg":
            x = _jpeg(x, int(v))
        elif name == "grayscale":
            x = _grayscale(x)
        elif name == "blur":
            x = _blur(x, float(v))
        elif name == "down":
            x = _resize(x, (max(1, round(x.shape[1] * v)), max(1, round(x.shape[2] * v))))
    if x.shape[1:3] != images.shape[1:3]:
        x = _resize(x, images.shape[1:3])
    return x


# ---------------------------------------------------------------- differentiable forms (for crafting through them)

#: The example quantisation tables of the JPEG standard (ITU-T T.81, Annex K.1 luminance, K.2 chrominance), which
#: libjpeg (and so PIL) scales by the quality setting.
_Q_LUMA = np.array([[16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
                    [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
                    [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
                    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], np.float64)
_Q_CHROMA = np.full((8, 8), 99.0)
_Q_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def jpeg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The luminance and chrominance quantisation steps (8×8 float64 each) libjpeg uses at ``quality`` 1..100:
    the standard tables scaled by 5000/q (q < 50) or 200 − 2q, rounded, kept within 1..255 (baseline JPEG).
    At quality 10 the luminance DC step is 80."""
    if not 1 <= quality <= 100:
        raise InputError(f"JPEG quality must be in 1..100, got {quality}")
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip(np.floor((t * scale + 50) / 100), 1, 255) for t in (_Q_LUMA, _Q_CHROMA))


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """Rounding whose gradient is the identity's (straight-through): the forward pass is exact."""
    return x + (torch.round(x) - x).detach()


def _dct8(device, dtype) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64)
    c = torch.cos((2 * k[None, :] + 1) * k[:, None] * torch.pi / 16) * (2 / 8) ** 0.5
    c[0] /= 2 ** 0.5
    return c.to(device=device, dtype=dtype)


def _quantise_plane(p: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    """One JPEG plane through its codec: N×h×w (multiples of 8, 0–255 scale) -> the decoded plane, with the
    8×8 DCT coefficients of each block rounded to multiples of ``table`` (straight-through)."""
    n, h, w = p.shape
    c = _dct8(p.device, p.dtype)
    q = torch.as_tensor(table, dtype=p.dtype, device=p.device)
    b = (p - 128).reshape(n, h // 8, 8, w // 8, 8).transpose(2, 3)
    coef = c @ b @ c.T
    b = c.T @ (_round_ste(coef / q) * q) @ c
    return b.transpose(2, 3).reshape(n, h, w) + 128


def jpeg_torch(x: torch.Tensor, quality: int) -> torch.Tensor:
    """A differentiable JPEG round trip of float N×3×H×W images in [0,1] (same shape and range out): JFIF
    YCbCr, 4:2:0 chroma (2×2 means), 8×8 DCT quantised with :func:`jpeg_tables` (rounding straight-through),
    chroma upsampled bilinearly, RGB rounded to 8 bits. It follows PIL's encoder closely, not bit for bit
    (libjpeg's integer DCT and its chroma upsampling differ by a few levels; ``tests/test_defenses.py``
    bounds the gap)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"expected N×3×H×W images, got shape {tuple(x.shape)}")
    luma_q, chroma_q = jpeg_tables(int(quality))
    n, _, h, w = x.shape
    v = F.pad(x.clamp(0, 1) * 255, (0, (-w) % 16, 0, (-h) % 16), mode="replicate")
    r, g, b = v.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = F.avg_pool2d((-0.168736 * r - 0.331264 * g + 0.5 * b + 128)[:, None], 2)[:, 0]
    cr = F.avg_pool2d((0.5 * r - 0.418688 * g - 0.081312 * b + 128)[:, None], 2)[:, 0]
    y = _quantise_plane(y, luma_q)
    up = [F.interpolate(_quantise_plane(p, chroma_q)[:, None], scale_factor=2, mode="bilinear",
                        align_corners=False)[:, 0] - 128 for p in (cb, cr)]
    rgb = torch.stack([y + 1.402 * up[1], y - 0.344136 * up[0] - 0.714136 * up[1], y + 1.772 * up[0]], 1)
    return _round_ste(rgb[..., :h, :w].clamp(0, 255)) / 255


def grayscale_torch(x: torch.Tensor) -> torch.Tensor:
    """Differentiable form of ``grayscale`` (ITU-R 601 luminance on all three channels, 8-bit rounded
    straight-through): float N×3×H×W in [0,1] -> same shape."""
    g = torch.tensordot(torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device), x.clamp(0, 1),
                        dims=([0], [1]))
    return (_round_ste(g * 255) / 255)[:, None].expand(-1, 3, -1, -1)


def differentiable_defense(spec: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The data-level countermeasures of ``spec`` as one differentiable function of float N×3×H×W images in
    [0,1], in ``spec``'s order (``grayscale+jpeg:10``: grayscale, then JPEG) — what crafting *through* a
    countermeasure optimises against. Only ``none``, ``jpeg:Q`` and ``grayscale`` have such a form here;
    anything else raises ValueError."""
    steps = []
    for name, v in parse_defense(spec):
        if name == "jpeg":
            steps.append(lambda t, q=int(v): jpeg_torch(t, q))
        elif name == "grayscale":
            steps.append(grayscale_torch)
        else:
            raise InputError(f"{name!r} has no differentiable form; use none, jpeg:Q or grayscale (combine with +)")

    def run(x: torch.Tensor) -> torch.Tensor:
        for f in steps:
            x = f(x)
        return x

    return run


def noise_survival(clean: np.ndarray, protected: np.ndarray, spec: str) -> float:
    """How much of the added noise a data-level defense leaves in place, without training anything.

    With δ = protected − clean and D the defense, returns the mean over images of
    ⟨D(protected) − D(clean), δ⟩ / ‖δ‖²: 1 when D passes the noise unchanged, 0 when it removes it
    (a linear D that scales the noise by a gives a). Both inputs uint8 N×H×W×3 of the same shape.
    """
    if clean.shape != protected.shape:
        raise InputError(f"clean {clean.shape} and protected {protected.shape} differ in shape")
    d = protected.astype(np.float32) - clean.astype(np.float32)
    out = transform_images(protected, spec).astype(np.float32) - transform_images(clean, spec).astype(np.float32)
    energy = (d ** 2).reshape(len(d), -1).sum(1)
    keep = energy > 0
    if not keep.any():
        raise InputError("protected equals clean: there is no noise to measure")
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


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """The attacker's standard augmentation (every attacker trains with it; crafting through it is
    ``craft_em(augment=True)``): a random crop with zero padding ``pad`` and a random horizontal flip of a batch
    N×3×H×W, one draw per image from ``gen``, without a Python loop over images. Same shape out."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # n×h
    cols = (dx[:, None] + torch.arange(w)[None]).to(x.device)  # n×w
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # n×h×w×c
    return out.permute(0, 3, 1, 2)


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
