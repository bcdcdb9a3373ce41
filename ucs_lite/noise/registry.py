"""One entry point, :func:`craft`, for every method by name."""
from __future__ import annotations

import inspect
import math

from ..data import ImageSet
from ..names import DEFAULT_METHOD, LABELLED_METHODS, METHODS
from ..surrogates import DEFAULT_SURROGATE, Surrogate, create_surrogate, resolve_device
from .base import Perturbation
from .em import craft_em
from .multi import craft_random_multi_images
from .random import craft_random_class, craft_random_cluster
from .patterns import PATTERN_FORMS
from .uc import PARAMS, cluster_images, craft_uc, craft_uc_official

__all__ = ["METHODS", "DEFAULT_METHOD", "DEFINITION", "PRESETS", "craft", "needs_labels", "option_defaults",
           "accepted_options", "check_options"]

# METHODS (every method's name), DEFAULT_METHOD and LABELLED_METHODS live in the torch-free ucs_lite.names (the
# command line's --help reads them without importing torch); a new method is named there and crafted here.
#: ``uc-robust``: achromatic δ in 2-px blocks (16×16 values on a 32-px image). Measured (docs/results.md,
#: countermeasures): achromatic noise survives grayscale exactly; 2-px achromatic blocks form a shortcut as strong
#: as ``uc``'s 4-px colour blocks, 4-px achromatic blocks a much weaker one.
ROBUST_LOWFREQ_RES = 16
#: Bump a method's number whenever what its defaults produce changes: caches key on it, so results crafted
#: under an older definition are never served for the new one (uc-robust 2: 2-px blocks, was 4-px; jpeg-cluster 2:
#: the mirror-symmetric, shift-distinct 8×8 tile per cluster, was the per-block ``jpeg-code``).
DEFINITION = {"uc-robust": 2, "jpeg-cluster": 2}
#: Options a method name fixes on top of its function's defaults (what ``craft`` passes unless overridden).
#: ``gen-cluster``: ``random-cluster`` with the pattern of an untrained image generator per cluster (= ``uc-official``
#: with 0 epochs on standardised-feature clusters); the strongest shortcut per cluster measured in the granularity
#: study (docs/results.md "Many classes").
#: ``jpeg-cluster``: ``random-cluster`` with one achromatic 8×8 tile per cluster, repeated on JPEG's grid, made of the
#: slow DCT waves JPEG 10 keeps, its own left-right mirror image, the tiles chosen to differ up to a shift
#: (``jpeg-mirror-distinct``, :mod:`ucs_lite.noise.robust`): the best worst case over none / JPEG 10 / grayscale of the
#: constructions measured in docs/countermeasures.md (other forms: ``--opt form=jpeg-code`` etc., ROBUST_FORMS).
#: ``eot-cluster``: class-wise error-minimising noise (:func:`ucs_lite.noise.em.craft_em`) with the K-means clusters
#: (standardised features) as the classes, crafted *through* a differentiable JPEG 10, grayscale and both (one drawn
#: per batch beside none), so δ is what survives them (docs/countermeasures.md "Crafting through the countermeasures").
#: 20 rounds, never stopped early (``stop_acc`` above 1): the 10-round crafting that stopped once its model fitted
#: 99 % of the clusters was much weaker on CIFAR-100 dev with no countermeasure, at about the same worst case
#: (the study's ``em-cluster-eot`` vs ``em-cluster-eot-long``).
EOT_THROUGH = "jpeg:10,grayscale,grayscale+jpeg:10"
PRESETS = {"uc-robust": {"gray": True, "lowfreq_res": ROBUST_LOWFREQ_RES}, "random-cluster": {"feature_mode": "standardize"},
           "eot-cluster": {"feature_mode": "standardize", "through": EOT_THROUGH, "rounds": 20, "pgd_steps": 1,
                           "stop_acc": 1.01},
           "gen-cluster": {"feature_mode": "standardize", "form": "generator"},
           "jpeg-cluster": {"feature_mode": "standardize", "form": "jpeg-mirror-distinct"}}


def needs_labels(method: str) -> bool:
    """Whether a method is built from the protector's labels."""
    return method in LABELLED_METHODS


def option_defaults(method: str) -> dict:
    """The default value of every option ``craft(method, ..., **options)`` passes on to the method's function
    (e.g. ``{"steps": 60, "param": "lowfreq", ...}`` for ``uc``): used to key caches by meaning, so that an
    option spelled out at its default and the same option left out are one entry. Raises ValueError for an
    unknown method."""
    fn = _method_function(method)
    taken = {"eps", "seed", "p", "progress", "surrogate", "label_view", "device", "mode", "clustering", "images",
             "max_batch"}  # max_batch: memory, not meaning (same δ up to float rounding)
    out = {k: v.default for k, v in inspect.signature(fn).parameters.items()
           if v.default is not inspect.Parameter.empty and k not in taken}
    return {**out, **PRESETS.get(method, {})}


def _method_function(method: str):
    """The function that crafts ``method`` (its signature lists the method's options). ValueError if unknown."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return {"random-multi": craft_random_multi_images, "uc": craft_uc, "uc-robust": craft_uc,
            "uc-official": craft_uc_official, "random-cluster": craft_random_cluster,
            "gen-cluster": craft_random_cluster, "jpeg-cluster": craft_random_cluster, "eot-cluster": craft_em,
            "random-class": craft_random_class, "em-class": craft_em,
            "em-sample": craft_em}[method]


#: craft arguments that a flag of ``ucs-lite protect`` sets (an option may not set them): argument -> flag.
FLAG_ARGUMENTS = {"eps": "--eps", "seed": "--seed", "p": "--clusters", "surrogate": "--surrogate",
                  "labels": "--labels", "label_view": "--labels", "device": "--device", "progress": "--quiet",
                  "mode": "--method", "method": "--method"}
#: Options that change how a run is carried out (memory), not what it produces; accepted although
#: :func:`option_defaults` leaves them out of cache keys.
_MEMORY_OPTIONS = ("max_batch",)
#: Values a string option may take, where the choice is a fixed list.
_CHOICES = {"param": PARAMS, "form": PATTERN_FORMS, "dist": ("sign", "uniform")}


def accepted_options(method: str) -> dict[str, tuple[object, str]]:
    """Every ``**options`` key :func:`craft` accepts for ``method``: name -> (default, annotation text), the
    defaults as :func:`option_defaults` gives them (presets applied). ValueError for an unknown method."""
    params = inspect.signature(_method_function(method)).parameters
    defaults = option_defaults(method)
    out = {k: (v, _annotation(params[k]) if k in params else "") for k, v in defaults.items()}
    for k in _MEMORY_OPTIONS:
        if k in params:
            out[k] = (params[k].default, _annotation(params[k]))
    return out


def _annotation(param: inspect.Parameter) -> str:
    """A parameter's annotation as text (``"int | None"``); ``""`` when it has none."""
    a = param.annotation
    if a is inspect.Parameter.empty:
        return ""
    return a if isinstance(a, str) else getattr(a, "__name__", str(a))


def _expected_kinds(default: object, annotation: str) -> set[str]:
    """The value kinds (``int``, ``float``, ``bool``, ``str``, ``None``) an option takes, from its annotation
    (or, without one, its default's type); empty when that cannot be told cheaply (anything then passes)."""
    names = {t.strip() for t in annotation.split("|")} if annotation else set()
    if not names and default is not None:
        names = {type(default).__name__}
    known = {"int", "float", "bool", "str", "None"}
    if not names or not names <= known | {"os.PathLike"}:
        return set()
    return {n if n != "os.PathLike" else "str" for n in names}


def _kind_error(value: object, kinds: set[str]) -> str | None:
    """Why ``value`` is not of one of ``kinds`` (see :func:`_expected_kinds`), or None when it is."""
    if value is None:
        return None if "None" in kinds else "a value (not null)"
    if isinstance(value, bool):
        return None if "bool" in kinds else _kind_words(kinds)
    if isinstance(value, int) and kinds & {"int", "float"}:
        return None
    if isinstance(value, float) and "float" in kinds and math.isfinite(value):
        return None
    if isinstance(value, str) and "str" in kinds:
        return None
    return _kind_words(kinds)


def _kind_words(kinds: set[str]) -> str:
    """``{"int", "None"}`` -> ``"a whole number (or null)"``."""
    words = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "a word"}
    main = [words[k] for k in ("bool", "float", "int", "str") if k in kinds]
    if "float" in kinds and "int" in kinds:
        main.remove("a whole number")
    return " or ".join(main) + (" (or null)" if "None" in kinds else "")


def check_options(method: str, options: dict) -> dict:
    """Check ``options`` (what ``--opt KEY=VALUE`` gives, or ``craft``'s ``**options``) against ``method``'s
    accepted options (:func:`accepted_options`) before any work: each key must be one of them, its value of the
    default's kind (a whole number for ``steps``, true / false for ``gray``, one of the listed words for
    ``param`` / ``form`` / ``dist``). Returns ``options`` unchanged; raises a one-line ValueError naming the key,
    the method and what it takes. Cheap (no torch work)."""
    accepted = accepted_options(method)
    for key, value in options.items():
        if key in FLAG_ARGUMENTS and key not in accepted:
            raise ValueError(f"option {key!r} is set by {FLAG_ARGUMENTS[key]}, not --opt; use {FLAG_ARGUMENTS[key]}")
        if key not in accepted:
            raise ValueError(f"{method} has no option {key!r}; its options: {', '.join(sorted(accepted))} "
                             "(--opt KEY=VALUE)")
        default, annotation = accepted[key]
        wrong = _kind_error(value, _expected_kinds(default, annotation))
        if wrong:
            raise ValueError(f"option {key}={value!r} of {method}: give {wrong} (default {default!r})")
        if key in _CHOICES and isinstance(value, str) and value not in _CHOICES[key]:
            raise ValueError(f"option {key}={value!r} of {method}: choose one of {', '.join(_CHOICES[key])}")
        if key == "through" and isinstance(value, str):
            from ..defenses import differentiable_defense

            for spec in (t for t in value.split(",") if t.strip()):
                try:
                    differentiable_defense(spec)
                except ValueError as e:
                    raise ValueError(f"option through={value!r} of {method}: {e}") from None
    return options


def craft(method: str, train: ImageSet, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
          surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto",
          progress: bool = True, **options) -> Perturbation:
    """Craft a method's noise for a training set.

    ``labels`` is the protector's label view (used only by label-based methods); ``surrogate`` and ``p``
    only by cluster methods. ``options`` go to the method's function (e.g. ``steps``, ``param``,
    ``form``, ``rounds``).
    """
    check_options(method, options)  # one-line ValueError before any feature is computed
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
    options = {**PRESETS[method], **options}  # random-cluster / gen-cluster / jpeg-cluster / eot-cluster
    mode = options.pop("feature_mode")
    _, clustering = cluster_images(train.images, s, p, seed=seed, mode=mode, progress=progress)
    if method == "eot-cluster":
        pert = craft_em(train.images, clustering.labels, eps, seed, mode="class", label_view="clusters",
                        device=resolve_device(device), progress=progress, **options)
        pert.meta["surrogate"] = s.name
    else:
        pert = craft_random_cluster(clustering, size, eps, seed, surrogate=s.name, **options)
    pert.method = method
    return pert
