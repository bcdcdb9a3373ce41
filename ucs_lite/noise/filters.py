"""Label-free forms of two constructions from the robust-poison literature, on clusters instead of classes (issue 36).

- **Convolution per cluster** (after CUDA, Sadasivan et al. CVPR 2023, which uses one random filter per *class* and
  no ℓ∞ bound): every image of cluster k is filtered by the cluster's random 3×3 kernel, the same on R, G and B,
  and δ = filtered − image, clipped to ±ε. δ depends on the image, so it is one δ per image.
- **Colour / brightness offset per cluster** (after DUNE's per-class colour offsets): a constant RGB offset per
  cluster, chosen far apart (luminance weighted, so grayscale leaves them apart); JPEG keeps each block's DC term.

Both return float32 δ within ±ε on the [0,1] pixel scale, NCHW, like the other pattern functions.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

__all__ = ["cluster_kernels", "filter_deltas", "offset_patterns"]

_LUMA = np.array([0.299, 0.587, 0.114])


def cluster_kernels(groups: int, seed: int, size: int = 3, strength: float = 1.0) -> np.ndarray:
    """One random ``size``×``size`` kernel per group (G×size×size float32) that sums to 1 (keeps brightness):
    the identity plus ``strength`` times a zero-sum random kernel with entries drawn uniformly in [−1, 1]
    (``strength`` 0 is the identity, larger values filter more)."""
    if size % 2 != 1 or size < 3:
        raise InputError(f"kernel size must be odd and ≥ 3, got {size}")
    rng = np.random.default_rng(seed)
    k = rng.uniform(-1.0, 1.0, (groups, size, size))
    k -= k.mean(axis=(1, 2), keepdims=True)
    k *= strength
    k[:, size // 2, size // 2] += 1.0
    return k.astype(np.float32)


def filter_deltas(images: np.ndarray, assignment: np.ndarray, kernels: np.ndarray, eps: float,
                  batch: int = 512) -> np.ndarray:
    """δ of every image: its cluster's kernel applied to R, G and B alike (reflect padding), minus the image,
    clipped to ±ε. ``images`` uint8 N×H×W×3, ``assignment`` (N,) ints in [0, G), ``kernels`` G×k×k.
    Returns float32 N×3×H×W within ±ε."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise InputError(f"expected uint8 N×H×W×3 images, got {images.dtype} {images.shape}")
    if len(assignment) != len(images):
        raise InputError(f"{len(assignment)} assignments for {len(images)} images")
    kt = torch.as_tensor(kernels, dtype=torch.float32)
    pad = kt.shape[-1] // 2
    out = np.empty((len(images), 3, *images.shape[1:3]), np.float32)
    for i in range(0, len(images), batch):
        x = torch.as_tensor(images[i:i + batch]).permute(0, 3, 1, 2).float() / 255  # n×3×H×W
        a = torch.as_tensor(np.asarray(assignment[i:i + batch], np.int64))
        n, c, h, w = x.shape
        xp = F.pad(x.reshape(1, n * c, h, w), (pad,) * 4, mode="reflect")
        weight = kt[a].repeat_interleave(c, 0)[:, None]  # (n·3)×1×k×k: each image's kernel on its three channels
        y = F.conv2d(xp, weight, groups=n * c).reshape(n, c, h, w).clamp(0, 1)
        out[i:i + batch] = (y - x).clamp(-eps, eps).numpy()
    return out


def offset_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, candidates: int = 4096,
                    luma_weight: float = 3.0) -> np.ndarray:
    """One constant RGB offset per group at full budget (its largest channel at ±ε), the offsets chosen greedily
    from ``candidates`` random directions to be far apart in a metric that counts the luminance difference
    ``luma_weight`` times (so grayscale, which keeps only luminance, leaves them as far apart as it can).
    G×3×H×W float32 within ±ε."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, (candidates, 3))
    c /= np.abs(c).max(1, keepdims=True)
    feat = np.concatenate([c, luma_weight * (c @ _LUMA)[:, None]], 1)
    chosen = [int(np.argmax(np.abs(c @ _LUMA)))]
    dist = np.linalg.norm(feat - feat[chosen[0]], axis=1)
    while len(chosen) < groups:
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(feat - feat[nxt], axis=1))
    rgb = (c[chosen] * eps).astype(np.float32)
    return np.broadcast_to(rgb[:, :, None, None], (groups, 3, *size)).copy()
