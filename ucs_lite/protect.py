"""Protecting a dataset bundle or a folder of photos (what the ``protect`` command runs)."""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .cluster import cluster_metrics
from .data import (IMAGE_SUFFIXES, Bundle, DataError, ImageSet, SkippedInput, UcsWarning, list_images, read_image,
                   resize_uint8)
from .files import atomic_write_bytes, png_bytes
from .metrics import check_linf, psnr, ssim, visibility
from .methods import DEFAULT_FOLDER_METHOD, FOLDER_METHODS, METHOD_TABLE, RUN_OPTIONS, method_spec
from .noise import DEFAULT_METHOD, Perturbation, apply, craft, needs_labels
from .errors import OptionError
from .noise.base import check_eps
from .noise.photo import DEFAULT_STRENGTH, Construction, masked_delta, resolve_strength
from .noise.registry import check_options, option_defaults
from .preview import MAX_IMAGES as MAX_PREVIEW
from .preview import preview_entry, write_preview
from .provenance import provenance
from .surrogates import DEFAULT_SURROGATE, Surrogate, create_surrogate, resolve_device
from .errors import InputError


__all__ = ["protect_bundle", "protect_folder", "check_folder_method", "quality_report", "worst_visibility"]


def quality_report(clean: np.ndarray, protected: np.ndarray, eps: float) -> dict:
    """PSNR (dB), SSIM and the measured max |δ| (0–255) of protected vs clean uint8 images."""
    return {"psnr": psnr(clean, protected), "ssim": ssim(clean, protected),
            "max_abs_delta_255": check_linf(clean, protected, eps)}


def protect_bundle(bundle: Bundle, method: str = DEFAULT_METHOD, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
                   surrogate: str = DEFAULT_SURROGATE, p: int = 10, device: str = "auto", progress: bool = True,
                   **options) -> tuple[Bundle, Perturbation]:
    """Craft ``method``'s noise on ``bundle.train`` and return (protected bundle, perturbation).

    The protected bundle keeps every view and extra key, replaces the training images, adds the group
    of every image (``cluster_train``) and a JSON ``meta`` (method, ε, p, surrogate, seed, PSNR, SSIM,
    seconds, cluster metrics against each label view). ``bundle.test`` is never modified.
    """
    eps = check_eps(eps)
    check_options(method, options)  # before any work: a one-line ValueError naming the key
    if method.startswith("em-") and min(bundle.train.images.shape[1:3]) < 8:
        raise InputError(f"{method} trains a small CNN that pools three times: it needs images of at least 8×8 px, "
                         f"got {'×'.join(map(str, bundle.train.images.shape[1:3]))}; use uc or random-class")
    if not needs_labels(method) and p > len(bundle.train):
        raise InputError(f"p = {p} clusters is more than the {len(bundle.train)} training images; "
                         f"use p ≤ {len(bundle.train)} (--clusters on the command line)")
    t0 = time.time()
    dev = resolve_device(device)
    if not needs_labels(method) and not isinstance(surrogate, Surrogate):
        surrogate = create_surrogate(surrogate, device=dev)  # fails fast (e.g. CLIP offline), before crafting
    sname = surrogate.name if isinstance(surrogate, Surrogate) else surrogate
    config = {"method": method, "eps": eps, "seed": seed, "labels": labels if needs_labels(method) else None,
              "p": None if needs_labels(method) else p, "surrogate": None if needs_labels(method) else sname,
              "options": {k: v for k, v in options.items() if k not in RUN_OPTIONS},
              "train": bundle.train.fingerprint(), "test": bundle.test.fingerprint()}
    pert = craft(method, bundle.train, eps=eps, seed=seed, labels=labels, surrogate=surrogate, p=p,
                 device=dev, progress=progress, **options)
    x_prot = apply(bundle.train.images, pert)
    meta = {"method": method, "eps": eps, "eps_255": round(eps * 255, 4), "seed": seed,
            "labels": labels if needs_labels(method) else None, "p": pert.groups if not needs_labels(method) else None,
            "surrogate": pert.surrogate, "version": __version__, "seconds": time.time() - t0,
            **provenance(config, seed, dev), "config": config,
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


def estimate_protect(method: str, n: int, hw: str | None = None, surrogate: str = DEFAULT_SURROGATE, p: int = 10,
                     **options) -> dict:
    """Seconds :func:`protect_bundle` takes for ``n`` 32-px training images with ``method`` (``options``: the
    method's, over its defaults) on ``hw`` (a :data:`ucs_lite.estimate.HARDWARE` key or GPU name; None: the CPU):
    :func:`ucs_lite.estimate.protection_seconds` with the method's settings — features and K-means for a cluster
    method, error-minimising rounds for ``eot-cluster`` / ``em-*``, UC steps for ``uc`` / ``uc-robust``."""
    from .estimate import protection_seconds

    spec, opts = method_spec(method), {**option_defaults(method), **options}
    em = opts if spec.function.endswith(":craft_em") else None
    return protection_seconds(n, hw, str(surrogate), p,
                              clusters="clusters" in spec.inputs or spec.inputs == "surrogate", em=em,
                              uc=opts if spec.crafted and em is None else None)


def _write_png(path: Path, img: np.ndarray) -> None:
    """Lossless PNG (zlib level 3: fast for large photos), written atomically."""
    atomic_write_bytes(path, png_bytes(img, compress_level=3))


def apply_native(img: np.ndarray, delta: np.ndarray, rows: int = 256) -> np.ndarray:
    """``img`` (uint8 H×W×3, any size) plus one group's ``delta`` (float 3×h×w, crafted at a small size)
    resized bilinearly to H×W: quantise(clip(x + δ, 0, 1)) as uint8 H×W×3.

    Works in strips of ``rows`` rows, so a 6000×4000 photo needs a few tens of MB of float memory
    rather than several hundred; the result equals resizing δ to H×W at once (bilinear is separable) up
    to float rounding (at most one level of 255 on a rare pixel).
    """
    import torch
    import torch.nn.functional as F

    h_img, w_img = img.shape[:2]
    d = torch.from_numpy(np.ascontiguousarray(delta, dtype=np.float32))[None]  # 1×3×h×w
    h = d.shape[2]
    dcol = F.interpolate(d, size=(h, w_img), mode="bilinear", align_corners=False)[0] if d.shape[3] != w_img \
        else d[0]  # 3×h×W: columns resized, rows still at the crafting size
    out = np.empty_like(img)
    for r0 in range(0, h_img, rows):
        r1 = min(h_img, r0 + rows)
        if h == h_img:
            strip = dcol[:, r0:r1]
        else:  # bilinear along rows, align_corners=False (as torch), for this strip only
            ys = ((torch.arange(r0, r1, dtype=torch.float64) + 0.5) * (h / h_img) - 0.5).clamp_(min=0)
            y0 = ys.floor().long().clamp_(max=h - 1)
            y1 = (y0 + 1).clamp_(max=h - 1)
            ly = (ys - y0).float().clamp_(0, 1)[None, :, None]
            strip = dcol[:, y0] * (1 - ly) + dcol[:, y1] * ly
        x = torch.from_numpy(img[r0:r1].copy()).permute(2, 0, 1).float().div_(255)
        y = (x + strip).clamp_(0, 1).mul_(255).round_().to(torch.uint8)
        out[r0:r1] = y.permute(1, 2, 0).numpy()
    return out


def _output_names(files: list[Path], src: Path) -> dict[Path, Path]:
    """Relative output path (``.png``) of every input; inputs that would collide (``a.jpg`` and ``a.png``)
    keep their suffix in the name (``a.jpg.png``) so no output replaces another."""
    plain = {f: f.relative_to(src).with_suffix(".png") for f in files}
    counts: dict[str, int] = {}
    for rel in plain.values():
        counts[str(rel).lower()] = counts.get(str(rel).lower(), 0) + 1
    return {f: (rel if counts[str(rel).lower()] == 1 else f.relative_to(src).with_name(f.name + ".png"))
            for f, rel in plain.items()}


def protect_folder(input_dir: str | os.PathLike, output_dir: str | os.PathLike, eps: float | None = None,
                   p: int = 10, seed: int = 0, surrogate: str = DEFAULT_SURROGATE, work_size: int = 64,
                   overwrite: bool = False, device: str = "auto", progress: bool = True,
                   strength: str = DEFAULT_STRENGTH, method: str = DEFAULT_FOLDER_METHOD,
                   perturbation_path: str | os.PathLike | None = None, **options) -> dict:
    """Protect every image of a folder at its native size with one of the label-free cluster methods
    (:data:`ucs_lite.methods.FOLDER_METHODS`: ``gen-cluster``, the default, ``uc``, ``uc-robust``,
    ``random-cluster``; label-based methods are refused: a folder of photos has no labels).

    ``strength`` names the shape of the noise (:data:`ucs_lite.noise.photo.STRENGTHS`: ε, pattern cells,
    colour or luminance only, texture mask); ``eps`` (if given) and ``options`` (the method's, e.g.
    ``lowfreq_res``, ``gray``, ``steps``; checked before any work) override its parts. Cell-based patterns
    (``uc``, ``uc-robust``, ``random-cluster``) take the strength's cells; ``gen-cluster``'s generator texture has
    no cells, and under a luminance-only strength its δ is made achromatic (:func:`_achromatic`); ``uc-robust``
    is achromatic whatever the strength. The default, ``balanced`` (ε = 16/255, luminance only,
    texture-masked), is what a person would publish; stronger points protect more and show more
    (docs/results.md, "Photos a person would publish", measured with ``uc``'s cell patterns); ``paper`` is the
    saturated colour patchwork of ε = 16/255, plainly visible on photos.
    Per image, the visibility figures (:func:`ucs_lite.metrics.visibility`) go into the summary, and
    ``output_dir/preview.html`` shows every image before / after with a zoom on the most changed region.

    Images are read one at a time (EXIF rotation applied, converted to RGB) and shrunk to ``work_size``²
    for clustering and crafting; then each is read again and its cluster's δ is resized to its own size
    (in strips of rows, so memory stays bounded for very large photos). Outputs are lossless PNGs at
    the same relative path (suffix ``.png``) under ``output_dir``, each written atomically. Unreadable
    files and files of other types are skipped with a :class:`~ucs_lite.data.SkippedInput` warning and
    listed in the returned summary (also written to ``output_dir/ucs_lite_summary.json``). ``p`` is
    lowered (with a warning) to the number of distinct images when there are fewer. The input folder
    is never written to; a non-empty ``output_dir`` is refused unless ``overwrite``. ``perturbation_path``:
    also write the :class:`~ucs_lite.noise.Perturbation` (δ per cluster at ``work_size``², the cluster of
    every image read) there.
    """
    construction = resolve_strength(strength)
    eps = check_eps(construction.eps if eps is None else eps)
    check_folder_method(method)
    options = {**_strength_options(method, construction), **check_options(method, options)}
    src, dst = _check_folders(input_dir, output_dir, overwrite, perturbation_path)
    files, skipped = _list_inputs(src, input_dir)
    t0 = time.time()
    dev = resolve_device(device)
    s = surrogate if isinstance(surrogate, Surrogate) else create_surrogate(surrogate, device=dev)  # fail fast
    good, work = _read_small(files, src, work_size, skipped, input_dir)
    p_eff = _cluster_count(work, p, input_dir)
    config = {"method": method, "eps": eps, "seed": seed, "p": p_eff, "surrogate": s.name, "work_size": work_size,
              "strength": strength, "mask_floor": construction.mask_floor,
              "options": {k: v for k, v in options.items() if k not in RUN_OPTIONS}, "work": work.fingerprint()}
    pert = craft(method, work, eps=eps, seed=seed, surrogate=s, p=p_eff, device=dev, progress=progress, **options)
    if construction.colour == "luma":
        pert = _achromatic(pert)
    written, quality, entries, keep = _write_outputs(good, pert, src, dst, construction.mask_floor, eps, skipped)
    if perturbation_path is not None:
        pert.save(perturbation_path)
    summary = {"input_dir": str(src), "output_dir": str(dst), "method": method, "written": len(written),
               "skipped": skipped, "p": p_eff, "p_requested": p, "eps_255": eps * 255, "seed": seed,
               "surrogate": s.name, "work_size": work_size, "strength": strength,
               "construction": {**construction.as_dict(), "eps255": eps * 255,
                                **_pattern_shape(method, options, pert)},
               "visibility_worst": worst_visibility(quality), "visibility": quality, "preview": "preview.html",
               "survival": keep, "survival_photos": min(len(written), SURVIVAL_PHOTOS),
               "seconds": time.time() - t0, "version": __version__, "outputs": written,
               **({"perturbation": str(Path(perturbation_path).resolve())} if perturbation_path is not None else {}),
               **provenance(config, seed, dev), "config": config}
    if s.for_tests_only:
        summary["warning"] = "made with the random-init 'tiny' surrogate: for tests only"
    write_preview(dst / "preview.html", entries, summary)
    atomic_write_bytes(dst / "ucs_lite_summary.json", json.dumps(summary, indent=2, default=float).encode())
    return summary


def check_folder_method(method: str) -> None:
    """A one-line :class:`~ucs_lite.errors.OptionError` unless ``method`` is one folder mode crafts (its
    :class:`~ucs_lite.methods.MethodSpec` says so, and why not)."""
    spec = method_spec(method)
    if spec.on_folders:
        return
    raise OptionError(f"--method {method} cannot protect an --input-dir ({spec.folder}); use one of "
                      f"{', '.join(FOLDER_METHODS)} (default {DEFAULT_FOLDER_METHOD})")


def _strength_options(method: str, c: Construction) -> dict:
    """The craft options that give ``method``'s δ the strength ``c``'s shape: the pattern cells
    (``lowfreq_res``; ignored by a generator texture) and, for cell patterns, luminance only (``gray``).
    ``uc-robust`` stays achromatic whatever the strength; ``gen-cluster``'s colour is set after crafting."""
    if method == "gen-cluster":
        return {"lowfreq_res": c.cells}
    return {"lowfreq_res": c.cells, "gray": True if method == "uc-robust" else c.colour == "luma"}


def _achromatic(pert: Perturbation) -> Perturbation:
    """``pert`` with a luminance-only δ: each group's channel mean on R, G and B, rescaled so that its largest
    |value| is ε again (the budget a luminance-only δ of cells uses). An already achromatic δ is returned
    as is. δ stays within ±ε (G×3×h×w)."""
    d = pert.delta
    if np.ptp(d, axis=1).max(initial=0) == 0:
        return pert
    luma = d.mean(axis=1, keepdims=True)
    peak = np.abs(luma).max(axis=(1, 2, 3), keepdims=True)
    luma = luma * (pert.eps / np.maximum(peak, 1e-12))
    delta = np.clip(np.repeat(luma, 3, axis=1), -pert.eps, pert.eps).astype(np.float32)
    return dataclasses.replace(pert, delta=delta, meta={**pert.meta, "colour": "luma (channel mean, peak ε)"})


def _pattern_shape(method: str, options: dict, pert: Perturbation) -> dict:
    """``{"cells", "colour"}`` of the δ crafted: cells across a side for cell (``lowfreq``) patterns, None for a
    generator or pixel texture; ``luma`` when δ is the same on R, G, B, else ``rgb``."""
    full = {**option_defaults(method), **options}
    form = full.get("param", full.get("form"))
    return {"cells": full.get("lowfreq_res") if form == "lowfreq" else None,
            "colour": "luma" if np.ptp(pert.delta, axis=1).max(initial=0) == 0 else "rgb"}


def _check_folders(input_dir: str | os.PathLike, output_dir: str | os.PathLike, overwrite: bool,
                   perturbation_path: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(input, output) folders resolved, or a one-line DataError: the input must be a folder, the output must not
    lie inside it (nor contain it) or be a non-empty folder (unless ``overwrite``), the perturbation file must not
    lie inside the input."""
    src, dst = Path(input_dir).resolve(), Path(output_dir).resolve()
    if not src.is_dir():
        raise DataError(f"{input_dir}: input folder not found (or not a folder); give the folder of images to protect")
    if dst == src or src in dst.parents or dst in src.parents:
        raise DataError(f"{output_dir}: the output folder must not be inside the input folder (or contain it); "
                        "choose a folder elsewhere")
    if dst.exists() and not dst.is_dir():
        raise DataError(f"{output_dir}: exists and is not a folder; choose another --output-dir")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise DataError(f"{output_dir}: output folder is not empty; choose another or pass --overwrite")
    if perturbation_path is not None and src in Path(perturbation_path).resolve().parents:
        raise DataError(f"{perturbation_path}: the perturbation file must not be inside the input folder; "
                        "choose a path elsewhere")
    return src, dst


def _list_inputs(src: Path, input_dir: str | os.PathLike) -> tuple[list[Path], list[dict]]:
    """(image files under ``src``, skipped entries ``{"file", "error"}`` for the other files, each warned as
    :class:`~ucs_lite.data.SkippedInput`). A one-line DataError when there is no image at all."""
    ignored: list[tuple[Path, str]] = []
    files = list_images(src, ignored)
    if not files:
        other = f" ({len(ignored)} other file(s) ignored)" if ignored else ""
        raise DataError(f"{input_dir}: no images found{other}; ucs-lite reads {', '.join(IMAGE_SUFFIXES)}")
    skipped = []
    for f, why in ignored:
        warnings.warn(f"skipped {f}: {why}", SkippedInput, stacklevel=3)
        skipped.append({"file": str(f.relative_to(src)), "error": why})
    return files, skipped


def _read_small(files: list[Path], src: Path, work_size: int, skipped: list[dict],
                input_dir: str | os.PathLike) -> tuple[list[Path], ImageSet]:
    """(files read, their images shrunk to ``work_size``² as an ImageSet of uint8 N×s×s×3, no labels). An
    unreadable file is warned, appended to ``skipped`` and left out; a DataError if none could be read."""
    good, small = [], []
    for f in files:
        try:
            img = read_image(f, draft=work_size)
        except DataError as e:
            warnings.warn(f"skipped {e}", SkippedInput, stacklevel=3)
            skipped.append({"file": str(f.relative_to(src)), "error": str(e)})
            continue
        good.append(f)
        small.append(resize_uint8(img, work_size))
        del img
    if not good:
        raise DataError(f"{input_dir}: none of the {len(files)} image files could be read; "
                        "see the warnings above for each file")
    return good, ImageSet(np.stack(small), {}, {})


def _cluster_count(work: ImageSet, p: int, input_dir: str | os.PathLike) -> int:
    """``p`` lowered (with a warning) to the number of distinct images of ``work`` when there are fewer."""
    distinct = len(np.unique(work.images.reshape(len(work), -1), axis=0))
    p_eff = min(p, distinct)
    if p_eff < p:
        warnings.warn(f"p = {p} clusters but only {distinct} distinct image(s) in {input_dir}: using p = {p_eff}",
                      UcsWarning, stacklevel=3)
    return p_eff


def _write_outputs(good: list[Path], pert: Perturbation, src: Path, dst: Path, mask_floor: float | None,
                   eps: float, skipped: list[dict]) -> tuple[list[str], dict[str, dict], list, dict[str, float]]:
    """Read each image again at full size, add its cluster's δ (texture-masked when ``mask_floor`` is not None)
    and write the PNG: (relative names written, visibility per name, preview entries, the share of δ each of
    :data:`NOTE_COUNTERMEASURES` keeps at native size, mean over the first :data:`SURVIVAL_PHOTOS` photos). A
    file that can no longer be read is warned and appended to ``skipped``; every output stays within ε."""
    names = _output_names(good, src)
    written, quality, entries, survival = [], {}, [], []
    for f, k in zip(good, pert.assignment):
        try:
            img = read_image(f)
        except DataError as e:  # changed or removed since the first pass
            warnings.warn(f"skipped {e}", SkippedInput, stacklevel=3)
            skipped.append({"file": str(f.relative_to(src)), "error": str(e)})
            continue
        delta = pert.delta[k] if mask_floor is None else masked_delta(img, pert.delta[k], mask_floor)
        out = apply_native(img, delta)
        check_linf(img[None], out[None], eps)
        vis = visibility(img, out)
        if len(survival) < SURVIVAL_PHOTOS and (out != img).any():
            survival.append(survival_shares(*_survival_crop(img, out)))
        if len(entries) < MAX_PREVIEW:
            entries.append(preview_entry(str(names[f]), img, out, vis))
        del img  # one full-size copy less while the PNG is encoded
        _write_png(dst / names[f], out)
        written.append(str(names[f]))
        quality[str(names[f])] = vis
        del out
    keep = {spec: float(np.mean([k[spec] for k in survival])) for spec in NOTE_COUNTERMEASURES} if survival else {}
    return written, quality, entries, keep


def _survival_crop(img: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The central :data:`SURVIVAL_CROP`² part (all of a smaller photo) of a clean / protected pair (uint8 H×W×3), starting
    on a multiple of 16 so JPEG's 8×8 grid (and its 2×2 colour subsampling) meets the pixels as in the whole photo;
    returned as 1×h×w×3 batches. Bounds the memory and time of measuring survival on a very large photo."""
    h, w, side = *img.shape[:2], SURVIVAL_CROP
    y0, x0 = max(0, (h - side) // 2) // 16 * 16, max(0, (w - side) // 2) // 16 * 16
    win = (slice(y0, y0 + side), slice(x0, x0 + side))
    return img[win][None], out[win][None]


def worst_visibility(quality: dict[str, dict]) -> dict:
    """The most visible image's figures over a folder's per-image :func:`~ucs_lite.metrics.visibility`
    results: lowest PSNR and SSIM, highest ΔE00 mean, 95th percentile and share above 2.3 (empty: ``{}``)."""
    if not quality:
        return {}
    vals = list(quality.values())
    return {"psnr": min(v["psnr"] for v in vals), "ssim": min(v["ssim"] for v in vals),
            **{k: max(v[k] for v in vals) for k in ("de2000_mean", "de2000_p95", "de2000_share_jnd")}}


#: What :func:`countermeasure_note` measures: an ordinary photo upload (half size, then JPEG 75), JPEG 75 alone, and
#: the two cheapest deliberate countermeasures (JPEG 10, grayscale).
NOTE_COUNTERMEASURES = {"down:0.5+jpeg:75": "an ordinary upload (half size, then JPEG 75)", "jpeg:75": "JPEG 75",
                        "jpeg:10": "JPEG quality 10", "grayscale": "grayscale"}
#: Folder mode measures that share at each photo's native size on the first few photos it writes (a few seconds
#: each for a 12-megapixel photo).
SURVIVAL_PHOTOS = 4
#: ... on the central part of each photo, at most this many pixels across (at native size: the δ's scale is kept)
SURVIVAL_CROP = 1024


def survival_shares(clean: np.ndarray, protected: np.ndarray) -> dict[str, float]:
    """The share of δ (:func:`ucs_lite.defenses.noise_survival`) that each of :data:`NOTE_COUNTERMEASURES` leaves in
    ``protected`` (uint8 N×H×W×3, the same shape as ``clean``), keyed by its defense spec."""
    from .defenses import noise_survival

    return {spec: noise_survival(clean, protected, spec) for spec in NOTE_COUNTERMEASURES}


def countermeasure_note(clean: np.ndarray | None, protected: np.ndarray | None, method: str, n: int = 200,
                        keep: dict[str, float] | None = None, photos: int = 0) -> str:
    """One line on what re-encoding does to this output: the share of δ (:func:`survival_shares`, measured now on
    the first ``n`` of the uint8 N×H×W×3 ``clean`` / ``protected`` training images, or given as ``keep``) that an
    ordinary upload, JPEG 75, JPEG 10 and grayscale (:data:`NOTE_COUNTERMEASURES`) leave in place, and which methods
    are built to survive the deliberate ones (the method table's ``robust_to``). ``photos`` > 0: ``keep`` was
    measured on that many photos of a folder at their own size (folder mode)."""
    if keep is None:
        keep = survival_shares(clean[:n], protected[:n])
    what = f"photos (at their own size, {photos} measured)" if photos else "images"
    first, *rest = NOTE_COUNTERMEASURES
    text = (f"note: {NOTE_COUNTERMEASURES[first]} leaves {keep[first]:.0%} of this {method} noise in the {what}; "
            + ", ".join(f"{NOTE_COUNTERMEASURES[s]} {keep[s]:.0%}" for s in rest))
    robust = [m.name for m in METHOD_TABLE if m.robust_to]
    if photos:  # δ crafted at the work size and resized to a photo is smooth there, so re-encoding keeps most of it
        return text + ("; surviving is not yet protecting: what re-encoding does to protection was measured on "
                       "32-px images only (docs/countermeasures.md, \"Photos at their own size\")")
    if method == DEFAULT_METHOD:
        text += (f"; {method} is the default because it has the best worst case measured over no countermeasure, "
                 "JPEG 75, JPEG 10 and grayscale")
    if method_spec(method).robust_to:
        return text + (f" (built to survive {' and '.join(method_spec(method).robust_to)}; how much that protects: "
                       "docs/countermeasures.md)")
    return text + (f"; an attacker who re-encodes the images removes the rest. --method {' or '.join(robust)} keep "
                   "more of their noise through JPEG and grayscale (what each protects: docs/countermeasures.md)")
