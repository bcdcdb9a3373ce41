"""Protecting a dataset bundle or a folder of photos (what the ``protect`` command runs)."""
from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .cluster import cluster_metrics, extract_features
from .data import Bundle, DataError, ImageSet, atomic_write_bytes, list_images, read_image, resize_uint8
from .metrics import check_linf, psnr, ssim
from .noise import Perturbation, apply, craft, needs_labels
from .surrogates import DEFAULT_SURROGATE, create_surrogate

__all__ = ["protect_bundle", "protect_folder", "quality_report"]


def quality_report(clean: np.ndarray, protected: np.ndarray, eps: float) -> dict:
    """PSNR (dB), SSIM and the measured max |δ| (0–255) of protected vs clean uint8 images."""
    return {"psnr": psnr(clean, protected), "ssim": ssim(clean, protected),
            "max_abs_delta_255": check_linf(clean, protected, eps)}


def protect_bundle(bundle: Bundle, method: str = "uc", eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
                   surrogate: str = DEFAULT_SURROGATE, p: int = 10, device: str = "auto", progress: bool = True,
                   **options) -> tuple[Bundle, Perturbation]:
    """Craft ``method``'s noise on ``bundle.train`` and return (protected bundle, perturbation).

    The protected bundle keeps every view and extra key, replaces the training images, adds the group
    of every image (``cluster_train``) and a JSON ``meta`` (method, ε, p, surrogate, seed, PSNR, SSIM,
    seconds, cluster metrics against each label view). ``bundle.test`` is never modified.
    """
    if p > len(bundle.train):
        raise ValueError(f"p = {p} clusters is more than the {len(bundle.train)} training images")
    t0 = time.time()
    pert = craft(method, bundle.train, eps=eps, seed=seed, labels=labels, surrogate=surrogate, p=p,
                 device=device, progress=progress, **options)
    x_prot = apply(bundle.train.images, pert)
    meta = {"method": method, "eps": eps, "eps_255": round(eps * 255, 4), "seed": seed,
            "labels": labels if needs_labels(method) else None, "p": pert.groups if not needs_labels(method) else None,
            "surrogate": pert.surrogate, "version": __version__, "seconds": time.time() - t0,
            **quality_report(bundle.train.images, x_prot, eps)}
    if not needs_labels(method):
        meta["clusters_vs_labels"] = {v: cluster_metrics(pert.assignment, bundle.train.view(v)[0])
                                      for v in bundle.train.views}
        if pert.surrogate == "tiny":
            meta["warning"] = "made with the random-init 'tiny' surrogate: for tests only, not a result"
    meta["craft"] = {k: v for k, v in pert.meta.items() if k != "loss_curve"}
    train = ImageSet(x_prot, dict(bundle.train.labels), dict(bundle.train.class_names))
    extras = {**bundle.extras, "cluster_train": pert.assignment, "meta": np.array(json.dumps(meta, default=float))}
    return Bundle(train, bundle.test, extras, bundle.source), pert


def _write_png(path: Path, img: np.ndarray) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def protect_folder(input_dir: str | os.PathLike, output_dir: str | os.PathLike, eps: float = 16 / 255,
                   p: int = 10, seed: int = 0, surrogate: str = DEFAULT_SURROGATE, work_size: int = 64,
                   overwrite: bool = False, device: str = "auto", progress: bool = True, **options) -> dict:
    """Protect every image of a folder at its native size with Unlearnable Clusters.

    Images are read (EXIF rotation applied, converted to RGB), resized to ``work_size``² for clustering
    and crafting, and each image's δ is resized to its own size. Outputs are lossless PNGs at the same
    relative path (suffix ``.png``) under ``output_dir``. Unreadable files are skipped with a warning and
    listed in the returned summary. The input folder is never written to; a non-empty ``output_dir``
    is refused unless ``overwrite``.
    """
    src, dst = Path(input_dir).resolve(), Path(output_dir).resolve()
    if not src.is_dir():
        raise DataError(f"{input_dir}: input folder not found")
    if dst == src or src in dst.parents or dst in src.parents:
        raise DataError(f"{output_dir}: the output folder must not be inside the input folder (or contain it)")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise DataError(f"{output_dir}: output folder is not empty; choose another or pass --overwrite")
    files = list_images(src)
    if not files:
        raise DataError(f"{input_dir}: no images found")
    t0 = time.time()
    good, small, skipped = [], [], []
    for f in files:
        try:
            img = read_image(f)
        except DataError as e:
            warnings.warn(f"skipped {e}")
            skipped.append({"file": str(f.relative_to(src)), "error": str(e)})
            continue
        good.append(f)
        small.append(resize_uint8(img, work_size))
    if not good:
        raise DataError(f"{input_dir}: none of the {len(files)} files could be read")
    p_eff = min(p, len(good))
    work = ImageSet(np.stack(small), {}, {})
    s = create_surrogate(surrogate, device=device)
    pert = craft("uc", work, eps=eps, seed=seed, surrogate=s, p=p_eff, device=device, progress=progress, **options)
    written = []
    import torch

    from .noise.base import resize_delta

    for f, k in zip(good, pert.assignment):
        img = read_image(f)
        d = resize_delta(torch.from_numpy(pert.delta[k:k + 1]), img.shape[:2])[0].permute(1, 2, 0).numpy()
        out = np.clip(np.round((img.astype(np.float32) / 255 + d) * 255), 0, 255).astype(np.uint8)
        check_linf(img[None], out[None], eps)
        target = dst / f.relative_to(src).with_suffix(".png")
        _write_png(target, out)
        written.append(str(target.relative_to(dst)))
    summary = {"input_dir": str(src), "output_dir": str(dst), "written": len(written), "skipped": skipped,
               "p": p_eff, "eps_255": eps * 255, "seed": seed, "surrogate": s.name, "work_size": work_size,
               "seconds": time.time() - t0, "version": __version__}
    if s.for_tests_only:
        summary["warning"] = "made with the random-init 'tiny' surrogate: for tests only"
    atomic_write_bytes(dst / "ucs_lite_summary.json", json.dumps(summary, indent=2).encode())
    if skipped:
        print(f"{len(skipped)} file(s) skipped: " + "; ".join(s_["file"] for s_ in skipped), file=sys.stderr)
    return summary
