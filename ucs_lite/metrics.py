"""Image-quality and noise-bound metrics. Images: uint8 N×H×W×3 or float [0,1] N×3×H×W."""
from __future__ import annotations

import numpy as np

__all__ = ["psnr", "ssim", "max_abs_diff", "check_linf", "accuracy", "removed", "worst_removed"]


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
        raise ValueError(f"shapes differ: {clean.shape} vs {protected.shape}")
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


def removed(clean: float, protected: float, chance: float) -> float:
    """Chance-normalised protection: ``(clean − protected) / (clean − chance)``.

    ``clean`` and ``protected`` are the attacker's test accuracies (same view, same attacker) after training
    on clean and on protected images; ``chance`` the view's majority rate. 1 = the attacker learnt nothing
    usable (chance level), 0 = as good as on clean data; negative when the noise helped, above 1 when the
    attacker ends below chance. NaN when ``clean <= chance`` (nothing to remove) or an input is NaN.
    """
    clean, protected, chance = float(clean), float(protected), float(chance)
    if not np.isfinite([clean, protected, chance]).all() or clean <= chance:
        return float("nan")
    return (clean - protected) / (clean - chance)


def worst_removed(clean, protected, chance) -> float:
    """The smallest :func:`removed` over paired runs (e.g. attacker seeds): ``clean``, ``protected``, ``chance``
    are equal-length sequences (or scalars, broadcast). NaN pairs are ignored; NaN if none is left."""
    c, p, h = np.broadcast_arrays(np.atleast_1d(np.asarray(clean, float)), np.atleast_1d(np.asarray(protected, float)),
                                  np.atleast_1d(np.asarray(chance, float)))
    vals = np.array([removed(a, b, z) for a, b, z in zip(c, p, h)])
    vals = vals[np.isfinite(vals)]
    return float(vals.min()) if len(vals) else float("nan")
