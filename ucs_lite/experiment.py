"""Experiment helpers the notebooks and CLI share: protect several methods at once, and the compare table.
Every protected set and attacker run goes through :mod:`ucs_lite.cache`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import cache
from .attack import AttackConfig
from .data import Bundle
from .metrics import removed
from .noise.registry import needs_labels
from .surrogates import DEFAULT_SURROGATE

__all__ = ["protect_all", "compare", "worst_case", "parse_method"]


def parse_method(spec: str) -> tuple[str, str | None]:
    """``random-class@coarse`` -> ("random-class", "coarse"); ``uc`` -> ("uc", None)."""
    m, _, lab = spec.partition("@")
    return m, (lab or None)


def protect_all(bundle: Bundle, methods: list[str], eps: float = 16 / 255, p: int = 10, surrogate=None,
                device: str = "auto", craft_options: dict | None = None, seed: int = 0,
                progress: bool = True, refresh: bool = False) -> dict[str, Bundle]:
    """``{spec: protected bundle}`` for method specs such as ``clean``, ``uc``, ``random-class@coarse``
    (``clean`` maps to ``bundle`` itself), each from :func:`ucs_lite.cache.protect`; ``craft_options`` maps a
    method name to extra options for it, e.g. ``{"uc": {"steps": 30}}``; ``refresh`` recomputes."""
    surrogate = surrogate or DEFAULT_SURROGATE
    craft_options = craft_options or {}
    out: dict[str, Bundle] = {}
    for spec in methods:
        m, lab = parse_method(spec)
        out[spec] = bundle if m == "clean" else cache.protect(
            bundle, m, eps=eps, seed=seed, labels=lab or "fine", surrogate=surrogate, p=p, device=device,
            progress=progress, refresh=refresh, **craft_options.get(m, {}))
    return out


def compare(bundle: Bundle, methods: list[str], views: list[str], epochs: int = 12, seeds: list[int] = (0,),
            model: str = "small-cnn", eps: float = 16 / 255, p: int = 10, surrogate: str | None = None,
            device: str = "auto", defenses: list[str] = ("none",), craft_options: dict | None = None,
            progress: bool = True, refresh: bool = False):
    """Clean vs protected: for each method (``clean``, ``uc``, ``random-class@coarse``, ...), label view,
    defense and attacker seed, train the attacker and collect one tidy row.

    Returns a pandas DataFrame with columns method, built_from, labels, defense, seed, n_classes, chance,
    clean_final, clean_peak, clean_valsel (the clean reference of that view/defense/seed), test_acc_final, test_acc_peak (best
    epoch selected on the test images), test_acc_valsel (epoch selected on a clean validation split, scored on
    the other test images), removed_final, removed_peak (:func:`ucs_lite.metrics.removed` against that clean
    reference; present when ``clean`` is among the methods), psnr, ssim, seconds. Protection and training results
    are cached (:mod:`ucs_lite.cache`); ``refresh`` recomputes them.
    """
    rows = []
    protected = protect_all(bundle, methods, eps=eps, p=p, surrogate=surrogate, device=device,
                            craft_options=craft_options, progress=progress, refresh=refresh)
    for spec, b in protected.items():
        m, lab = parse_method(spec)
        meta = b.meta()
        for view in views:
            for defense in defenses:
                for seed in seeds:
                    cfg = AttackConfig(model=model, epochs=epochs, seed=seed, defense=defense, device=device)
                    r = cache.evaluate(b, view, cfg, progress=progress, refresh=refresh)
                    rows.append({"method": m, "built_from": lab or ("fine" if m != "clean" and needs_labels(m) else "—"),
                                 "labels": r["labels"], "defense": defense, "seed": seed, "n_classes": r["n_classes"],
                                 "chance": r["chance"], "test_acc_final": r["test_acc_final"],
                                 "test_acc_peak": r["test_acc_peak"], "test_acc_valsel": r["test_acc_valsel"],
                                 "psnr": meta.get("psnr", np.nan),
                                 "ssim": meta.get("ssim", np.nan), "seconds": r["seconds"]})
    df = pd.DataFrame(rows)
    ref = df[df.method == "clean"].set_index(["labels", "defense", "seed"])[
        ["test_acc_final", "test_acc_peak", "test_acc_valsel"]]
    if len(ref):
        ref = ref.rename(columns={"test_acc_final": "clean_final", "test_acc_peak": "clean_peak",
                                  "test_acc_valsel": "clean_valsel"})
        df = df.join(ref, on=["labels", "defense", "seed"])
        for k in ("final", "peak"):
            df[f"removed_{k}"] = [removed(c, p, h) for c, p, h in zip(df[f"clean_{k}"], df[f"test_acc_{k}"], df["chance"])]
    return df


def worst_case(df, by: tuple[str, ...] = ("method", "built_from", "labels")):
    """Per method (and label view), the defense that gave the attacker the highest peak accuracy.

    ``df`` is a :func:`compare` table with several defenses; returns one row per group with
    ``worst_defense``, ``worst_peak`` and ``worst_final`` (accuracy of that defense, worst over seeds), and,
    when ``df`` has the ``removed_*`` columns, ``worst_removed_peak`` / ``worst_removed_final``: the smallest
    chance-normalised protection over every defense and seed of the group (each seed against its own clean run);
    NaN when any of them is NaN (a seed is never dropped: :func:`ucs_lite.metrics.worst_removed`).
    """
    agg = df.groupby(list(by) + ["defense"], as_index=False).agg(test_acc_peak=("test_acc_peak", "max"),
                                                                 test_acc_final=("test_acc_final", "max"))
    idx = agg.groupby(list(by))["test_acc_peak"].idxmax()
    out = agg.loc[idx].rename(columns={"defense": "worst_defense", "test_acc_peak": "worst_peak",
                                       "test_acc_final": "worst_final"})
    out = pd.DataFrame(out).reset_index(drop=True)
    if "removed_peak" in df:
        def worst(col):  # the smallest, NaN if any seed's is NaN (pandas' min would skip it)
            return col.min(skipna=False)

        rem = df.groupby(list(by), as_index=False).agg(worst_removed_peak=("removed_peak", worst),
                                                       worst_removed_final=("removed_final", worst))
        out = out.merge(rem, on=list(by), how="left")
    return out
