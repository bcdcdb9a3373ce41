"""Image-quality and noise-bound metrics. Images: uint8 N×H×W×3 or float [0,1] N×3×H×W."""
from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["psnr", "ssim", "max_abs_diff", "check_linf", "accuracy", "removed", "removed_reason", "worst_removed",
           "visibility", "delta_e_map", "JND_DE2000", "REMOVED_MIN_HEADROOM"]


def _as_float_nhwc(x) -> np.ndarray:
    """uint8 NHWC -> float64 NHWC in [0,1]; float NCHW torch/numpy in [0,1] -> float64 NHWC."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if x.ndim == 4 and x.shape[1] == 3 and x.shape[-1] != 3:
        x = x.transpose(0, 2, 3, 1)
    return x.astype(np.float64)


def psnr(clean, protected) -> float:
    """Mean over images of PSNR in dB (peak 1.0); ``inf`` for identical images is capped at 100."""
    a, b = _as_float_nhwc(clean), _as_float_nhwc(protected)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    vals = np.where(mse == 0, 100.0, 10 * np.log10(1.0 / np.maximum(mse, 1e-20)))
    return float(vals.mean())


def ssim(clean, protected, max_images: int | None = 2000, seed: int = 0) -> float:
    """Mean SSIM (scikit-image, colour, data range 1) over images, on a seeded sample of at most
    ``max_images`` images when there are more (SSIM is a per-image average)."""
    from skimage.metrics import structural_similarity

    a, b = _as_float_nhwc(clean), _as_float_nhwc(protected)
    idx = np.arange(len(a))
    if max_images is not None and len(a) > max_images:
        idx = np.sort(np.random.default_rng(seed).choice(len(a), max_images, replace=False))
    win = min(7, a.shape[1], a.shape[2])
    win -= 1 - win % 2  # odd window
    if win < 3:
        return float(np.mean([1.0 - np.abs(a[i] - b[i]).mean() for i in idx]))
    return float(np.mean([structural_similarity(a[i], b[i], channel_axis=-1, data_range=1.0, win_size=win)
                          for i in idx]))


def max_abs_diff(clean: np.ndarray, protected: np.ndarray, chunk: int = 1 << 22) -> int:
    """Largest |protected − clean| over all uint8 pixels (0–255), in chunks of ``chunk`` values (so a
    6000×4000 photo needs a few MB of scratch, not three int16 copies of itself)."""
    if clean.shape != protected.shape:
        raise InputError(f"shapes differ: {clean.shape} vs {protected.shape}")
    a, b = np.ravel(clean), np.ravel(protected)
    m = 0
    for s in range(0, a.size, chunk):
        m = max(m, int(np.abs(b[s:s + chunk].astype(np.int16) - a[s:s + chunk].astype(np.int16)).max()))
    return m


def check_linf(clean: np.ndarray, protected: np.ndarray, eps: float) -> int:
    """Assert the uint8 L∞ bound: |protected − clean| ≤ ε·255 + 1 everywhere (quantisation slack).

    ``eps`` is on the [0,1] scale (16/255 for the paper). Returns the measured maximum (0–255).
    """
    m = max_abs_diff(clean, protected)
    if m > eps * 255 + 1:
        raise AssertionError(f"L∞ bound broken: max |δ| = {m}/255 > ε·255 + 1 = {eps * 255 + 1:.2f}")
    return m


def accuracy(logits, labels) -> float:
    """Top-1 accuracy of logits N×C against int labels (N,)."""
    return float((logits.argmax(1) == labels).float().mean())


#: Smallest clean − chance (absolute accuracy) for which :func:`removed` is defined. Below it the denominator is
#: of the size of the test-set noise (one test image of 1,000 is 0.001; an attacker seed moves accuracy by ~0.01
#: on the embedded sample), so the ratio is noise and can reach any value — a clean attacker that has barely
#: learnt (``-p epochs 2``, a tiny subset) left nothing measurable to remove. 0.02 is twice that seed spread.
REMOVED_MIN_HEADROOM = 0.02


def removed_reason(clean: float, protected: float, chance: float) -> str | None:
    """Why :func:`removed` of these accuracies is NaN (one line), or None when it is defined."""
    vals = {"clean": clean, "protected": protected, "chance": chance}
    missing = [k for k, v in vals.items() if v is None or not np.isfinite(float(v))]
    if missing:
        return f"removed undefined: {', '.join(missing)} accuracy is not a number (run missing or failed)"
    headroom = float(clean) - float(chance)
    if headroom < REMOVED_MIN_HEADROOM:
        return (f"removed undefined: clean − chance = {headroom:.3f} is below the floor of {REMOVED_MIN_HEADROOM} "
                "(the clean attacker barely beat chance: train it longer or on more images)")
    return None


def removed(clean: float, protected: float, chance: float) -> float:
    """Chance-normalised protection: ``(clean − protected) / (clean − chance)``.

    ``clean`` and ``protected`` are the attacker's test accuracies (same view, same attacker) after training
    on clean and on protected images; ``chance`` the view's majority rate. 1 = the attacker learnt nothing
    usable (chance level), 0 = as good as on clean data; negative when the noise helped, above 1 when the
    attacker ends below chance. NaN (undefined) when ``clean − chance`` is below :data:`REMOVED_MIN_HEADROOM`
    (nothing measurable to remove) or an input is NaN; :func:`removed_reason` says which.
    """
    if removed_reason(clean, protected, chance):
        return float("nan")
    clean, protected, chance = float(clean), float(protected), float(chance)
    return (clean - protected) / (clean - chance)


def worst_removed(clean, protected, chance) -> float:
    """The smallest :func:`removed` over paired runs (e.g. attacker seeds): ``clean``, ``protected``, ``chance``
    are equal-length sequences (or scalars, broadcast). No seed is dropped: if any pair's :func:`removed` is
    NaN (a missing run, or a clean run within :data:`REMOVED_MIN_HEADROOM` of chance), the worst case is unknown
    and the result is NaN; ask :func:`removed_reason` of that pair why."""
    c, p, h = np.broadcast_arrays(np.atleast_1d(np.asarray(clean, float)), np.atleast_1d(np.asarray(protected, float)),
                                  np.atleast_1d(np.asarray(chance, float)))
    vals = np.array([removed(a, b, z) for a, b, z in zip(c, p, h)])
    return float(vals.min()) if len(vals) and np.isfinite(vals).all() else float("nan")


# ---------------------------------------------------------------- visibility of a protected photo

#: CIEDE2000 difference usually taken as just noticeable (Sharma et al. 2005 / Mahy et al. 1994: ΔE ≈ 2.3).
JND_DE2000 = 2.3


def _strip_lab(img: np.ndarray) -> np.ndarray:
    """uint8 h×W×3 sRGB -> CIELAB (D65) float64 h×W×3 (scikit-image)."""
    from skimage.color import rgb2lab

    return rgb2lab(img.astype(np.float64) / 255.0)


def delta_e_map(clean: np.ndarray, protected: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference per pixel (float32 H×W) of two uint8 H×W×3 sRGB images (scikit-image
    ``rgb2lab`` + ``deltaE_ciede2000``). For small images; :func:`visibility` works in strips."""
    from skimage.color import deltaE_ciede2000

    return deltaE_ciede2000(_strip_lab(clean), _strip_lab(protected), channel_axis=-1).astype(np.float32)


def visibility(clean: np.ndarray, protected: np.ndarray, rows: int | None = None, block: int | None = None) -> dict:
    """How visible the protection of one photo is: uint8 H×W×3 clean vs protected (any size).

    Returns ``psnr`` (dB, peak 255; 100 for identical images), ``ssim`` (scikit-image, colour, 7-px window,
    data range 1), CIEDE2000 ``de2000_mean``, ``de2000_p95`` (95th percentile, from a 0.01-wide histogram)
    and ``de2000_share_jnd`` (share of pixels with ΔE00 > 2.3), plus ``changed_box`` = [y0, x0, h, w], the
    square of side ``block`` (default: ⅛ of the short side, at least 16 px) with the largest mean ΔE00 — what
    a preview zooms on. Computed in strips of ``rows`` rows (default: ≈ 256k pixels a strip) so a large photo
    needs bounded memory (a 6000×4000 photo: tens of MB, about a minute on one CPU thread); the SSIM
    of the strips equals scikit-image's on the whole image (strips overlap by the window's half-width).
    """
    from skimage.color import deltaE_ciede2000
    from skimage.metrics import structural_similarity

    if clean.shape != protected.shape or clean.ndim != 3 or clean.shape[2] != 3 or clean.dtype != np.uint8:
        raise InputError(f"visibility needs two uint8 H×W×3 images of one shape, got {clean.shape} {clean.dtype} "
                         f"and {protected.shape} {protected.dtype}")
    h, w = clean.shape[:2]
    rows = rows or max(8, (1 << 18) // w)  # strips of ≈ 256k pixels: a few MB per float64 channel
    win = min(7, h, w)
    win -= 1 - win % 2
    half = max(0, (win - 1) // 2)
    block = block or max(16, min(h, w) // 8)
    block = min(block, h, w)
    gy, gx = (h + block - 1) // block, (w + block - 1) // block  # coarse grid of ΔE sums, then best window
    grid = np.zeros((gy, gx))
    hist = np.zeros(10001)  # ΔE00 in [0, 100) by 0.01, last bin: ≥ 100
    sq_err, ssim_sum, ssim_n, de_sum = 0.0, 0.0, 0, 0.0
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, b = clean[r0:r1], protected[r0:r1]
        sq_err += float(((a.astype(np.float64) - b) ** 2).sum())
        de = deltaE_ciede2000(_strip_lab(a), _strip_lab(b), channel_axis=-1)
        de_sum += float(de.sum())
        hist += np.bincount(np.minimum((de * 100).astype(np.int64), 10000).ravel(), minlength=10001)
        ys = np.arange(r0, r1) // block
        np.add.at(grid, (ys[:, None], (np.arange(w) // block)[None, :]), de)
        if win >= 3:  # SSIM map on the strip widened by the window's half-width, then its own rows only
            p0 = max(0, min(r0 - half, h - win))  # at least a window's height
            p1 = min(h, max(r1 + half, p0 + win))
            _, smap = structural_similarity(clean[p0:p1].astype(np.float64) / 255, protected[p0:p1].astype(np.float64) / 255,
                                            channel_axis=-1, data_range=1.0, win_size=win, full=True)
            keep0, keep1 = max(r0, half), min(r1, h - half)  # scikit-image leaves out the image's border
            if keep1 > keep0:
                part = smap[keep0 - p0:keep1 - p0, half:w - half]
                ssim_sum += float(part.mean(axis=-1).sum())
                ssim_n += part.shape[0] * part.shape[1]
    n = h * w
    mse = sq_err / (n * 3)
    cum = np.cumsum(hist)
    iy, ix = np.unravel_index(int(np.argmax(grid)), grid.shape)
    y0, x0 = min(iy * block, h - block), min(ix * block, w - block)
    return {"psnr": 100.0 if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse)),
            "ssim": float(ssim_sum / ssim_n) if ssim_n else float(1 - np.abs(clean.astype(float) - protected).mean() / 255),
            "de2000_mean": de_sum / n, "de2000_p95": float(np.searchsorted(cum, 0.95 * n) / 100),
            "de2000_share_jnd": float(1 - cum[int(JND_DE2000 * 100)] / n), "changed_box": [int(y0), int(x0), int(block),
                                                                                     int(block)]}
