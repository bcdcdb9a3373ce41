"""Experiment helpers the notebooks and CLI share: cache-or-compute, and the compare table."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cluster import default_cache_dir
from .data import Bundle, atomic_write_bytes

__all__ = ["config_hash", "cached", "protect_cached", "protect_all", "evaluate_cached", "compare", "worst_case",
           "parse_method", "library_versions", "provenance"]


def config_hash(config: dict) -> str:
    """Stable 16-hex hash of a JSON-able config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions of ucs_lite, torch, numpy and python (what a result was made with)."""
    import platform

    import torch

    from . import __version__

    return {"ucs_lite": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def provenance(config: dict, seed: int, device: str) -> dict:
    """What a run's JSON records to be reproduced: library versions, seed, (resolved) device and the
    hash of its config (what was asked for: data fingerprints, method, options; not the device)."""
    config = json.loads(json.dumps(config, default=str))  # JSON-safe, as hashed
    return {"versions": library_versions(), "seed": seed, "device": str(device), "config_hash": config_hash(config)}


def cached(kind: str, config: dict, compute: Callable[[], Any], cache_dir: str | os.PathLike | None = None,
           refresh: bool = False) -> Any:
    """Return the JSON result of ``compute()`` for ``config``, from ``<cache>/<kind>/<hash>.json`` when there.

    Results must be JSON-able (dicts of numbers, lists, strings). ``refresh`` recomputes.
    """
    path = Path(cache_dir or default_cache_dir()) / kind / f"{config_hash(config)}.json"
    if path.is_file() and not refresh:
        try:
            return json.loads(path.read_text())["result"]
        except (ValueError, KeyError):
            pass
    result = compute()
    atomic_write_bytes(path, json.dumps({"config": config, "result": result}, default=float).encode())
    return result


def _same(a, b) -> bool:
    """Equal and of the same type (so ``1`` is not ``True``); False for values that cannot be compared."""
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def protect_cached(bundle: Bundle, method: str, cache_dir: str | os.PathLike | None = None, **kw) -> Bundle:
    """:func:`ucs_lite.protect.protect_bundle`, cached on disk by (data fingerprint, method, options)."""
    from .data import load_npz, save_npz
    from .protect import protect_bundle

    from .noise.registry import DEFINITION, option_defaults

    defaults = option_defaults(method)  # an option at its default and a left-out option share one entry
    cfg = {"data": bundle.train.fingerprint(), "test": bundle.test.fingerprint(), "method": method,
           **{k: (v if not hasattr(v, "name") else f"{v.name}@{getattr(v, 'resolution', '')}")
              for k, v in kw.items() if k not in ("progress", "device")
              and not (k in defaults and _same(v, defaults[k]))}}
    if method in DEFINITION:
        cfg["definition"] = DEFINITION[method]
    path = Path(cache_dir or default_cache_dir()) / "protected" / f"{config_hash(cfg)}.npz"
    if path.is_file():
        try:
            return load_npz(path)
        except Exception:
            pass
    prot, _ = protect_bundle(bundle, method, **kw)
    save_npz(prot, path)
    return prot


def evaluate_cached(bundle: Bundle, view: str, cfg, progress: bool = True) -> dict:
    """:func:`ucs_lite.attack.evaluate` cached by (train pixels, test pixels, view, attacker config).

    The key leaves out the device and, unless the attacker is the linear probe, the probe's encoder,
    so that equal runs share one entry whoever asks (compare, the notebooks, the benchmarks)."""
    from .attack import evaluate

    key = {"train": bundle.train.fingerprint(), "test": bundle.test.fingerprint(), "view": view,
           "cfg": {k: v for k, v in cfg.__dict__.items() if k != "device"
                   and not (k == "probe_surrogate" and cfg.model != "linear-probe")}}
    return cached("attack", key, lambda: evaluate(bundle, view, cfg, progress=progress))


def parse_method(spec: str) -> tuple[str, str | None]:
    """``random-class@coarse`` -> ("random-class", "coarse"); ``uc`` -> ("uc", None)."""
    m, _, lab = spec.partition("@")
    return m, (lab or None)


def protect_all(bundle: Bundle, methods: list[str], eps: float = 16 / 255, p: int = 10, surrogate=None,
                device: str = "auto", craft_options: dict | None = None, seed: int = 0,
                progress: bool = True) -> dict[str, Bundle]:
    """``{spec: protected bundle}`` for method specs such as ``clean``, ``uc``, ``random-class@coarse``
    (``clean`` maps to ``bundle`` itself). Cached like :func:`protect_cached`; ``craft_options`` maps a
    method name to extra options for it, e.g. ``{"uc": {"steps": 30}}``."""
    from .surrogates import DEFAULT_SURROGATE

    surrogate = surrogate or DEFAULT_SURROGATE
    craft_options = craft_options or {}
    out: dict[str, Bundle] = {}
    for spec in methods:
        m, lab = parse_method(spec)
        out[spec] = bundle if m == "clean" else protect_cached(
            bundle, m, eps=eps, seed=seed, labels=lab or "fine", surrogate=surrogate, p=p, device=device,
            progress=progress, **craft_options.get(m, {}))
    return out


def compare(bundle: Bundle, methods: list[str], views: list[str], epochs: int = 12, seeds: list[int] = (0,),
            model: str = "small-cnn", eps: float = 16 / 255, p: int = 10, surrogate: str | None = None,
            device: str = "auto", defenses: list[str] = ("none",), craft_options: dict | None = None,
            progress: bool = True):
    """Clean vs protected: for each method (``clean``, ``uc``, ``random-class@coarse``, ...), label view,
    defense and attacker seed, train the attacker and collect one tidy row.

    Returns a pandas DataFrame with columns method, built_from, labels, defense, seed, n_classes, chance,
    clean_final, clean_peak (the clean reference of that view/defense/seed), test_acc_final, test_acc_peak,
    removed_final, removed_peak (:func:`ucs_lite.metrics.removed` against that clean reference; present when
    ``clean`` is among the methods), psnr, ssim, seconds. Protection and training results are cached (see
    :func:`cached`).
    """
    import pandas as pd

    from .attack import AttackConfig
    from .noise.registry import needs_labels

    rows = []
    protected = protect_all(bundle, methods, eps=eps, p=p, surrogate=surrogate, device=device,
                            craft_options=craft_options, progress=progress)
    for spec, b in protected.items():
        m, lab = parse_method(spec)
        meta = b.meta()
        for view in views:
            for defense in defenses:
                for seed in seeds:
                    cfg = AttackConfig(model=model, epochs=epochs, seed=seed, defense=defense, device=device)
                    r = evaluate_cached(b, view, cfg, progress=progress)
                    rows.append({"method": m, "built_from": lab or ("fine" if needs_labels(m) else "—"),
                                 "labels": r["labels"], "defense": defense, "seed": seed, "n_classes": r["n_classes"],
                                 "chance": r["chance"], "test_acc_final": r["test_acc_final"],
                                 "test_acc_peak": r["test_acc_peak"], "psnr": meta.get("psnr", np.nan),
                                 "ssim": meta.get("ssim", np.nan), "seconds": r["seconds"]})
    df = pd.DataFrame(rows)
    ref = df[df.method == "clean"].set_index(["labels", "defense", "seed"])[["test_acc_final", "test_acc_peak"]]
    if len(ref):
        ref = ref.rename(columns={"test_acc_final": "clean_final", "test_acc_peak": "clean_peak"})
        df = df.join(ref, on=["labels", "defense", "seed"])
        from .metrics import removed

        for k in ("final", "peak"):
            df[f"removed_{k}"] = [removed(c, p, h) for c, p, h in zip(df[f"clean_{k}"], df[f"test_acc_{k}"], df["chance"])]
    return df


def worst_case(df, by: tuple[str, ...] = ("method", "built_from", "labels")):
    """Per method (and label view), the defense that gave the attacker the highest peak accuracy.

    ``df`` is a :func:`compare` table with several defenses; returns one row per group with
    ``worst_defense``, ``worst_peak`` and ``worst_final`` (accuracy of that defense, worst over seeds), and,
    when ``df`` has the ``removed_*`` columns, ``worst_removed_peak`` / ``worst_removed_final``: the smallest
    chance-normalised protection over every defense and seed of the group (each seed against its own clean run).
    """
    import pandas as pd

    agg = df.groupby(list(by) + ["defense"], as_index=False).agg(test_acc_peak=("test_acc_peak", "max"),
                                                                 test_acc_final=("test_acc_final", "max"))
    idx = agg.groupby(list(by))["test_acc_peak"].idxmax()
    out = agg.loc[idx].rename(columns={"defense": "worst_defense", "test_acc_peak": "worst_peak",
                                       "test_acc_final": "worst_final"})
    out = pd.DataFrame(out).reset_index(drop=True)
    if "removed_peak" in df:
        rem = df.groupby(list(by), as_index=False).agg(worst_removed_peak=("removed_peak", "min"),
                                                       worst_removed_final=("removed_final", "min"))
        out = out.merge(rem, on=list(by), how="left")
    return out
