"""Noise shapes for photos a person would publish: named strengths, luminance-only δ and texture masking.

A *construction* fixes how one cluster's δ looks on an image of any size: ``cells`` pattern cells across
each side of the image, colour (``rgb``: three independent channels — the old default, a colour
patchwork on photos; ``luma``: the same value on R, G and B, a change of lightness only;
``chroma-limited``: luma plus a colour part of at most ¼ ε), the bound ε and an optional texture mask
(δ scaled by the local contrast of the image: full strength where it is busy, down to ``mask_floor`` ×
in smooth regions such as sky or skin, where the eye catches a change first). Every construction keeps
‖δ‖∞ ≤ ε (the mask only scales δ down, resizing is bilinear, a convex combination).

:data:`STRENGTHS` names a few points of the measured visibility–protection curve
(``docs/results.md, "Photos a person would publish"``, ``benchmarks/visibility.py``); ``ucs-lite protect --input-dir`` takes one with
``--strength``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# defined in the torch-free ucs_lite.strengths (the command line's --help reads them without torch)
from ..strengths import COLOURS, DEFAULT_STRENGTH, STRENGTHS, Construction, resolve_strength
from ..errors import InputError

__all__ = ["Construction", "STRENGTHS", "DEFAULT_STRENGTH", "COLOURS", "texture_mask", "random_cells",
           "delta_to_size", "protect_images", "resolve_strength"]

#: local luminance standard deviation (0–1 scale) at which the texture mask reaches full strength
MASK_FULL_STD = 0.06


def texture_mask(img: np.ndarray, floor: float, window: int | None = None) -> np.ndarray:
    """Texture mask of one image (uint8 H×W×3): float32 H×W in [floor, 1].

    The local standard deviation of luminance (Rec. 601 weights, 0–1 scale) over a ``window``² box
    (default: 1/64 of the short side, at least 3 px, odd — a wider window spreads full-strength noise
    from an edge into the smooth sky beside it, a visible halo), divided by :data:`MASK_FULL_STD` and
    clipped to [floor, 1], then box-smoothed once more so the mask has no sharp edges of its own.
    ``floor`` 0 leaves perfectly smooth regions untouched (a floor of 0.25 left visible blocks in a dark
    sky).
    """
    from scipy.ndimage import uniform_filter

    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"texture_mask needs an H×W×3 image, got {img.shape}")
    h, w = img.shape[:2]
    if window is None:
        window = max(3, min(h, w) // 64)
        window += 1 - window % 2
    lum = (img.astype(np.float32) / 255.0) @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = uniform_filter(lum, window, mode="reflect")
    var = np.maximum(uniform_filter(lum * lum, window, mode="reflect") - mean * mean, 0)
    m = np.clip(np.sqrt(var) / MASK_FULL_STD, floor, 1.0)
    return np.clip(uniform_filter(m, window, mode="reflect"), floor, 1.0).astype(np.float32)


def random_cells(groups: int, c: Construction, seed: int) -> np.ndarray:
    """One random sign pattern per group at ``c.cells``², float32 G×3×cells×cells within ±ε, in ``c``'s
    colour mode (``chroma-limited``: ¾ ε of luma sign plus ¼ ε of independent colour signs)."""
    g = torch.Generator().manual_seed(int(seed))
    lum = torch.sign(torch.rand(groups, 1, c.cells, c.cells, generator=g) * 2 - 1).expand(-1, 3, -1, -1)
    col = torch.sign(torch.rand(groups, 3, c.cells, c.cells, generator=g) * 2 - 1)
    d = {"rgb": col, "luma": lum, "chroma-limited": 0.75 * lum + 0.25 * col}[c.colour]
    return (d * c.eps).numpy().astype(np.float32)


def delta_to_size(delta: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Cell patterns G×3×c×c -> G×3×H×W: nearest (sharp cells) where each cell covers whole pixels
    (c divides H and W), otherwise nearest to a multiple of c then area-averaged, so structure finer than
    a pixel of the target averages out as it would when a photo is shrunk."""
    d = torch.from_numpy(np.ascontiguousarray(delta, np.float32))
    c_h, c_w = d.shape[-2:]
    h, w = size
    if h % c_h == 0 and w % c_w == 0:
        return F.interpolate(d, size=size, mode="nearest").numpy()
    big = (c_h * max(1, -(-h // c_h)) * 4, c_w * max(1, -(-w // c_w)) * 4)
    return F.interpolate(F.interpolate(d, size=big, mode="nearest"), size=size, mode="area").numpy()


def protect_images(images: np.ndarray, assignment: np.ndarray, delta: np.ndarray, c: Construction,
                   batch: int = 1000) -> np.ndarray:
    """Small images (uint8 N×H×W×3, e.g. CIFAR) protected with per-group cell patterns ``delta``
    (G×3×c×c) under construction ``c``: quantise(clip(x + m(x)·δ[group], 0, 1)), uint8 N×H×W×3, with m the
    texture mask (1 without one). What the benchmark measures protection on."""
    size = images.shape[1:3]
    d = torch.from_numpy(delta_to_size(delta, size))
    out = np.empty_like(images)
    for s in range(0, len(images), batch):
        x = torch.from_numpy(images[s:s + batch]).permute(0, 3, 1, 2).float() / 255.0
        dd = d[torch.from_numpy(np.asarray(assignment[s:s + batch], np.int64))]
        if c.mask_floor is not None:
            m = np.stack([texture_mask(im, c.mask_floor) for im in images[s:s + batch]])
            dd = dd * torch.from_numpy(m)[:, None]
        out[s:s + batch] = (x + dd).clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def masked_delta(img: np.ndarray, delta: np.ndarray, floor: float, max_side: int = 1024) -> np.ndarray:
    """One photo's δ with the texture mask applied: ``delta`` (float 3×h×w, at the crafting size) resized
    bilinearly to the photo's size shrunk to at most ``max_side`` px on its long side, times the texture
    mask of the photo at that size: float32 3×h'×w' within ±ε, to be resized to the photo by
    :func:`ucs_lite.protect.apply_native`. (The mask is smooth, so computing it on a shrunk copy keeps a
    6000×4000 photo's memory bounded.)"""
    from PIL import Image

    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    hs, ws = max(1, round(h * scale)), max(1, round(w * scale))
    small = img if (hs, ws) == (h, w) else np.asarray(Image.fromarray(img).resize((ws, hs), Image.BILINEAR))
    d = F.interpolate(torch.from_numpy(np.ascontiguousarray(delta, np.float32))[None], size=(hs, ws),
                      mode="bilinear", align_corners=False)[0]
    return (d * torch.from_numpy(texture_mask(small, floor))[None]).numpy()
