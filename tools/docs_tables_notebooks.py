"""Values the notebooks' markdown (and docs/teaching.md) quote, registered with tools/docs_tables.py's decorators.

Keys (``python tools/docs_tables.py --list | grep -E 'nbn|nbc|nbp|code\\.|clusterings\\.'``):

- ``nbn.<nb>.t<threads>.<number>``: a number a notebook recorded in its claims run at its default size, seed 0
  (``benchmarks/results/notebook_numbers.json``; ``<nb>`` = 00 … 05, ``->`` in a name written ``-to-``), three
  decimals; ``nbp.…`` the same number as a percentage.
- ``nbc.<nb>.<claim>.min-margin`` / ``.values`` / ``.bounds``: one enforced claim of ``claims.json``'s table
  (runs of one code version): its smallest margin, and the min–max of its value and of its bound over those runs.
- ``code.default-method``: ``protect``'s default method, read from the code (``ucs_lite.names.DEFAULT_METHOD``),
  so that a rename of the default makes check-docs fail until the text is regenerated.
- ``clusterings.c100.kmeans.<view>.completeness-range``: K-means completeness over every p (10 to 500) and
  normalisation on CIFAR-100 dev (``granularity_clusterings.json`` and the ``kmP`` rows of ``granularity.json``).
- ``nbtime.<nb>``: a notebook's measured cold time on 2 CPU cores (``notebook_times.json``), in minutes.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from docs_tables import ROOT, Results, block, f3, md_table, value
from docs_tables_claims import effect_cells

RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else {}


def _key_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:@+-]", "", text.replace("->", "-to-").replace(" ", "-"))


def claim_slug(claim: str) -> str:
    """The key part for a claim's text: lower case, words joined by '-', punctuation dropped."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", claim.lower())).strip("-")


def _rng(xs: list[float], fmt=f3) -> str:
    lo, hi = min(xs), max(xs)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"


def _register_numbers() -> None:
    for run in _load("notebook_numbers.json").get("runs", []):
        nb, th, seed = run["notebook"][:2], run["threads"], run["seed"]
        tail = "" if seed in (0, "-") else f".s{seed}"
        for name, v in run["numbers"].items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            key = f"{nb}.t{th}{tail}.{_key_part(name)}"

            def three(r: Results, nb=run["notebook"], th=th, seed=seed, name=name) -> str:
                return _number(r, nb, th, seed, name, lambda x: str(x) if isinstance(x, int) else f3(x))

            def pct(r: Results, nb=run["notebook"], th=th, seed=seed, name=name) -> str:
                return _number(r, nb, th, seed, name, lambda x: f"{100 * x:.1f} %")

            value(f"nbn.{key}", "notebook_numbers.json", rows=f"{run['notebook']}, threads {th}, seed {seed}: {name}")(three)
            value(f"nbp.{key}", "notebook_numbers.json", rows=f"{run['notebook']}, threads {th}, seed {seed}: {name}, %")(pct)


def _number(r: Results, nb: str, th: str, seed, name: str, fmt) -> str:
    for run in r.json("notebook_numbers.json")["runs"]:
        if run["notebook"] == nb and run["threads"] == th and run["seed"] == seed:
            return fmt(run["numbers"][name])
    raise KeyError(f"notebook_numbers.json: no run {nb} threads {th} seed {seed}")


def _claim_rows(r: Results, nb: str, claim: str) -> tuple[dict, list[dict]]:
    d = r.json("claims.json")
    table = d["table"]
    row = next(x for x in table["rows"] if x["notebook"] == nb and x["claim"] == claim)
    runs = [x for x in d["runs"] if x["notebook"] == nb and x["claim"] == claim and x.get("commit") == table["version"]
            and x.get("value") is not None]
    return row, runs


def _register_claims() -> None:
    table = _load("claims.json").get("table", {})
    for row in table.get("rows", []):
        nb, claim = row["notebook"], row["claim"]
        base = f"nbc.{nb[:2]}.{claim_slug(claim)}"

        def margin(r: Results, nb=nb, claim=claim) -> str:
            return f"{_claim_rows(r, nb, claim)[0]['min_margin']:+.3f}"

        def values(r: Results, nb=nb, claim=claim) -> str:
            return _rng([x["value"] for x in _claim_rows(r, nb, claim)[1]])

        def bounds(r: Results, nb=nb, claim=claim) -> str:
            return _rng([x["bound"] for x in _claim_rows(r, nb, claim)[1]])

        value(f"{base}.min-margin", "claims.json", rows=f"table: {nb}, {claim}: min_margin")(margin)
        value(f"{base}.values", "claims.json", rows=f"runs of table.version: {nb}, {claim}: value min–max")(values)
        value(f"{base}.bounds", "claims.json", rows=f"runs of table.version: {nb}, {claim}: bound min–max")(bounds)


@value("code.default-method", rows="ucs_lite.names.DEFAULT_METHOD (code, not a result)")
def _default_method(r: Results) -> str:
    import importlib
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for module in ("ucs_lite.names", "ucs_lite.methods", "ucs_lite.noise.registry"):
        try:
            m = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a module that moved or needs torch: try the next
            continue
        if hasattr(m, "DEFAULT_METHOD"):
            return str(m.DEFAULT_METHOD)
    raise KeyError("DEFAULT_METHOD not found in ucs_lite.names / ucs_lite.methods / ucs_lite.noise.registry")


def _register_clusterings() -> None:
    for view in ("fine", "coarse"):
        def rng(r: Results, view=view) -> str:
            rows = [x for x in r.json("granularity_clusterings.json")["rows"]
                    if x["algorithm"].startswith("kmeans") and x["view"] == view]
            rows += [x for x in r.json("granularity.json")["attacks"]
                     if re.fullmatch(r"km\d+", x["noise"]) and x["view"] == view and "completeness" in x]
            return _rng([x["completeness"] for x in rows], lambda v: f"{v:.2f}")

        value(f"clusterings.c100.kmeans.{view}.completeness-range", "granularity_clusterings.json", "granularity.json",
              rows=f"every kmeans row and every kmP attack row, {view}: completeness min–max")(rng)


def _register_times() -> None:
    def stored(r: Results) -> dict:
        return r.json("notebook_times.json")["notebooks"]

    def register(key: str, rows: str, text) -> None:
        value(key, "notebook_times.json", rows=rows)(text)

    notebooks = _load("notebook_times.json").get("notebooks", {})
    for nb, entry in notebooks.items():
        register(f"nbtime.{nb[:2]}", f"notebooks.{nb}.seconds (cold, 2 threads)",
                 lambda r, nb=nb: f"{stored(r)[nb]['seconds'] / 60:.1f} min")
        if "pack" in entry:
            register(f"nbpack.{nb[:2]}", f"notebooks.{nb}.pack.seconds",
                     lambda r, nb=nb: f"{stored(r)[nb]['pack']['seconds']:.0f} s")
    register("nbtime.total", "sum of notebooks.*.seconds",
             lambda r: f"{sum(x['seconds'] for x in stored(r).values()) / 60:.0f} min")
    register("nbtime.max", "max of notebooks.*.seconds",
             lambda r: f"{max(x['seconds'] for x in stored(r).values()) / 60:.1f} min")
    if any("pack" in x for x in notebooks.values()):
        register("nbpack.max", "max of notebooks.*.pack.seconds",
                 lambda r: f"{max(x['pack']['seconds'] for x in stored(r).values() if 'pack' in x):.0f} s")
        register("nbpack.size", "pack.bytes",
                 lambda r: f"{r.json('notebook_times.json')['pack']['bytes'] / 1e6:.0f} MB")


@block("notebook-times", "notebook_times.json", "claims.json",
       rows="notebooks.*: cold and course-pack wall seconds; claims.json `table.rows`: the live effects")
def _notebook_times(r: Results) -> str:
    """Each notebook's cold time and its time with a course pack (2 CPU cores, its own empty cache, as a fresh
    Colab runtime), beside the effects it states from its own run: the smallest over the claims runs and the
    spread over attacker seeds 0–2."""
    times = r.json("notebook_times.json")
    rows_by_nb: dict[str, list[dict]] = {}
    for x in r.json("claims.json")["table"]["rows"]:
        rows_by_nb.setdefault(x["notebook"], []).append(x)
    out = []
    for nb, t in times["notebooks"].items():
        effects = []
        for x in rows_by_nb.get(nb, []):
            if x.get("effect_min") is None:
                continue
            effect, spread, ratio = effect_cells(x)
            text = f"{x['claim']}: ≥ {effect}" + ("" if x.get("spread_0_2") is None else f", spread {spread}")
            if x.get("effect_vs_spread") is not None:
                text += f" ({ratio}×)"
                if not isinstance(x["effect_vs_spread"], str) and x["effect_vs_spread"] < 2:
                    text += " **under 2×: reported only**"
            effects.append(text)
        pack = t.get("pack", {}).get("seconds")
        out.append([f"`{nb}`", f"{t['seconds'] / 60:.1f} min", "—" if pack is None else f"{pack:.0f} s",
                    "; ".join(effects) or "—"])
    return md_table(["notebook", "cold, 2 CPU cores", "with a course pack", "effects it states from its own run: "
                     "smallest over the claims runs, spread over seeds 0–2 (effect / spread)"], out)


_register_numbers()
_register_claims()
_register_clusterings()
_register_times()


@value("granularity.class.removed-range", "granularity.json",
       rows="class@fine / class@coarse / class@regroup:20:0 (not summed) → every view, seed 0: removed_peak min–max")
def _class_removed_range(r: Results) -> str:
    rows = [x for x in r.json("granularity.json")["attacks"] if x["noise"].startswith("class@") and "sum" not in x["noise"]
            and x.get("seed", 0) == 0 and x.get("removed_peak") is not None]
    return _rng([x["removed_peak"] for x in rows], lambda v: f"{v:.2f}")
