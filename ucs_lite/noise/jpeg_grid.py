"""Patterns on JPEG's 8×8 grid, built to survive the two cheapest countermeasures, JPEG and grayscale (issue 24),
and the block-DCT algebra they and the countermeasure study use (:data:`BANDS`, :func:`band_parts`).

JPEG works on 8×8 blocks of luminance (Y) and subsampled chroma: at quality 10 it keeps each block's DC and a few
of its lowest DCT coefficients and little else. Grayscale keeps luminance only. A pattern that (a) is achromatic
(the same value on R, G and B, so all of it is luminance) and (b) lives on the lowest DCT coefficients of the
8×8 blocks aligned to the image's top-left corner (JPEG's grid) keeps most of its energy through both.

Every function here returns float32 G×3×H×W within ±ε (the [0,1] pixel scale), like
:func:`ucs_lite.noise.patterns.random_patterns`. H and W need not be multiples of 8: patterns are built on the
enclosing grid and cropped at the bottom/right, which keeps the blocks aligned with JPEG's.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["grid_shape", "achromatic", "dct_matrix", "zigzag_mask", "block_dct", "block_idct", "jpeg_lowpass", "fill_eps", "luma",
           "jpeg_code_patterns", "jpeg_sign_patterns", "band_parts", "BANDS", "jpeg_tile_patterns", "JPEG_KEEP"]

#: How many of each block's DCT coefficients (zigzag order: DC, (0,1), (1,0), (2,0), (1,1), (0,2), ...) a robust
#: pattern uses. At quality 10 the luminance quantisation steps of the first six are 80, 55, 60, 70, 60, 50 (the
#: standard table ×5) against ~90–128 for a ±16/255 pattern concentrated on one coefficient.
JPEG_KEEP = 6
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def dct_matrix(n: int = 8) -> np.ndarray:
    """The orthonormal DCT-II matrix C (n×n, float64): coefficients of a block B are C·B·Cᵀ (JPEG's transform)."""
    u = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos((2 * x + 1) * u * np.pi / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


def _zigzag_order(n: int = 8) -> list[tuple[int, int]]:
    """The n×n coefficient positions (row, column) in JPEG's zigzag order."""
    return sorted(((u, v) for u in range(n) for v in range(n)),
                  key=lambda t: (t[0] + t[1], t[1] if (t[0] + t[1]) % 2 else t[0]))


def zigzag_mask(keep: int, n: int = 8) -> np.ndarray:
    """Boolean n×n mask of the first ``keep`` coefficients in JPEG's zigzag order (1 ≤ keep ≤ n²)."""
    if not 1 <= keep <= n * n:
        raise InputError(f"keep must be in 1..{n * n}, got {keep}")
    m = np.zeros((n, n), bool)
    for u, v in _zigzag_order(n)[:keep]:
        m[u, v] = True
    return m


def _blocks(x: np.ndarray, n: int) -> np.ndarray:
    """(..., H, W) with H, W multiples of n -> (..., H/n, W/n, n, n)."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // n, n, w // n, n).swapaxes(-3, -2)


def _unblocks(b: np.ndarray) -> np.ndarray:
    *lead, bh, bw, n, _ = b.shape
    return b.swapaxes(-3, -2).reshape(*lead, bh * n, bw * n)


def block_dct(x: np.ndarray, n: int = 8) -> np.ndarray:
    """Per-block DCT of (..., H, W) (H, W multiples of n) -> (..., H/n, W/n, n, n) coefficients."""
    c = dct_matrix(n)
    return c @ _blocks(np.asarray(x, np.float64), n) @ c.T


def block_idct(coef: np.ndarray) -> np.ndarray:
    """Inverse of :func:`block_dct`: (..., H/n, W/n, n, n) -> (..., H, W) float64."""
    c = dct_matrix(coef.shape[-1])
    return _unblocks(c.T @ coef @ c)


def jpeg_lowpass(x: np.ndarray, keep: int = JPEG_KEEP, n: int = 8) -> np.ndarray:
    """Projection of (..., H, W) (multiples of n) onto the first ``keep`` zigzag DCT coefficients of every n×n
    block: the part of a pattern JPEG at low quality keeps. Same shape, float64."""
    return block_idct(block_dct(x, n) * zigzag_mask(keep, n))


def fill_eps(p: np.ndarray, eps: float, quantile: float = 0.95) -> np.ndarray:
    """Scale each group's pattern (G×...) so that its ``quantile`` of |value| is ε, then clip to ±ε: uses the
    budget without turning a smooth pattern into a sign pattern (only the top 1 − quantile saturate)."""
    g = p.reshape(len(p), -1)
    s = np.quantile(np.abs(g), quantile, axis=1)
    s = np.where(s > 0, s, 1.0)
    return np.clip(p / s.reshape(-1, *([1] * (p.ndim - 1))) * eps, -eps, eps)


def luma(delta: np.ndarray) -> np.ndarray:
    """G×3×H×W -> G×H×W luminance (ITU-R BT.601 weights, as JPEG and :func:`ucs_lite.defenses._grayscale`)."""
    return np.tensordot(_LUMA, np.asarray(delta, np.float32), axes=([0], [1]))


def grid_shape(size: tuple[int, int], n: int = 8) -> tuple[int, int]:
    return (-(-size[0] // n) * n, -(-size[1] // n) * n)


def achromatic(y: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """G×H'×W' -> G×3×H×W float32 (cropped to ``size`` at the bottom/right, the same value on every channel)."""
    y = y[:, : size[0], : size[1]].astype(np.float32)
    return np.repeat(y[:, None], 3, axis=1)


def jpeg_code_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, keep: int = JPEG_KEEP,
                       quantile: float = 0.95) -> np.ndarray:
    """One random achromatic code per group on JPEG's kept subspace: Gaussian coefficients on the first ``keep``
    zigzag DCT positions of every 8×8 block, back to pixels, scaled with :func:`fill_eps`. G×3×H×W within ±ε."""
    h, w = grid_shape(size)
    rng = np.random.default_rng(int(seed))
    coef = rng.standard_normal((groups, h // 8, w // 8, 8, 8)) * zigzag_mask(keep)
    return achromatic(fill_eps(block_idct(coef), eps, quantile), size)


def _ac_mask(keep: int, mirror: bool = False) -> np.ndarray:
    """8×8 mask of ``keep − 1`` AC coefficients (no DC) in zigzag order: the lowest ones, or with ``mirror`` the
    lowest ones of even horizontal frequency — the cosines a left-right flip of the block leaves unchanged."""
    ac = [uv for uv in _zigzag_order()[1:] if not mirror or uv[1] % 2 == 0][: keep - 1]
    mask = np.zeros((8, 8), bool)
    for u, v in ac:
        mask[u, v] = True
    return mask


def _ac_sign_code(groups: int, bh: int, bw: int, eps: float, seed: int, keep: int, mirror: bool = False) -> np.ndarray:
    """±ε sign of a random code on ``keep − 1`` low AC coefficients (:func:`_ac_mask`; no DC), one code per 8×8
    block of a ``bh`` × ``bw`` grid: G×(8·bh)×(8·bw)."""
    rng = np.random.default_rng(int(seed))
    coef = rng.standard_normal((groups, bh, bw, 8, 8)) * _ac_mask(keep, mirror)
    return np.where(block_idct(coef) >= 0, eps, -eps)


def jpeg_sign_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, keep: int = JPEG_KEEP) -> np.ndarray:
    """The sign of a random achromatic code on the lowest ``keep`` zigzag DCT coefficients of each 8×8 block
    *without* the DC (images carry most of their energy there): every pixel at ±ε, so the low-frequency part JPEG
    keeps is as large as the bound allows. G×3×H×W within ±ε."""
    h, w = grid_shape(size)
    return achromatic(_ac_sign_code(groups, h // 8, w // 8, eps, seed, keep), size)


def shift_similarity(tiles: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """Largest correlation over the 8×8 cyclic shifts between tiles (A×8×8) and ``others`` (B×8×8; default the
    tiles themselves): A×B, in [-1, 1] for ±1 tiles. A convolution sees a repeated tile the same way at any
    shift, so two tiles close to each other up to a shift are nearly one texture to an attacker."""
    others = tiles if others is None else others
    shifted = np.stack([np.roll(others, (dy, dx), axis=(-2, -1)) for dy in range(8) for dx in range(8)], 1)
    a = tiles.reshape(len(tiles), -1).astype(np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = shifted.reshape(len(others), 64, -1).astype(np.float64)
    b = b / np.linalg.norm(b, axis=2, keepdims=True)
    return np.einsum("ik,jsk->ijs", a, b).max(-1)


def _distinct(candidates: np.ndarray, groups: int) -> np.ndarray:
    """``groups`` of the candidate tiles (C×8×8), chosen greedily so that each new one is the least similar to
    those already chosen (:func:`shift_similarity`), starting from the first."""
    sim = shift_similarity(candidates)
    chosen = [0]
    while len(chosen) < groups:
        worst = sim[:, chosen].max(1)
        worst[chosen] = np.inf
        chosen.append(int(np.argmin(worst)))
    return candidates[chosen]


def jpeg_tile_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, keep: int = JPEG_KEEP,
                       mirror: bool = False, distinct: int = 0) -> np.ndarray:
    """One 8×8 achromatic tile per group, repeated over JPEG's grid: the sign (±ε) of a random code on the lowest
    ``keep`` zigzag DCT coefficients without the DC. Unlike :func:`jpeg_sign_patterns` (a different code in every
    block) the pattern is stationary — the same 8-px texture everywhere — so an attacker's random crops shift it
    without changing what a convolution sees. With ``mirror`` the code uses only cosines of even horizontal
    frequency, so the tile is its own left-right mirror image and a flipped training image (the attacker's other
    augmentation) carries the same texture. With ``distinct`` = C > ``groups`` the tiles are chosen from C random
    candidates to be far apart up to a shift (:func:`_distinct`). G×3×H×W within ±ε."""
    h, w = grid_shape(size)
    if distinct:
        if distinct < groups:
            raise InputError(f"distinct needs at least as many candidates as groups ({groups}), got {distinct}")
        tile = _distinct(_ac_sign_code(distinct, 1, 1, eps, seed, keep, mirror), groups)
    else:
        tile = _ac_sign_code(groups, 1, 1, eps, seed, keep, mirror)  # G×8×8
    return achromatic(np.tile(tile, (1, h // 8, w // 8)), size)


#: the four orthogonal parts :func:`band_parts` splits a δ into (JPEG's 8×8 grid, zigzag order)
BANDS = ("luma DC", "luma AC 1-5", "luma AC 6-63", "chroma")


def band_parts(d: np.ndarray) -> dict[str, np.ndarray]:
    """Split δ (float N×H×W×3 on any pixel scale, H and W multiples of 8) into the four orthogonal parts of
    :data:`BANDS`, which sum to it: its achromatic part (the channel mean, the same on R, G and B) on each 8×8
    block's DC, on the next five zigzag DCT coefficients and on the other 58, and its chromatic rest (zero-sum
    over the channels). Each part has δ's shape (float64)."""
    a = d.mean(-1)
    coef = block_dct(a)
    dc, low = zigzag_mask(1), zigzag_mask(6)
    masks = {"luma DC": dc, "luma AC 1-5": low & ~dc, "luma AC 6-63": ~low}
    parts = {k: np.repeat(block_idct(coef * m)[..., None], 3, axis=-1) for k, m in masks.items()}
    parts["chroma"] = d - a[..., None]
    return parts
