"""One entry point, :func:`craft`, for every method by name; what each method is and does is in
:data:`ucs_lite.methods.METHOD_TABLE` (this module only reads it)."""
from __future__ import annotations

import inspect
import math

from ..cluster import cluster_images
from ..data import ImageSet
from ..errors import OptionError
from ..methods import DEFAULT_METHOD, METHODS, MethodSpec, method_spec
from ..surrogates import DEFAULT_SURROGATE, Surrogate, create_surrogate, resolve_device
from .base import Perturbation
from .patterns import PATTERN_FORMS
from .uc import PARAMS

__all__ = ["METHODS", "DEFAULT_METHOD", "craft", "needs_labels", "option_defaults", "accepted_options",
           "check_options"]

#: arguments ``craft`` passes itself (from its own parameters or the method's ``fixed``): never options
_TAKEN = {"eps", "seed", "p", "progress", "surrogate", "label_view", "device", "mode", "clustering", "images",
          "max_batch"}  # max_batch: memory, not meaning (same δ up to float rounding)


def needs_labels(method: str) -> bool:
    """Whether a method is built from the protector's labels."""
    return method_spec(method).needs_labels


def option_defaults(method: str) -> dict:
    """The default value of every option ``craft(method, ..., **options)`` passes on to the method's function
    (e.g. ``{"steps": 60, "param": "lowfreq", ...}`` for ``uc``): its function's keyword defaults with the method's
    presets on top. Used to key caches by meaning, so that an option spelled out at its default and the same option
    left out are one entry. Raises :class:`~ucs_lite.errors.OptionError` for an unknown method."""
    spec = method_spec(method)
    out = {k: v.default for k, v in inspect.signature(spec.load()).parameters.items()
           if v.default is not inspect.Parameter.empty and k not in _TAKEN}
    return {**out, **spec.presets}


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
    params = inspect.signature(method_spec(method).load()).parameters
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
    ``param`` / ``form`` / ``dist``). Returns ``options`` unchanged; raises a one-line
    :class:`~ucs_lite.errors.OptionError` (a ValueError) naming the key,
    the method and what it takes. Cheap (no torch work)."""
    accepted = accepted_options(method)
    for key, value in options.items():
        if key in FLAG_ARGUMENTS and key not in accepted:
            raise OptionError(f"option {key!r} is set by {FLAG_ARGUMENTS[key]}, not --opt; use {FLAG_ARGUMENTS[key]}")
        if key not in accepted:
            raise OptionError(f"{method} has no option {key!r}; its options: {', '.join(sorted(accepted))} "
                             "(--opt KEY=VALUE)")
        default, annotation = accepted[key]
        wrong = _kind_error(value, _expected_kinds(default, annotation))
        if wrong:
            raise OptionError(f"option {key}={value!r} of {method}: give {wrong} (default {default!r})")
        if key in _CHOICES and isinstance(value, str) and value not in _CHOICES[key]:
            raise OptionError(f"option {key}={value!r} of {method}: choose one of {', '.join(_CHOICES[key])}")
        if key == "through" and isinstance(value, str):
            from ..defenses import differentiable_defense

            for spec in (t for t in value.split(",") if t.strip()):
                try:
                    differentiable_defense(spec)
                except ValueError as e:
                    raise OptionError(f"option through={value!r} of {method}: {e}") from None
    return options


def craft(method: str, train: ImageSet, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
          surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto",
          progress: bool = True, **options) -> Perturbation:
    """Craft a method's noise for a training set (uint8 N×H×W×3 images in ``train``).

    ``labels`` is the protector's label view (used only by label-based methods); ``surrogate`` and ``p``
    only by cluster methods. ``options`` go to the method's function (e.g. ``steps``, ``param``,
    ``form``, ``rounds``), over the method's presets. How the function is called is the method's ``inputs``
    (:data:`ucs_lite.methods.INPUTS`).
    """
    spec = method_spec(method)
    check_options(method, options)  # one-line error before any feature is computed
    fn, opts = spec.load(), {**spec.presets, **options}
    size = train.images.shape[1:3]
    if spec.needs_labels:
        y, _ = train.view(labels)
        if spec.inputs == "labels":
            pert = fn(y, size, eps, seed, label_view=labels, **spec.fixed, **opts)
        else:
            pert = fn(train.images, y, eps, seed, label_view=labels, device=resolve_device(device), progress=progress,
                      **spec.fixed, **opts)
        return _named(pert, spec)
    s = surrogate if isinstance(surrogate, Surrogate) else create_surrogate(surrogate, device=device)
    if spec.inputs in ("surrogate", "surrogate+images"):
        data = train if spec.inputs == "surrogate" else train.images
        return _named(fn(data, s, p=p, eps=eps, seed=seed, progress=progress, **spec.fixed, **opts), spec)
    mode = opts.pop("feature_mode")
    _, clustering = cluster_images(train.images, s, p, seed=seed, mode=mode, progress=progress)
    if spec.inputs == "clusters":
        pert = fn(clustering, size, eps, seed, surrogate=s.name, **spec.fixed, **opts)
    else:  # clusters+images
        pert = fn(train.images, clustering.labels, eps, seed, label_view="clusters", device=resolve_device(device),
                  progress=progress, **spec.fixed, **opts)
    pert.surrogate = pert.surrogate or s.name
    pert.meta["surrogate"] = s.name
    if pert.centroids is None:
        pert.centroids = clustering.centroids
    return _named(pert, spec)


def _named(pert: Perturbation, spec: MethodSpec) -> Perturbation:
    """The perturbation labelled with the method that made it (functions shared by several methods name their own)."""
    pert.method = spec.name
    return pert
