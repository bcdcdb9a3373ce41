"""One entry point, :func:`craft`, for every method by name."""
from __future__ import annotations

import inspect

from ..data import ImageSet
from ..surrogates import DEFAULT_SURROGATE, Surrogate, create_surrogate, resolve_device
from .base import Perturbation
from .em import craft_em
from .multi import craft_random_multi_images
from .random import craft_random_class, craft_random_cluster
from .uc import cluster_images, craft_uc, craft_uc_official

__all__ = ["METHODS", "DEFAULT_METHOD", "DEFINITION", "PRESETS", "craft", "needs_labels", "option_defaults"]

METHODS = ("uc", "uc-robust", "uc-official", "gen-cluster", "random-cluster", "random-class", "em-class", "em-sample",
           "random-multi")
#: What ``protect`` uses unless told otherwise: chosen by the worst case over label views and attacker seeds on
#: CIFAR-10 and CIFAR-100 (docs/results.md "Many classes"). The paper's method stays ``uc`` / ``uc-official``.
DEFAULT_METHOD = "gen-cluster"
_LABELLED = ("random-class", "em-class", "em-sample")
#: ``uc-robust``: achromatic δ in 2-px blocks (16×16 values on a 32-px image). Measured (docs/results.md,
#: countermeasures): achromatic noise survives grayscale exactly; 2-px achromatic blocks form a shortcut as strong
#: as ``uc``'s 4-px colour blocks, 4-px achromatic blocks a much weaker one.
ROBUST_LOWFREQ_RES = 16
#: Bump a method's number whenever what its defaults produce changes: caches key on it, so results crafted
#: under an older definition are never served for the new one (uc-robust 2: 2-px blocks, was 4-px).
DEFINITION = {"uc-robust": 2}
#: Options a method name fixes on top of its function's defaults (what ``craft`` passes unless overridden).
#: ``gen-cluster``: ``random-cluster`` with the pattern of an untrained image generator per cluster (= ``uc-official``
#: with 0 epochs on standardised-feature clusters); the strongest shortcut per cluster measured in the granularity
#: study (docs/results.md "Many classes").
PRESETS = {"uc-robust": {"gray": True, "lowfreq_res": ROBUST_LOWFREQ_RES}, "random-cluster": {"feature_mode": "standardize"},
           "gen-cluster": {"feature_mode": "standardize", "form": "generator"}}


def needs_labels(method: str) -> bool:
    """Whether a method is built from the protector's labels."""
    return method in _LABELLED


def option_defaults(method: str) -> dict:
    """The default value of every option ``craft(method, ..., **options)`` passes on to the method's function
    (e.g. ``{"steps": 60, "param": "lowfreq", ...}`` for ``uc``): used to key caches by meaning, so that an
    option spelled out at its default and the same option left out are one entry. Raises ValueError for an
    unknown method."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    fn = {"random-multi": craft_random_multi_images, "uc": craft_uc, "uc-robust": craft_uc, "uc-official": craft_uc_official, "random-cluster": craft_random_cluster,
          "gen-cluster": craft_random_cluster, "random-class": craft_random_class, "em-class": craft_em, "em-sample": craft_em}[method]
    taken = {"eps", "seed", "p", "progress", "surrogate", "label_view", "device", "mode", "clustering", "images",
             "max_batch"}  # max_batch: memory, not meaning (same δ up to float rounding)
    out = {k: v.default for k, v in inspect.signature(fn).parameters.items()
           if v.default is not inspect.Parameter.empty and k not in taken}
    return {**out, **PRESETS.get(method, {})}


def craft(method: str, train: ImageSet, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
          surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto",
          progress: bool = True, **options) -> Perturbation:
    """Craft a method's noise for a training set.

    ``labels`` is the protector's label view (used only by label-based methods); ``surrogate`` and ``p``
    only by cluster methods. ``options`` go to the method's function (e.g. ``steps``, ``param``,
    ``form``, ``rounds``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    size = train.images.shape[1:3]
    if needs_labels(method):
        y, _ = train.view(labels)
        if method == "random-class":
            return craft_random_class(y, size, eps, seed, label_view=labels, **options)
        return craft_em(train.images, y, eps, seed, mode=method.split("-")[1], label_view=labels,
                        device=resolve_device(device), progress=progress, **options)
    s = surrogate if isinstance(surrogate, Surrogate) else create_surrogate(surrogate, device=device)
    if method == "uc":
        return craft_uc(train, s, p=p, eps=eps, seed=seed, progress=progress, **options)
    if method == "uc-robust":
        return craft_uc(train, s, p=p, eps=eps, seed=seed, progress=progress, **{**PRESETS[method], **options})
    if method == "uc-official":
        return craft_uc_official(train, s, p=p, eps=eps, seed=seed, progress=progress, **options)
    if method == "random-multi":
        return craft_random_multi_images(train.images, s, p=p, eps=eps, seed=seed, progress=progress, **options)
    options = {**PRESETS[method], **options}  # random-cluster / gen-cluster
    mode = options.pop("feature_mode")
    _, clustering = cluster_images(train.images, s, p, seed=seed, mode=mode, progress=progress)
    pert = craft_random_cluster(clustering, size, eps, seed, surrogate=s.name, **options)
    pert.method = method
    return pert
