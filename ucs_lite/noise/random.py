"""Random noise baselines: one fixed random pattern per protector class or per K-means cluster.

``random-class`` with ``form="lowfreq"`` is the classic synthetic-shortcut baseline (Yu et al., KDD 2022);
``random-cluster`` is UC's ablation: clusters without UC's optimisation.
"""
from __future__ import annotations

import time

import numpy as np

from ..cluster import Clustering
from .base import Perturbation, check_eps
from .patterns import random_patterns

__all__ = ["craft_random_class", "craft_random_cluster"]


def craft_random_class(labels: np.ndarray, size: tuple[int, int], eps: float = 16 / 255, seed: int = 0,
                       form: str = "lowfreq", dist: str = "sign", lowfreq_res: int = 8, gray: bool = False,
                       label_view: str = "fine") -> Perturbation:
    """One random pattern (G×3×H×W, ±ε) per class of ``labels`` (N,), which are the protector's labels.
    ``form``, ``dist``, ``lowfreq_res``, ``gray``: see :func:`ucs_lite.noise.patterns.random_patterns`."""
    eps = check_eps(eps)
    t0 = time.time()
    k = int(labels.max()) + 1
    delta = random_patterns(k, size, eps, seed, form=form, dist=dist, lowfreq_res=lowfreq_res, gray=gray)
    meta = {"form": form, "dist": dist, "lowfreq_res": lowfreq_res, "gray": gray, "labels": label_view,
            "seconds": time.time() - t0}
    return Perturbation(delta, labels, "random-class", eps, seed, meta=meta)


def craft_random_cluster(clustering: Clustering, size: tuple[int, int], eps: float = 16 / 255, seed: int = 0,
                         form: str = "lowfreq", dist: str = "sign", lowfreq_res: int = 8, gray: bool = False,
                         surrogate: str = "") -> Perturbation:
    """One random pattern per K-means cluster (no labels, no optimisation); options as
    :func:`craft_random_class`."""
    eps = check_eps(eps)
    delta = random_patterns(clustering.p, size, eps, seed, form=form, dist=dist, lowfreq_res=lowfreq_res, gray=gray)
    meta = {"form": form, "dist": dist, "lowfreq_res": lowfreq_res, "gray": gray, "p": clustering.p,
            "feature_mode": clustering.mode, "cluster_sizes": np.bincount(clustering.labels, minlength=clustering.p).tolist()}
    return Perturbation(delta, clustering.labels, "random-cluster", eps, seed, surrogate, meta=meta,
                        centroids=clustering.centroids)
