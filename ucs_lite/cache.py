"""The one on-disk cache of what ucs_lite computes: protected bundles, crafted perturbations and attacker runs.

The CLI (``compare`` / ``sweep``, ``ucs-lite cache ls|clear``), the notebooks and the benchmarks all call
:func:`protect`, :func:`craft` and :func:`evaluate` here; each does what its uncached namesake does
(:func:`ucs_lite.protect.protect_bundle`, :func:`ucs_lite.noise.craft`, :func:`ucs_lite.attack.evaluate`)
and stores the result under ``<cache>/<kind>/<hash>`` (``$UCS_LITE_CACHE``, else ``~/.cache/ucs_lite``).

An entry's key holds everything that changes the result:

* the data: pixels **and** every label view of the training and test images (:meth:`ImageSet.fingerprint`),
  so a relabelled bundle with the same pixels gets its own entry;
* the method and its options, each option at its default dropped (``registry.option_defaults``), so
  spelling a default out and leaving it out share one entry; options a method ignores (the label view of a
  cluster method, the surrogate and ``p`` of a label method) are dropped too;
* where the computation ran in which precision (:func:`ucs_lite.precision.precision_label`: ``cpu``,
  ``cuda-bfloat16``, ...), since reduced-precision CUDA runs give other numbers;
* the code: ``ucs_lite.__version__``, :data:`CACHE_VERSION` (bumped whenever a change of the code changes
  results), the method's ``registry.DEFINITION`` number, and the torch and scikit-learn versions (other kernels,
  other K-means: other numbers).

Next to each entry a ``<hash>.key.json`` records its key (what ``ucs-lite cache ls`` shows). Feature
caches (:func:`ucs_lite.cluster.extract_features`, keyed by :func:`ucs_lite.cluster.feature_key`: surrogate
weights digest, precision, code version) live in the same folder, under ``features/``.
"""
from __future__ import annotations

import dataclasses
import functools
import zipfile
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .attack import AttackConfig, resolve_view
from .attack import evaluate as _evaluate
from .data import Bundle, ImageSet, load_npz, save_npz
from .errors import warn_unreadable
from .files import atomic_write_bytes
from .files import cache_dir as cache_root
from .noise import Perturbation
from .noise import craft as _craft
from .methods import METHODS, RUN_OPTIONS, method_spec
from .noise.registry import needs_labels, option_defaults
from .precision import precision_label
from .protect import protect_bundle
from .provenance import config_hash, library_versions as _all_versions
from .surrogates import DEFAULT_SURROGATE, Surrogate, resolve_device
from .errors import InputError

__all__ = ["CACHE_VERSION", "KINDS", "cache_root", "library_versions", "protect", "craft", "evaluate", "entries",
           "clear", "provenance", "add_hit_hook", "describe_key", "cached_perturbation",
           "protect_key", "craft_key", "evaluate_key"]

#: Bump whenever a change of the code changes what a cached computation returns (all entries re-key).
CACHE_VERSION = 2
#: The kinds of entries, one sub-folder each.
KINDS = ("protected", "perturbations", "attack", "features")


def library_versions() -> dict:
    """The versions that make cached results differ and so belong in a key: torch (convolutions, optimisers) and
    scikit-learn (K-means) — the part of :func:`ucs_lite.provenance.library_versions` that changes numbers."""
    v = _all_versions()
    return {"torch": v["torch"], "scikit-learn": v["scikit-learn"]}


def _code(method: str | None = None) -> dict:
    """The code part of a key: package version, cache version, the method's definition number and the versions
    of torch and scikit-learn (:func:`library_versions`)."""
    definition = method_spec(method).definition if method in METHODS else 1
    return {"ucs_lite": __version__, "cache": CACHE_VERSION, "definition": definition,
            **dict(library_versions())}


def _same(a, b) -> bool:
    """Equal and of the same type (so ``1`` is not ``True``); False for values that cannot be compared."""
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _surrogate_name(s: str | Surrogate) -> str:
    """A surrogate as a key: its name and resolution (``imagenet:efficientnet_lite0@128``) or the name given."""
    return f"{s.name}@{s.resolution}" if isinstance(s, Surrogate) else str(s)


def _options(method: str, options: dict) -> dict:
    """``options`` without run-only ones (checkpointing, progress) and without those at their default."""
    defaults = option_defaults(method)  # raises ValueError for an unknown method
    return {k: (_surrogate_name(v) if isinstance(v, Surrogate) else v) for k, v in sorted(options.items())
            if k not in RUN_OPTIONS and not (k in defaults and _same(v, defaults[k]))}


def _method_key(method: str, train: ImageSet, eps: float, seed: int, labels: str, surrogate, p: int,
                device: str, options: dict) -> dict:
    """What a crafted δ depends on (shared by :func:`protect_key` and :func:`craft_key`)."""
    labelled = needs_labels(method)
    return {"method": method, "options": _options(method, options), "train": train.fingerprint(),
            "eps": round(float(eps), 10), "seed": int(seed), "labels": labels if labelled else None,
            "surrogate": None if labelled else _surrogate_name(surrogate), "p": None if labelled else int(p),
            "precision": precision_label(resolve_device(device)), "code": _code(method)}


def protect_key(bundle: Bundle, method: str, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
                surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto",
                **options) -> dict:
    """The key :func:`protect` files a protected bundle under (arguments as :func:`protect`)."""
    return {"kind": "protected", **_method_key(method, bundle.train, eps, seed, labels, surrogate, p, device, options),
            "test": bundle.test.fingerprint()}


def craft_key(method: str, train: ImageSet, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
              surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto", **options) -> dict:
    """The key :func:`craft` files a perturbation under (arguments as :func:`craft`)."""
    return {"kind": "perturbations", **_method_key(method, train, eps, seed, labels, surrogate, p, device, options)}


def evaluate_key(bundle: Bundle, labels: str, config: AttackConfig) -> dict:
    """The key :func:`evaluate` files an attacker run under: both splits (pixels and labels), the label view,
    the attacker config without the device (the linear probe's encoder only for the linear probe), the
    precision it runs in and the code version."""
    cfg = {k: v for k, v in vars(config).items()
           if k != "device" and not (k == "probe_surrogate" and config.model != "linear-probe")}
    return {"kind": "attack", "train": bundle.train.fingerprint(), "test": bundle.test.fingerprint(),
            "view": labels, "method": bundle.meta().get("method", "clean"), "attack": cfg,
            "precision": precision_label(resolve_device(config.device)), "code": _code()}


def _path(key: dict, suffix: str, cache_dir) -> Path:
    return cache_root(cache_dir) / key["kind"] / f"{config_hash(key)}{suffix}"


def _key_file(path: Path) -> Path:
    """The ``<hash>.key.json`` beside an entry file."""
    return path.with_name(path.name.split(".")[0] + ".key.json")


def _made_now(key: dict) -> dict:
    """Where and when an entry is being made: UTC date, ucs_lite and torch versions, and the device (the GPU's
    name for a CUDA precision, else ``CPU <machine>``). Stored as ``made`` in its key file, outside the hash."""
    import platform

    import torch

    device = f"CPU {platform.machine() or ''}".strip()
    if str(key.get("precision", "")).startswith("cuda") and torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "ucs_lite": __version__,
            "torch": torch.__version__, "device": device}


def _write_key(path: Path, key: dict) -> None:
    atomic_write_bytes(_key_file(path), json.dumps({**key, "made": _made_now(key)}, indent=1, default=str).encode())


def provenance(entry: str | os.PathLike) -> dict | None:
    """Where a cache entry came from: its key file's ``made`` record (``date``, ``ucs_lite``, ``torch``,
    ``device``, and ``pack`` when a course pack brought it, :mod:`ucs_lite.pack`); ``None`` for an entry written
    before this was recorded or without a key file. ``entry``: the entry file (or its key file)."""
    keyf = _key_file(Path(entry))
    try:
        return json.loads(keyf.read_text()).get("made")
    except (OSError, ValueError, AttributeError):
        return None


#: Functions called on every cache hit as ``hook(entry_path, key, made)`` (:func:`add_hit_hook`).
_HIT_HOOKS: list[Callable[[Path, dict, "dict | None"], None]] = []


def add_hit_hook(hook: Callable[[Path, dict, "dict | None"], None]) -> None:
    """Call ``hook(entry_path, key, provenance)`` on every cache hit (once per hook; the notebooks use it to say
    where a loaded result came from, :mod:`ucs_lite.notebooks.provenance_line`)."""
    if hook not in _HIT_HOOKS:
        _HIT_HOOKS.append(hook)


def _on_hit(path: Path, key: dict) -> None:
    for hook in list(_HIT_HOOKS):
        try:
            hook(path, key, provenance(path))
        except Exception:  # a report about a hit must never break the computation
            pass


def _cached_file(key: dict, suffix: str, read: Callable[[Path], Any], write: Callable[[Any, Path], None],
                 compute: Callable[[], Any], cache_dir, refresh: bool) -> tuple[Any, bool]:
    """``(value, from_cache)``: read the entry for ``key`` when there (and readable), else compute and store it."""
    path = _path(key, suffix, cache_dir)
    if path.is_file() and not refresh:
        try:
            value = read(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # corrupt or foreign entry
            warn_unreadable(path, e)  # recomputed and replaced below, so the warning comes once
        else:
            _on_hit(path, key)
            return value, True
    value = compute()
    write(value, path)
    _write_key(path, key)
    return value, False


def cached_perturbation(key: dict, compute: Callable[[], Perturbation], definition_of: str | None = None,
                        cache_dir: str | os.PathLike | None = None, refresh: bool = False) -> Perturbation:
    """A :class:`Perturbation` that is not one of :func:`craft`'s methods (a study's own construction), cached in
    the one cache: ``key`` is a JSON-able dict of everything ``compute()`` depends on (data fingerprint, options,
    seed); the cache adds the entry kind and the code part (package, cache and library versions, and the method
    definition number of ``definition_of``), so a code change re-keys it like every other entry.
    ``refresh`` recomputes and replaces the entry."""
    full = {**key, "kind": "perturbations", "code": _code(definition_of)}
    pert, _ = _cached_file(full, ".npz", Perturbation.load, lambda q, path: q.save(path), compute, cache_dir, refresh)
    return pert


def protect(bundle: Bundle, method: str, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
            surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto", progress: bool = True,
            cache_dir: str | os.PathLike | None = None, refresh: bool = False, **options) -> Bundle:
    """:func:`ucs_lite.protect.protect_bundle` (the protected bundle only), cached (key: :func:`protect_key`).
    ``refresh`` recomputes and replaces the entry."""
    key = protect_key(bundle, method, eps, seed, labels, surrogate, p, device, **options)
    prot, _ = _cached_file(key, ".npz", load_npz, lambda b, path: save_npz(b, path),
                           lambda: protect_bundle(bundle, method, eps=eps, seed=seed, labels=labels, surrogate=surrogate,
                                                  p=p, device=device, progress=progress, **options)[0],
                           cache_dir, refresh)
    return prot


def craft(method: str, train: ImageSet, eps: float = 16 / 255, seed: int = 0, labels: str = "fine",
          surrogate: str | Surrogate = DEFAULT_SURROGATE, p: int = 10, device: str = "auto", progress: bool = True,
          cache_dir: str | os.PathLike | None = None, refresh: bool = False, **options) -> Perturbation:
    """:func:`ucs_lite.noise.craft` (same arguments), cached (key: :func:`craft_key`). Returns the
    :class:`Perturbation` with its loss curve and timings in ``meta``; a cache hit has ``meta['from_cache']``."""
    key = craft_key(method, train, eps, seed, labels, surrogate, p, device, **options)
    pert, hit = _cached_file(key, ".npz", Perturbation.load, lambda q, path: q.save(path),
                             lambda: _craft(method, train, eps=eps, seed=seed, labels=labels, surrogate=surrogate, p=p,
                                            device=device, progress=progress, **options),
                             cache_dir, refresh)
    pert.meta["from_cache"] = hit
    return pert


def evaluate(bundle: Bundle, labels: str = "fine", config: AttackConfig | None = None, progress: bool = True,
             cache_dir: str | os.PathLike | None = None, refresh: bool = False, **overrides) -> dict:
    """:func:`ucs_lite.attack.evaluate` (same arguments; ``overrides`` such as ``epochs=3`` apply to a copy of
    ``config``), cached as JSON (key: :func:`evaluate_key`). ``labels="same"`` is resolved first."""
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(AttackConfig)})
    if unknown:
        raise TypeError(f"unknown attack option {unknown[0]!r}")
    cfg = dataclasses.replace(config or AttackConfig(), **overrides)
    view = resolve_view(bundle, labels)
    key = evaluate_key(bundle, view, cfg)

    def read(path: Path) -> dict:
        return json.loads(path.read_text())["result"]

    def write(result: dict, path: Path) -> None:
        atomic_write_bytes(path, json.dumps({"key": key, "result": result}, default=float).encode())

    result, _ = _cached_file(key, ".json", read, write, lambda: _evaluate(bundle, view, cfg, progress=progress),
                             cache_dir, refresh)
    return result


# ---------------------------------------------------------------- seeing and emptying the cache

def describe_key(key: dict) -> str:
    """A short description of an entry from its key (what ``ucs-lite cache ls`` shows)."""
    return _summary(key)


def _summary(key: dict) -> str:
    """A short description of an entry from its key."""
    if key.get("kind") == "attack":
        a = key.get("attack", {})
        return (f"{key.get('method')} data, view {key.get('view')}, {a.get('model')} {a.get('epochs')} ep, "
                f"seed {a.get('seed')}, defense {a.get('defense')}, {key.get('precision')}")
    opts = ", ".join(f"{k}={v}" for k, v in key.get("options", {}).items())
    if key.get("labels"):
        extra = [f"labels {key['labels']}"]
    elif "surrogate" in key:
        extra = [f"{key['surrogate']}, p={key.get('p')}"]
    else:  # a cached_perturbation entry: the caller's key names its own parts
        extra = [f"{k} {key[k]}" for k in ("train", "assignment") if k in key]
    parts = [f"{key.get('method')} eps={round(key.get('eps', 0) * 255, 3)}/255 seed {key.get('seed')}", *extra,
             *([key["precision"]] if "precision" in key else [])]
    return ", ".join(parts) + (f"; {opts}" if opts else "")


def entries(cache_dir: str | os.PathLike | None = None, kinds: tuple[str, ...] = KINDS) -> list[dict]:
    """Every cache entry: ``{"kind", "file", "bytes", "age_s", "summary"}`` (``summary`` "" where no key
    file describes it: features, or entries from an older ucs_lite). Sorted by kind, then newest first."""
    root = cache_root(cache_dir)
    out = []
    now = time.time()
    for kind in kinds:
        folder = root / kind
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if not f.is_file() or f.name.endswith(".key.json") or ".tmp-" in f.name:
                continue
            keyf = f.with_name(f.name.split(".")[0] + ".key.json")
            summary = ""
            if keyf.is_file():
                try:
                    summary = _summary(json.loads(keyf.read_text()))
                except (ValueError, OSError, TypeError, AttributeError):
                    summary = "(unreadable key)"
            st = f.stat()
            out.append({"kind": kind, "file": str(f), "bytes": st.st_size, "age_s": now - st.st_mtime,
                        "summary": summary})
    return sorted(out, key=lambda e: (KINDS.index(e["kind"]), e["age_s"]))


def clear(cache_dir: str | os.PathLike | None = None, kinds: tuple[str, ...] = KINDS) -> tuple[int, int]:
    """Delete every entry (and key file) of ``kinds``; returns ``(files removed, bytes freed)``. Only the
    cache's own sub-folders are touched, never anything else in ``cache_dir``."""
    root = cache_root(cache_dir)
    n = size = 0
    for kind in kinds:
        if kind not in KINDS:
            raise InputError(f"unknown cache kind {kind!r}; choose from {', '.join(KINDS)}")
        folder = root / kind
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if f.is_file():
                size += f.stat().st_size
                f.unlink()
                n += 1
    return n, size
