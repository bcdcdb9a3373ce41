"""Feature extraction (batched, cached on disk) and K-means clustering with label metrics."""
from __future__ import annotations

import hashlib
import io
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import __version__
from . import precision
from .errors import warn_unreadable
from .files import atomic_write_bytes
from .files import cache_dir as default_cache_root
from .surrogates import Surrogate
from .errors import InputError

__all__ = ["extract_features", "Clustering", "fit_clusters", "cluster_metrics", "purity",
           "cluster_images", "preprocess_features", "weights_digest", "feature_key", "FEATURES_VERSION"]

#: Bump whenever a change of the code changes what :func:`extract_features` returns (every entry re-keys).
FEATURES_VERSION = 2
_DIGESTS: "weakref.WeakKeyDictionary[torch.nn.Module, tuple]" = weakref.WeakKeyDictionary()


def _to_float_batch(images: np.ndarray | torch.Tensor, start: int, stop: int) -> torch.Tensor:
    b = images[start:stop]
    if isinstance(b, np.ndarray):
        if b.dtype != np.uint8 or b.ndim != 4 or b.shape[-1] != 3:
            raise InputError(f"images must be uint8 N×H×W×3 or float N×3×H×W, got {b.dtype} {b.shape}")
        return torch.from_numpy(b).permute(0, 3, 1, 2).float().div_(255.0)
    return b.float()


def _tensor_versions(module: torch.nn.Module) -> tuple[int, ...]:
    """The in-place modification counters of every parameter and buffer (they change when weights are loaded
    or edited in place)."""
    return tuple(t._version for t in (*module.parameters(), *module.buffers()))


def weights_digest(surrogate: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of every parameter and buffer of ``surrogate`` (names, dtypes, shapes, bytes):
    what its weights are, whatever file, hub tag or path they came from, normalisation constants included.
    Remembered per surrogate object until a tensor of it is modified in place (``load_state_dict`` included):
    ~0.1 s for EfficientNet-Lite0, ~0.5 s for CLIP RN50's image tower on 2 CPU cores."""
    versions = _tensor_versions(surrogate)
    known = _DIGESTS.get(surrogate)
    if known is not None and known[0] == versions:
        return known[1]
    h = hashlib.sha256()
    for name, t in sorted(surrogate.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest = h.hexdigest()[:16]
    _DIGESTS[surrogate] = (versions, digest)
    return digest


def feature_key(surrogate: Surrogate, images: np.ndarray | torch.Tensor) -> dict:
    """What a feature cache entry depends on: the surrogate (name, resolution it encodes at, weights digest),
    the precision it runs in on its device (:func:`ucs_lite.precision.precision_label`: bf16 / fp16 autocast
    on CUDA give other features), the code (:data:`FEATURES_VERSION`, ucs_lite and torch versions) and the
    images (shape, dtype; their pixels are hashed by :func:`_cache_key`)."""
    arr = images.numpy() if isinstance(images, torch.Tensor) else images
    return {"surrogate": surrogate.name, "resolution": int(surrogate.resolution),
            "weights": weights_digest(surrogate), "precision": precision.precision_label(surrogate.device),
            "code": {"features": FEATURES_VERSION, "ucs_lite": __version__, "torch": torch.__version__},
            "shape": list(arr.shape), "dtype": str(arr.dtype)}


def _cache_key(surrogate: Surrogate, images: np.ndarray | torch.Tensor) -> str:
    """File name of a feature cache entry: a hash of :func:`feature_key` and the pixels."""
    h = hashlib.sha256()
    arr = images.numpy() if isinstance(images, torch.Tensor) else images
    h.update(repr(sorted(feature_key(surrogate, images).items())).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:24]


@torch.inference_mode()
def _encode_all(surrogate: Surrogate, images, batch_size: int, progress: bool) -> np.ndarray:
    out = []
    n = len(images)
    for s in tqdm(range(0, n, batch_size), desc=f"features [{surrogate.name} @{surrogate.resolution}px]",
                  disable=not progress, unit="batch"):
        out.append(surrogate.encode(_to_float_batch(images, s, min(n, s + batch_size))).cpu())
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, surrogate.dim), np.float32)


def extract_features(surrogate: Surrogate, images: np.ndarray | torch.Tensor, batch_size: int = 64,
                     cache_dir: str | os.PathLike | None | bool = None, progress: bool = True) -> np.ndarray:
    """Surrogate features N×D (float32) of images (uint8 N×H×W×3, or float [0,1] N×3×H×W).

    Cached on disk under ``cache_dir`` (default: ``features/`` in :func:`ucs_lite.files.cache_dir`; ``False``
    disables) keyed by
    :func:`feature_key` (surrogate name, resolution and weights, precision, code version) and a hash of the
    pixels, so a rerun is a file read and nothing made under other weights, precision or code is served.
    """
    path = None
    if cache_dir is not False:
        path = default_cache_root(cache_dir) / "features" / f"{_cache_key(surrogate, images)}.npy"
        if path.is_file():
            try:
                feats = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as e:
                feats = None
                warn_unreadable(path, e)
            if feats is not None and feats.shape[0] == len(images):
                return feats
    feats = _encode_all(surrogate, images, batch_size, progress)
    if path is not None:
        buf = io.BytesIO()
        np.save(buf, feats)
        atomic_write_bytes(path, buf.getvalue())
    return feats


def cluster_images(images: np.ndarray, surrogate: Surrogate, p: int, seed: int = 0, mode: str = "l2",
                   progress: bool = True) -> tuple[np.ndarray, "Clustering"]:
    """Surrogate features (N×D float32, cached: :func:`extract_features`) of uint8 N×H×W×3 images and their
    K-means clustering into ``p`` clusters (:func:`fit_clusters` with feature preprocessing ``mode``)."""
    feats = extract_features(surrogate, images, progress=progress)
    return feats, fit_clusters(feats, p, seed=seed, mode=mode)


def _fit_transform(feats: np.ndarray, mode: str) -> tuple[np.ndarray, dict]:
    """:func:`preprocess_features` of ``feats`` plus the statistics it fitted on them (what
    :func:`_transform` needs to map *new* features the same way)."""
    f = feats.astype(np.float64)
    stats: dict = {}
    if mode == "none":
        return f, stats
    if mode == "standardize":
        stats = {"mean": f.mean(0), "std": f.std(0) + 1e-8}
        f = (f - stats["mean"]) / stats["std"]
    elif mode == "pca-whiten":
        from sklearn.decomposition import PCA  # scikit-learn loads slowly: only for this mode

        pca = PCA(n_components=min(64, f.shape[1], len(f)), whiten=True, random_state=0)
        f = pca.fit_transform(f)
        stats = {"pca": pca}
    elif mode != "l2":
        raise InputError(f"unknown feature preprocessing {mode!r}: none, l2, standardize, pca-whiten")
    return f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12), stats


def _transform(feats: np.ndarray, mode: str, stats: dict) -> np.ndarray:
    """New features M×D mapped with statistics fitted before (each row on its own: an image's result
    does not depend on which others are transformed with it)."""
    f = feats.astype(np.float64)
    if mode == "none":
        return f
    if mode == "standardize":
        f = (f - stats["mean"]) / stats["std"]
    elif mode == "pca-whiten":
        f = stats["pca"].transform(f)
    elif mode != "l2":
        raise InputError(f"unknown feature preprocessing {mode!r}: none, l2, standardize, pca-whiten")
    return f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)


def preprocess_features(feats: np.ndarray, mode: str = "l2") -> np.ndarray:
    """Feature transform before K-means: ``none``; ``l2`` (unit norm: spherical K-means);
    ``standardize`` (zero mean, unit variance per dim) then L2; ``pca-whiten`` (64-d whitened) then L2.
    Statistics are fitted on ``feats`` themselves (:meth:`Clustering.predict` reuses the fitted ones)."""
    return _fit_transform(feats, mode)[0]


@dataclass
class Clustering:
    """K-means result: ``labels`` (N,) int64 in [0, p); ``centroids`` p×D in the *raw* feature space
    (the mean raw feature of each cluster: what UC's anchors are); ``mode`` the preprocessing used."""

    labels: np.ndarray
    centroids: np.ndarray
    mode: str
    seed: int
    _fit_centroids: np.ndarray  # centroids in the preprocessed space (for :meth:`predict`)
    _stats: dict | None = None  # preprocessing statistics fitted on the training features

    @property
    def p(self) -> int:
        return len(self.centroids)

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """Nearest centroid (in the space K-means was fit in) for new raw features M×D, preprocessed with
        the statistics fitted on the training features: each image's cluster is its own, whatever else is
        predicted with it."""
        if self.mode in ("standardize", "pca-whiten") and not self._stats:
            raise InputError(f"this Clustering carries no fitted {self.mode} statistics; make it with fit_clusters")
        f = _transform(feats, self.mode, self._stats or {})
        d = ((f[:, None, :] - self._fit_centroids[None]) ** 2).sum(-1)
        return d.argmin(1).astype(np.int64)


def fit_clusters(feats: np.ndarray, p: int, seed: int = 0, mode: str = "l2", n_init: int = 10) -> Clustering:
    """Seeded K-means (scikit-learn, ``n_init`` pinned) of N×D features into ``p`` clusters."""
    from sklearn.cluster import KMeans  # scikit-learn loads slowly: only when clustering

    if not 1 <= p <= len(feats):
        raise InputError(f"cannot make {p} clusters from {len(feats)} images (need 1 <= p <= N)")
    f, stats = _fit_transform(feats, mode)
    distinct = len(np.unique(f, axis=0)) if p > 1 else len(f)
    if distinct < p:
        raise InputError(f"only {distinct} distinct images (by surrogate features) among {len(feats)}: K-means "
                         f"cannot make {p} clusters; use p ≤ {distinct} (--clusters on the command line)")
    km = KMeans(n_clusters=p, n_init=n_init, random_state=seed).fit(f)
    labels = km.labels_.astype(np.int64)
    raw = np.stack([feats[labels == k].mean(0) if np.any(labels == k) else feats.mean(0) for k in range(p)])
    return Clustering(labels, raw.astype(np.float32), mode, seed, km.cluster_centers_, stats)


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose label is the majority label of their cluster (1.0 = every cluster pure)."""
    total = 0
    for k in np.unique(clusters):
        total += np.bincount(labels[clusters == k]).max()
    return float(total / len(labels))


def cluster_metrics(clusters: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """NMI, ARI, purity, homogeneity and completeness of a cluster assignment (N,) against one label view (N,).

    homogeneity = 1 − H(label | cluster)/H(label): the cluster tells the label (purity's information form);
    completeness = 1 − H(cluster | label)/H(cluster): each class sits in one cluster, so cluster-wise noise is
    constant within each of the attacker's classes. NMI is their harmonic mean. All in [0, 1].
    """
    from sklearn.metrics import (adjusted_rand_score, completeness_score, homogeneity_score,
                                 normalized_mutual_info_score)

    return {"nmi": float(normalized_mutual_info_score(labels, clusters)),
            "ari": float(adjusted_rand_score(labels, clusters)),
            "purity": purity(clusters, labels),
            "homogeneity": float(homogeneity_score(labels, clusters)),
            "completeness": float(completeness_score(labels, clusters))}
