"""Multi-granularity noise: one δ per image that carries its cluster code at several granularities at once.

An attacker's classes may be coarser or finer than any one clustering. ``random-multi`` clusters the images at
several p (e.g. 10 and 100), gives every cluster of every level its own random pattern, and composes the
patterns of an image's clusters into one δ within the same ε:

- ``sum``: δ = Σ_l w_l · pattern_l with Σ w_l = 1 (each level keeps a ±w_l·ε sign pattern: all stay learnable);
- ``spatial``: level l owns one horizontal band of the image (full ±ε there);
- ``channel``: level l owns the colour channels c with c mod L = l (full ±ε there; at most 3 levels).

``hierarchy=True`` makes the levels nested: K-means at the largest p, then its centroids are merged
(Ward agglomeration) into the smaller p, so each coarse cluster is a union of fine ones (a label-free tree,
like superclasses over classes). Otherwise every level is its own K-means.

The perturbation's groups are the distinct code tuples that occur (one δ per tuple); ``meta["levels"]`` keeps
the code tuple of every group (level l of image i: ``codes[assignment[i]][l]``).
"""
from __future__ import annotations

import time

import numpy as np

from ..cluster import Clustering, fit_clusters
from .base import Perturbation, check_eps
from .patterns import random_patterns
from ..errors import InputError

__all__ = ["COMPOSITIONS", "multi_levels", "hierarchy_levels", "compose_levels", "craft_random_multi", "craft_random_multi_images",
           "default_levels"]

COMPOSITIONS = ("sum", "spatial", "channel")


def default_levels(p: int, n_images: int) -> tuple[int, ...]:
    """Levels used when none are given: (p, 10·p), each capped at ``n_images`` (duplicates dropped)."""
    return tuple(dict.fromkeys(min(int(k), n_images) for k in (p, 10 * p)))


def _check_levels(levels, n: int) -> tuple[int, ...]:
    levels = tuple(int(k) for k in levels)
    if not levels or any(k < 1 or k > n for k in levels) or len(set(levels)) != len(levels):
        raise InputError(f"clusters must be distinct integers in [1, {n}] (one per granularity), got {levels}")
    return levels


def multi_levels(feats: np.ndarray, levels, seed: int = 0, mode: str = "standardize",
                 n_init: int = 3) -> list[np.ndarray]:
    """Independent K-means of N×D features at each p of ``levels``: one int64 (N,) assignment per level."""
    levels = _check_levels(levels, len(feats))
    return [fit_clusters(feats, k, seed=seed, mode=mode, n_init=n_init).labels for k in levels]


def hierarchy_levels(feats: np.ndarray, levels, seed: int = 0, mode: str = "standardize",
                     n_init: int = 3) -> list[np.ndarray]:
    """Nested clusterings: K-means at max(levels), its centroids merged by Ward agglomeration (weighted by
    nothing: one point per centroid) into every smaller p. Returns one (N,) assignment per level, in the
    order of ``levels``; a coarser level is always a union of clusters of any finer one."""
    from sklearn.cluster import AgglomerativeClustering

    levels = _check_levels(levels, len(feats))
    top = max(levels)
    c: Clustering = fit_clusters(feats, top, seed=seed, mode=mode, n_init=n_init)
    out = []
    for k in levels:
        if k == top:
            out.append(c.labels)
            continue
        merge = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(c._fit_centroids).labels_
        out.append(merge.astype(np.int64)[c.labels])
    return out


def compose_levels(patterns: list[np.ndarray], codes: np.ndarray, compose: str = "sum",
                   weights=None) -> np.ndarray:
    """One δ per code tuple: ``patterns[l]`` is P_l×3×H×W (±ε sign patterns of level l), ``codes`` G×L the
    cluster of each level for every group. Returns float32 G×3×H×W with |δ| ≤ ε (ε = max |pattern|)."""
    if compose not in COMPOSITIONS:
        raise InputError(f"unknown composition {compose!r}: {', '.join(COMPOSITIONS)}")
    n_lev = len(patterns)
    parts = [patterns[l][codes[:, l]] for l in range(n_lev)]  # each G×3×H×W
    if compose == "sum":
        w = np.full(n_lev, 1.0 / n_lev) if weights is None else np.asarray(weights, float)
        if len(w) != n_lev or (w < 0).any() or abs(w.sum() - 1) > 1e-6:
            raise InputError(f"weights must be {n_lev} non-negative numbers summing to 1, got {list(w)}")
        return sum(float(wl) * pl for wl, pl in zip(w, parts)).astype(np.float32)
    out = np.zeros_like(parts[0])
    if compose == "spatial":
        h = out.shape[2]
        bounds = np.linspace(0, h, n_lev + 1).round().astype(int)
        for l in range(n_lev):
            out[:, :, bounds[l]:bounds[l + 1]] = parts[l][:, :, bounds[l]:bounds[l + 1]]
        return out
    if n_lev > 3:
        raise InputError(f"channel composition carries at most 3 levels, got {n_lev}")
    for ch in range(3):
        out[:, ch] = parts[ch % n_lev][:, ch]
    return out


def craft_random_multi(level_assignments: list[np.ndarray], size: tuple[int, int], eps: float = 16 / 255,
                       seed: int = 0, compose: str = "sum", weights=None, form: str = "lowfreq", dist: str = "sign",
                       lowfreq_res: int = 8, gray: bool = False, surrogate: str = "",
                       meta: dict | None = None) -> Perturbation:
    """Random pattern per cluster of every level (level l drawn with seed ``seed + 1000·l``), composed per image.

    ``level_assignments``: L int arrays (N,), the cluster of each image at each granularity. Groups of the
    returned perturbation are the distinct code tuples (sorted), so images with the same clusters at every
    level share one δ (``meta["codes"]``: G×L, the clusters of each group). ``compose``, ``weights``: see :func:`compose_levels`; pattern options as
    :func:`ucs_lite.noise.patterns.random_patterns`.
    """
    eps = check_eps(eps)
    t0 = time.time()
    codes_n = np.stack([np.asarray(a, np.int64) for a in level_assignments], 1)  # N×L
    if codes_n.ndim != 2 or codes_n.shape[1] < 1 or codes_n.min(initial=0) < 0:
        raise InputError("level_assignments must be a non-empty list of equal-length non-negative int arrays")
    tuples, assignment = np.unique(codes_n, axis=0, return_inverse=True)
    sizes = [int(a.max()) + 1 for a in codes_n.T]
    pats = [random_patterns(k, size, eps, seed + 1000 * l, form=form, dist=dist, lowfreq_res=lowfreq_res, gray=gray)
            for l, k in enumerate(sizes)]
    delta = compose_levels(pats, tuples, compose, weights)
    m = {"compose": compose, "weights": None if weights is None else list(map(float, weights)), "form": form,
         "dist": dist, "lowfreq_res": lowfreq_res, "gray": gray, "levels": sizes, "groups": len(tuples),
         "codes": tuples.tolist(), "seconds": time.time() - t0, **(meta or {})}
    return Perturbation(delta, np.asarray(assignment, np.int64).ravel(), "random-multi", eps, seed, surrogate, meta=m)


def craft_random_multi_images(images: np.ndarray, surrogate, p: int = 10, eps: float = 16 / 255, seed: int = 0,
                              clusters=None, hierarchy: bool = False, feature_mode: str = "standardize",
                              compose: str = "sum", weights=None, form: str = "lowfreq", dist: str = "sign",
                              lowfreq_res: int = 8, gray: bool = False, progress: bool = True) -> Perturbation:
    """``random-multi`` from uint8 N×H×W×3 images: surrogate features (cached), K-means at every p of
    ``clusters`` (default :func:`default_levels` of ``p``; nested when ``hierarchy``), then
    :func:`craft_random_multi`."""
    from ..cluster import extract_features

    levels = _check_levels(default_levels(p, len(images)) if clusters is None else clusters, len(images))
    feats = extract_features(surrogate, images, progress=progress)
    fn = hierarchy_levels if hierarchy else multi_levels
    assign = fn(feats, levels, seed=seed, mode=feature_mode)
    return craft_random_multi(assign, images.shape[1:3], eps, seed, compose=compose, weights=weights, form=form,
                              dist=dist, lowfreq_res=lowfreq_res, gray=gray, surrogate=surrogate.name,
                              meta={"clusters": list(levels), "hierarchy": bool(hierarchy), "feature_mode": feature_mode})
