"""Every table of measured numbers in README.md and docs/*.md, regenerated from benchmarks/results/*.json.

    python tools/docs_tables.py             # rewrite the generated blocks in place   (make results-docs)
    python tools/docs_tables.py --check     # exit 1 with a diff if committed text differs (make check-docs)
    python tools/docs_tables.py --list      # every registered block / value and the JSON it reads

Mechanism. A markdown file marks what this script owns with a pair of HTML comments (invisible when rendered):

    <!-- generated:NAME -->
    | a | table |
    <!-- /generated -->

for a block (the opening marker ends its line), or, inside a sentence, ``<!-- generated:NAME -->0.258<!-- /generated -->``
for one value. Everything between the markers is replaced by what the function registered as NAME returns;
text outside the markers is never touched. A block gets a last line naming its source JSON (and the rows it
reads), so every number can be traced. An unknown NAME, or a marker without its closing ``<!-- /generated -->``,
is an error (exit 2). The script reads JSON only (no torch, no numpy, no pandas) and is fast enough for CI;
only blocks that ask for a model's output import it lazily (``gpu-estimates`` imports ``ucs_lite.estimate``).

Adding a table (e.g. for a new study writing ``benchmarks/results/countermeasures.json``):

    @block("countermeasures-worst", "countermeasures.json", rows="method × defense, worst over seeds")
    def _countermeasures_worst(r: Results) -> str:
        d = r.json("countermeasures.json")
        return md_table(["method", "worst peak"], [[x["method"], f3(x["worst_peak"])] for x in d["rows"]])

then put ``<!-- generated:countermeasures-worst -->`` / ``<!-- /generated -->`` in the markdown and run
``make results-docs``. A one-number value: ``@value("name", "file.json")`` with a function returning the text.
A study may also keep its functions in its own module: any ``tools/docs_tables_*.py`` next to this file is
imported before generating, and registers with the same decorators (``from docs_tables import block, value, ...``).
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
#: the markdown files scanned for markers (relative to the repository root; globs allowed)
DOC_GLOBS = ("README.md", "docs/*.md")
MARKER = re.compile(r"<!-- generated:(?P<name>[A-Za-z0-9_.:@+-]+) -->(?P<body>.*?)<!-- /generated -->", re.DOTALL)
OPENING = re.compile(r"<!-- generated:([A-Za-z0-9_.:@+-]+) -->")


class DocsError(Exception):
    """A marker the generator cannot serve (unknown name, unclosed marker, missing JSON)."""


@dataclass
class Results:
    """Read-only access to ``benchmarks/results/*.json`` under ``root`` (cached per file)."""

    root: Path = ROOT
    _cache: dict = field(default_factory=dict)

    def json(self, name: str) -> dict:
        """The parsed JSON file ``benchmarks/results/<name>`` (NaN allowed, as the studies write it)."""
        if name not in self._cache:
            path = self.root / "benchmarks" / "results" / name
            if not path.is_file():
                raise DocsError(f"{path}: stored result missing")
            self._cache[name] = json.loads(path.read_text())
        return self._cache[name]


@dataclass(frozen=True)
class Generator:
    """One registered block or value: its name, function, source files and the rows it reads."""

    name: str
    fn: Callable[[Results], str]
    sources: tuple[str, ...]
    rows: str
    inline: bool


REGISTRY: dict[str, Generator] = {}


def block(name: str, *sources: str, rows: str = "") -> Callable:
    """Register ``fn(results) -> markdown`` as the block NAME; a source line naming ``sources`` is appended."""
    def deco(fn: Callable[[Results], str]) -> Callable[[Results], str]:
        REGISTRY[name] = Generator(name, fn, sources, rows, inline=False)
        return fn
    return deco


def value(name: str, *sources: str, rows: str = "") -> Callable:
    """Register ``fn(results) -> text`` as the inline value NAME (no source line; ``--list`` names the JSON)."""
    def deco(fn: Callable[[Results], str]) -> Callable[[Results], str]:
        REGISTRY[name] = Generator(name, fn, sources, rows, inline=True)
        return fn
    return deco


# ---------------------------------------------------------------------------------------------- formatting


def f3(x: float | None) -> str:
    """Three decimals (``0.258``); ``—`` for a missing or NaN value."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def f2(x: float | None) -> str:
    """Two decimals (``0.72``); ``—`` for a missing or NaN value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def signed3(x: float) -> str:
    """A signed three-decimal margin (``+0.022``)."""
    return f"{x:+.3f}"


def pair(a: float | None, b: float | None, fmt: Callable[[float | None], str] = f3) -> str:
    """``a / b`` with the same format on both sides."""
    return f"{fmt(a)} / {fmt(b)}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def source_line(gen: Generator) -> str:
    """The traceability line under a block: which JSON, which rows, how to regenerate."""
    files = ", ".join(f"`benchmarks/results/{s}`" for s in gen.sources)
    rows = (f" ({gen.rows})" if files else gen.rows) if gen.rows else ""
    return f"<sub>Generated by `make results-docs` from {files}{rows}; do not edit by hand.</sub>"


def seconds_text(x: float) -> str:
    """CPU seconds at a precision that fits their size: ``0.001``, ``3.5``, ``106``."""
    return f"{x:.3f}" if x < 0.1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def duration(seconds: float, unit: str) -> str:
    """``175 s`` (unit ``s``) or, for ``auto``, minutes below an hour (``41 min``) and hours above (``1.9 h``)."""
    if unit == "s":
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


# ---------------------------------------------------------------------------------------------- row lookups


def study_row(rows: list[dict], method: str, labels: str, built_from: str | None = None, **extra) -> dict:
    """The one row of a ``study.py`` result with these keys (KeyError naming them if absent or ambiguous)."""
    hits = [r for r in rows if r["method"] == method and r["labels"] == labels
            and (built_from is None or r["built_from"] == built_from)
            and all(r.get(k) == v for k, v in extra.items())]
    if len(hits) != 1:
        raise DocsError(f"{len(hits)} rows for method={method} labels={labels} built_from={built_from} {extra}")
    return hits[0]


def attack_rows(attacks: list[dict], noise: str, view: str, **extra) -> list[dict]:
    """Every attack of a granularity study with this noise and view (all seeds), sorted by seed."""
    hits = [a for a in attacks if a["noise"] == noise and a["view"] == view
            and all(a.get(k) == v for k, v in extra.items())]
    if not hits:
        raise DocsError(f"no attack rows for noise={noise} view={view} {extra}")
    return sorted(hits, key=lambda a: a["seed"])


def worst_peak(rows: list[dict]) -> float:
    """The worst (highest) peak accuracy over seeds."""
    return max(a["peak"] for a in rows)


def worst_removed(rows: list[dict]) -> float:
    """The worst (smallest) ``removed_peak`` over seeds."""
    return min(a["removed_peak"] for a in rows)


def c100(r: Results) -> list[dict]:
    """Every CIFAR-100 dev attack: the granularity report (seed 0 and the seeds part)."""
    return r.json("granularity.json")["attacks"]


def c10(r: Results) -> list[dict]:
    """The CIFAR-10 10k check of the granularity study (seeds 0-2)."""
    return r.json("granularity_cifar10.json")["attacks"]


def c10_defended(r: Results, noise: str, defense: str) -> dict:
    """One row of ``granularity_cifar10_defenses.json`` (seed 0)."""
    return attack_rows(r.json("granularity_cifar10_defenses.json")["attacks"], noise, "fine", defense=defense)[0]


def seeds_worst(r: Results, labels: str) -> float:
    """``uc``'s worst peak over attacker seeds 0-2 (``seeds.json``)."""
    return max(x["peak"] for x in r.json("seeds.json")["rows"] if x["labels"] == labels)


def sweep_peak(r: Results, method: str, labels: str, defense: str, name: str = "sweep.json", seed: int = 0) -> dict:
    """One row of the countermeasure sweep."""
    return study_row(r.json(name)["rows"], method, labels, defense=defense, seed=seed)


# ---------------------------------------------------------------------------------------------- README


@block("readme-what-works", "table.json", "seeds.json", "granularity_cifar10.json",
       rows="seed 0 from table.json; uc: worst of seeds 0-2 in seeds.json; gen-cluster: worst of seeds 0-2, "
            "noise `gen0 km10`")
def _readme_what_works(r: Results) -> str:
    """The README's headline table: fine / coarse peak per kind of training data."""
    t = r.json("table.json")["rows"]

    def both(method: str, built: str) -> list[str]:
        return [f3(study_row(t, method, v, built)["peak"]) for v in ("fine", "coarse")]

    gen = worst_peak(attack_rows(c10(r), "gen0 km10", "fine"))
    rows = [
        ["clean", *both("clean", "—")],
        ["class-wise noise built from the **fine** labels", *both("random-class", "fine")],
        ["class-wise noise built from the **coarse** labels (label-agnostic setting)", *both("random-class", "coarse")],
        ["error-minimising class-wise, built from coarse", *both("em-class", "coarse")],
        ["Unlearnable Clusters (`uc`, no labels; worst of 3 attacker seeds)", f3(seeds_worst(r, "fine")),
         f3(seeds_worst(r, "coarse"))],
        ["random pattern per K-means cluster (`random-cluster`, no labels)", *both("random-cluster", "—")],
        ["**untrained-generator pattern per K-means cluster (`gen-cluster`, the default; worst of 3 seeds)**",
         f"**{f3(gen)}**", "not measured"],
    ]
    return md_table(["training data", "fine-label attacker, peak acc.", "coarse-label attacker, peak acc."], rows)


@block("gpu-estimates", rows="the time model `ucs_lite.estimate.estimate_profile` (estimates, not measurements)")
def _gpu_estimates(r: Results) -> str:
    """The README's modelled minutes per notebook (imports ``ucs_lite.estimate`` lazily)."""
    if str(r.root) not in sys.path:
        sys.path.append(str(r.root))  # a checkout without an install: the package next to tools/
    from ucs_lite.estimate import estimate_profile  # lazy: the only block that needs the package

    cols = [("gpu-class", "t4", "s"), ("gpu-paper", "t4", "auto"), ("gpu-paper", "a100", "auto")]
    # clip=True: on a GPU runtime (Colab) notebook 02 gets its CLIP weights; without it the table would depend on
    # the caller's HF_HUB_OFFLINE (make exports it), and check-docs would differ between shells
    est = {(p, g): estimate_profile(p, g, clip=True)["seconds"] for p, g, _ in cols}
    names = list(est[cols[0][:2]])
    rows = [[f"`{n}`", *[duration(est[(p, g)][n], unit) for p, g, unit in cols]] for n in names]
    return md_table(["notebook", "`gpu-class`, T4", "`gpu-paper`, T4", "`gpu-paper`, A100"], rows)


# ---------------------------------------------------------------------------------------------- inline values


def _register_values() -> None:
    """The prose numbers (one value each), registered from small lambdas."""
    def reg(name: str, src: str, rows: str, fn: Callable[[Results], str]) -> None:
        value(name, src, rows=rows)(fn)

    g = "granularity.json"
    reg("c100.class-coarse.fine.removed", g, "class@coarse → fine, seed 0, removed_peak",
        lambda r: f2(attack_rows(c100(r), "class@coarse", "fine")[0]["removed_peak"]))
    reg("c100.class-coarse.fine.removed-final", g, "class@coarse → fine, seed 0, removed_final",
        lambda r: f2(attack_rows(c100(r), "class@coarse", "fine")[0]["removed_final"]))
    for view in ("fine", "coarse"):
        reg(f"c100.gen10.{view}.worst-removed", g, f"gen0 km10, {view}, worst removed_peak over seeds",
            lambda r, v=view: f2(worst_removed(attack_rows(c100(r), "gen0 km10", v))))
        reg(f"c100.uc10.{view}.removed", g, f"uc km10 (30 steps, 64 px), {view}, seed 0, removed_peak",
            lambda r, v=view: f2(attack_rows(c100(r), "uc km10 (30 steps, 64 px)", v)[0]["removed_peak"]))
        reg(f"c100.gen20.{view}.worst-removed", g, f"gen0 km20, {view}, worst removed_peak over seeds",
            lambda r, v=view: f2(worst_removed(attack_rows(c100(r), "gen0 km20", v))))
        reg(f"c100.km10.{view}.removed", g, f"km10, {view}, seed 0",
            lambda r, v=view: f2(attack_rows(c100(r), "km10", v)[0]["removed_peak"]))
        reg(f"c100.km20.{view}.removed", g, f"km20, {view}, seed 0",
            lambda r, v=view: f2(attack_rows(c100(r), "km20", v)[0]["removed_peak"]))
    c = "granularity_cifar10.json"
    for noise, key in (("gen0 km10", "gen10"), ("random-cluster km10", "rc10"), ("official E=1 M=100 km10", "off1"),
                       ("gen0 km20", "gen20")):
        reg(f"c10.{key}.worst", c, f"{noise}, fine, worst peak over seeds 0-2",
            lambda r, n=noise: f3(worst_peak(attack_rows(c10(r), n, "fine"))))
        reg(f"c10.{key}.worst-removed", c, f"{noise}, fine, worst removed_peak over seeds 0-2",
            lambda r, n=noise: f2(worst_removed(attack_rows(c10(r), n, "fine"))))
        reg(f"c10.{key}.peaks", c, f"{noise}, fine, peak per seed",
            lambda r, n=noise: " / ".join(f3(a["peak"]) for a in attack_rows(c10(r), n, "fine")))
    reg("c10.clean.peaks", c, "clean, fine, peak per seed",
        lambda r: " / ".join(f3(a["peak"]) for a in attack_rows(c10(r), "clean", "fine")))
    d = "granularity_cifar10_defenses.json"
    reg("c10.gen10.jpeg10", d, "gen0 km10, jpeg:10, seed 0", lambda r: f3(c10_defended(r, "gen0 km10", "jpeg:10")["peak"]))
    reg("c10.gen10.jpeg10.removed", d, "gen0 km10, jpeg:10, seed 0, removed_peak",
        lambda r: f2(c10_defended(r, "gen0 km10", "jpeg:10")["removed_peak"]))
    reg("c10.rc10.jpeg10", d, "random-cluster km10, jpeg:10, seed 0",
        lambda r: f3(c10_defended(r, "random-cluster km10", "jpeg:10")["peak"]))
    reg("c10.rc10.jpeg10.removed", d, "random-cluster km10, jpeg:10, seed 0, removed_peak",
        lambda r: f2(c10_defended(r, "random-cluster km10", "jpeg:10")["removed_peak"]))
    reg("c10.clean.jpeg10", d, "clean, jpeg:10, seed 0", lambda r: f3(c10_defended(r, "clean", "jpeg:10")["peak"]))
    reg("c10.clean.grayscale", d, "clean, grayscale, seed 0",
        lambda r: f3(c10_defended(r, "clean", "grayscale")["peak"]))
    t = "table.json"
    for method, built, key in (("clean", "—", "clean"), ("random-class", "fine", "rc-fine"),
                               ("random-class", "coarse", "rc-coarse"), ("em-class", "coarse", "em-coarse"),
                               ("random-cluster", "—", "random-cluster"), ("uc", "—", "uc")):
        for view in ("fine", "coarse"):
            reg(f"table.{key}.{view}", t, f"{method} built from {built}, {view}, seed 0, peak",
                lambda r, m=method, b=built, v=view: f3(study_row(r.json(t)["rows"], m, v, b)["peak"]))
    reg("table.uc.craft-s", t, "uc, fine, seed 0, craft_s",
        lambda r: f"{study_row(r.json(t)['rows'], 'uc', 'fine')['craft_s']:.0f}")
    n0 = "notebook00_seeds.json"
    reg("nb00.uc-drop-range", n0, "differences.uc_vs_clean.values: min–max",
        lambda r: "–".join(f"{x:.2f}" for x in (min(r.json(n0)["differences"]["uc_vs_clean"]["values"]),
                                                max(r.json(n0)["differences"]["uc_vs_clean"]["values"]))))
    for res in (224, 128, 64):
        reg(f"levers.{res}.std.purity", "levers.json", f"{res} px, standardize, p = 10, purity_fine",
            lambda r, x=res: f2(next(v["purity_fine"] for v in r.json("levers.json")["rows"]
                                     if v["resolution"] == x and v["mode"] == "standardize" and v["p"] == 10)))
    for view in ("fine", "coarse"):
        reg(f"c100.clean.{view}.s0", g, f"clean, {view}, seed 0, peak",
            lambda r, v=view: f3(attack_rows(c100(r), "clean", v)[0]["peak"]))
    fr = "frontier.json"
    reg("frontier.skipped", fr, "skipped: the modelled CPU s of each configuration not run",
        lambda r: ", ".join(f"{k} (modelled {v.split()[1]} CPU s)" for k, v in r.json(fr)["skipped"].items()))
    reg("frontier.speedup-range", fr, "summary.speedups: min–max of speedup",
        lambda r: "–".join(f"{x:.0f}" for x in minmax([v["speedup"] for v in r.json(fr)["summary"]["speedups"] if v.get("speedup")])))
    reg("frontier.speedup-measured-range", fr, "summary.speedups: min–max of speedup_measured",
        lambda r: "–".join(f"{x:.1f}" for x in minmax([v["speedup_measured"] for v in r.json(fr)["summary"]["speedups"]
                                                        if v.get("speedup_measured")])))
    reg("frontier.clean", fr, "clean: mean peak and chance per view",
        lambda r: "fine {} (chance {}), coarse {} (chance {})".format(
            *[f3(r.json(fr)["clean"][v][k]) for v in ("fine", "coarse") for k in ("mean_peak", "chance")]))
    reg("bench.shared-setup", "bench_craft.json", "rows[0].shared_setup_s",
        lambda r: f"{r.json('bench_craft.json')['rows'][0]['shared_setup_s']:.0f}")
    for mode in ("standardize", "none"):
        reg(f"levers.224.{mode[:4] if mode == 'none' else 'std'}.purity3", "levers.json", f"224 px, {mode}, p = 10, purity_fine",
            lambda r, m=mode: f3(next(v["purity_fine"] for v in r.json("levers.json")["rows"]
                                      if v["resolution"] == 224 and v["mode"] == m and v["p"] == 10)))
    for res, key in ((8, "gray4"), (16, "gray2")):
        reg(f"robust.{key}.cluster", "robust.json", f"random-cluster gray lowfreq_res {res}, none, peak",
            lambda r, x=res: f3(next(v["peak"] for v in r.json("robust.json")["rows"] if v["method"] == "random-cluster"
                                     and v["options"] == json.dumps({"gray": True, "lowfreq_res": x})
                                     and v["defense"] == "none")))
    for col in ("jpeg:10", "grayscale", "blur:1"):
        for method in ("uc", "uc-robust"):
            reg(f"survival.{method}.{col}", "survival.json", f"{method}, {col}",
                lambda r, m=method, c=col: f3(next(v[c] for v in r.json("survival.json")["rows"] if v["method"] == m)))
    reg("seeds.uc.fine.worst", "seeds.json", "uc, fine, worst peak over seeds 0-2", lambda r: f3(seeds_worst(r, "fine")))
    p = "purity.json"
    for method, key in (("true classes, 0% reassigned", "oracle"), ("K-means 224px standardize p=10", "km10"),
                        ("true classes, 30% reassigned", "re30"), ("true classes, 60% reassigned", "re60"),
                        ("K-means 224px standardize p=20", "km20"), ("K-means 224px standardize p=50", "km50"),
                        ("random clusters p=10", "random")):
        reg(f"purity.{key}.peak", p, f"{method}, peak", lambda r, m=method: f3(study_row(r.json(p)["rows"], m, "fine")["peak"]))
        reg(f"purity.{key}.purity", p, f"{method}, purity_fine",
            lambda r, m=method: f2(study_row(r.json(p)["rows"], m, "fine")["purity_fine"]))
    for method, labels, defense in (("uc", "fine", "jpeg:10"), ("uc", "fine", "grayscale"), ("clean", "fine", "jpeg:10"),
                                    ("clean", "fine", "grayscale"), ("random-class", "fine", "jpeg:10"),
                                    ("random-class", "fine", "grayscale"), ("uc-robust", "fine", "jpeg:10")):
        reg(f"sweep.{method}.{labels}.{defense}", "sweep.json", f"{method}, {labels}, {defense}, seed 0, peak",
            lambda r, m=method, lab=labels, dfn=defense: f3(sweep_peak(r, m, lab, dfn)["peak"]))
    for method in ("uc", "uc-robust"):
        for seed, name in ((0, "sweep.json"), (1, "sweep_seeds.json")):
            reg(f"sweep.{method}.worst.s{seed}", name, f"{method}, fine, worst over none/jpeg:10/grayscale, seed {seed}",
                lambda r, m=method, s=seed, n=name: f3(next(w["worst_peak"] for w in r.json(n)["worst_case"]
                                                           if w["method"] == m and w["labels"] == "fine" and w["seed"] == s)))
    bc = "bench_craft.json"
    reg("bench.speedup", bc, "speedup['500']", lambda r: f"{r.json(bc)['speedup']['500']:.0f}")
    reg("bench.speedup-measured", bc, "speedup_measured['500']", lambda r: f"{r.json(bc)['speedup_measured']['500']:.1f}")
    for who in ("gen-cluster", "uc", "official"):
        for view in ("fine", "coarse"):
            reg(f"bench.{who}.{view}", bc, f"{who}, worst peak over seeds 0-2, {view}",
                lambda r, w=who, v=view: f3(bench_point(r, w)["protection"][v]["peak"]))
            reg(f"bench.{who}.{view}.removed", bc, f"{who}, removed (worst seed), {view}",
                lambda r, w=who, v=view: f2(bench_point(r, w)["protection"][v]["removed"]))
    reg("bench.clean.fine", bc, "clean_mean_peak.fine", lambda r: f3(r.json(bc)["rows"][0]["clean_mean_peak"]["fine"]))
    reg("bench.clean.coarse", bc, "clean_mean_peak.coarse",
        lambda r: f3(r.json(bc)["rows"][0]["clean_mean_peak"]["coarse"]))
    v = "visibility.json"
    for strength in ("balanced", "strong", "paper", "subtle"):
        reg(f"vis.{strength}.peak", v, f"strength {strength}, worst peak over seeds",
            lambda r, s=strength: f3(vis_row(r, strength=s)["protection"]["worst_peak"]))
        reg(f"vis.{strength}.final", v, f"strength {strength}, worst final over seeds",
            lambda r, s=strength: f3(vis_row(r, strength=s)["protection"]["worst_final"]))
        reg(f"vis.{strength}.de", v, f"strength {strength}, mean ΔE00 over the four photos",
            lambda r, s=strength: f"{vis_row(r, strength=s)['visibility']['mean']['de2000_mean']:.1f}")
    reg("vis.clean.peak", v, "clean.peaks[0]", lambda r: f3(r.json(v)["clean"]["peaks"][0]))
    reg("vis.balanced.peaks", v, "strength balanced, peak per seed",
        lambda r: " / ".join(f3(x["peak"]) for x in vis_row(r, strength="balanced")["protection"]["runs"]))
    reg("vis.n-train", v, "protocol.n_train", lambda r: f"{r.json(v)['protocol']['n_train']:,}")


def minmax(xs: list[float]) -> tuple[float, float]:
    """``(min, max)`` of a non-empty list."""
    return min(xs), max(xs)


def bench_point(r: Results, who: str) -> dict:
    """``bench_craft.json``'s official run or one of our configurations (N = 500)."""
    row = r.json("bench_craft.json")["rows"][0]
    return row["official"] if who == "official" else next(o for o in row["ours"] if o["name"] == who)


def vis_row(r: Results, strength: str | None = None, name: str | None = None) -> dict:
    """One candidate of ``visibility.json`` by ``--strength`` or by name."""
    for row in r.json("visibility.json")["rows"]:
        if (strength and row.get("strength") == strength) or (name and row["name"] == name):
            return row
    raise DocsError(f"visibility.json: no row strength={strength} name={name}")


_register_values()


# ---------------------------------------------------------------------------------------------- docs/results.md


@block("results-shortcut", "table.json", "explore.json", "granularity_cifar10.json",
       rows="seed 0, fine; random-cluster form=pixel from explore.json; gen-cluster = `gen0 km10`, seed 0")
def _results_shortcut(r: Results) -> str:
    """Which noise forms a shortcut (fine labels, attacker seed 0)."""
    t = r.json("table.json")["rows"]
    pix = next(x for x in r.json("explore.json")["rows"] if x["built_from"] == '{"form": "pixel"}')
    gen = attack_rows(c10(r), "gen0 km10", "fine")[0]

    def fp(row: dict) -> str:
        return pair(row["final"], row["peak"])

    rows = [
        ["none (clean)", "—", fp(study_row(t, "clean", "fine", "—"))],
        ["random sign, 4-px blocks, per **true fine class** (`random-class`, built from fine)",
         f"{study_row(t, 'random-class', 'fine', 'fine')['craft_s']:.1f} s", fp(study_row(t, "random-class", "fine", "fine"))],
        ["random sign, per-pixel, per K-means cluster (`random-cluster form=pixel`)", f"{pix['craft_s']:.0f} s", fp(pix)],
        ["random sign, 4-px blocks, per K-means cluster (`random-cluster`, default form)",
         f"{study_row(t, 'random-cluster', 'fine')['craft_s']:.0f} s", fp(study_row(t, "random-cluster", "fine"))],
        ["UC objective, 4-px-block δ, 60 steps (`uc`)", f"{study_row(t, 'uc', 'fine')['craft_s']:.0f} s",
         fp(study_row(t, "uc", "fine"))],
        ["an **untrained** generator's output per K-means cluster (`gen-cluster`, the default; docs/granularity.md)",
         f"K-means + {gen['craft_cpu_s']:.1f} s (CPU)", f"**{fp(gen)}**"],
    ]
    return md_table(["noise (one pattern per …)", "crafting", "fine final / peak"], rows)


@block("results-label-agnostic", "table.json", rows="every row, attacker seed 0")
def _results_label_agnostic(r: Results) -> str:
    """The label-agnostic table (issue 4)."""
    t = r.json("table.json")["rows"]
    out = []
    for method, built, label in (("clean", "—", "clean"), ("random-class", "fine", "random-class (4-px sign blocks)"),
                                 ("random-class", "coarse", "random-class"), ("em-class", "coarse", "em-class"),
                                 ("random-cluster", "—", "random-cluster (no labels)"), ("uc", "—", "uc (no labels)")):
        fine, coarse = study_row(t, method, "fine", built), study_row(t, method, "coarse", built)
        vis = "—" if method == "clean" else f"{fine['psnr']:.2f} / {fine['ssim']:.3f}"
        craft = "—" if method == "clean" else (f"{fine['craft_s']:.1f}" if fine["craft_s"] < 10 else f"{fine['craft_s']:.0f}")
        out.append([label, built, pair(fine["final"], fine["peak"]), pair(coarse["final"], coarse["peak"]), vis, craft])
    return md_table(["training data", "built from", "fine final / peak", "coarse final / peak", "PSNR / SSIM",
                     "crafting s"], out)


@block("results-granularity", "granularity.json", "granularity_cifar10.json", "seeds.json", "purity.json",
       rows="CIFAR-100: removed_peak, worst over the seeds stored (seed 0 only where marked); CIFAR-10: worst peak "
            "over seeds 0-2 and its removed")
def _results_granularity(r: Results) -> str:
    """Many classes: removed on CIFAR-100 dev and the CIFAR-10 fine peak per noise."""
    a, a10 = c100(r), c10(r)

    def c100_cell(noise: str, view: str) -> str:
        rows = attack_rows(a, noise, view)
        return f2(worst_removed(rows)) + ("" if len(rows) > 1 else " (seed 0)")

    def c10_cell(noise: str) -> str:
        rows = attack_rows(a10, noise, "fine")
        return f"{f3(worst_peak(rows))} ({f2(worst_removed(rows))})"

    uc_c10 = seeds_worst(r, "fine")
    uc_row = r.json("seeds.json")["rows"][0]
    uc_removed = (uc_row["clean_peak"] - uc_c10) / (uc_row["clean_peak"] - uc_row["chance"])
    km20 = study_row(r.json("purity.json")["rows"], "K-means 224px standardize p=20", "fine")["peak"]
    rows = [
        ["`uc` p = 10, 4-px blocks optimised (CIFAR-100: 30 steps at 64 px, the notebooks' size; CIFAR-10: 60 steps)",
         c100_cell("uc km10 (30 steps, 64 px)", "fine"), c100_cell("uc km10 (30 steps, 64 px)", "coarse"),
         f"{f3(uc_c10)} ({f2(uc_removed)})"],
        ["`random-cluster` p = 10, 4-px random blocks", c100_cell("km10", "fine"), c100_cell("km10", "coarse"),
         c10_cell("random-cluster km10")],
        ["`random-cluster` p = 20", c100_cell("km20", "fine"), c100_cell("km20", "coarse"),
         f"{f3(km20)} (seed 0, purity study)"],
        ["**`gen-cluster` p = 10** (untrained generator pattern per cluster; the default)",
         f"**{c100_cell('gen0 km10', 'fine')}**", f"**{c100_cell('gen0 km10', 'coarse')}**", f"**{c10_cell('gen0 km10')}**"],
        ["`gen-cluster` p = 20", c100_cell("gen0 km20", "fine"), c100_cell("gen0 km20", "coarse"), c10_cell("gen0 km20")],
        ["official generators trained 1 epoch on 100 images each, p = 10", "—", "—", c10_cell("official E=1 M=100 km10")],
        ["class-wise from the 20 coarse labels (label-based)", c100_cell("class@coarse", "fine"),
         c100_cell("class@coarse", "coarse"), "—"],
    ]
    return md_table(["noise (no labels unless stated)", "CIFAR-100 fine: removed", "CIFAR-100 coarse: removed",
                     "CIFAR-10 fine: worst peak (removed)"], rows)


@block("results-attackers", "attackers.json", rows="model × method, fine, seed 0")
def _results_attackers(r: Results) -> str:
    """Which attacker: the three candidates."""
    rows = r.json("attackers.json")["rows"]
    out = []
    for model, label in (("small-cnn", "`small-cnn` (CPU default)"), ("vgg-small", "`vgg-small` (2×3 conv blocks, 32-64-128)"),
                         ("resnet18-quarter", "`resnet18-quarter` (CIFAR ResNet-18, ¼ width)")):
        clean = study_row(rows, "clean", "fine", model=model)
        prot = study_row(rows, "random-class@fine", "fine", model=model)
        out.append([label, f"{clean['params_m']:.2f}M", f"{clean['train_img_s']:.0f}", pair(clean["final"], clean["peak"]),
                    pair(prot["final"], prot["peak"])])
    return md_table(["attacker", "parameters", "training img/s (1 thread, batch 128, other jobs sharing the cores)",
                     "clean final / peak", "random-class@fine final / peak"], out)


@block("results-seeds", "seeds.json", rows="uc, seeds 0-2; clean_* = the seed-0 clean run")
def _results_seeds(r: Results) -> str:
    """Robustness of ``uc`` over attacker seeds."""
    rows = r.json("seeds.json")["rows"]
    out = []
    for view in ("fine", "coarse"):
        rs = sorted((x for x in rows if x["labels"] == view), key=lambda x: x["seed"])
        worst = max(x["peak"] for x in rs)
        out.append([view, pair(rs[0]["clean_final"], rs[0]["clean_peak"]), " / ".join(f3(x["peak"]) for x in rs),
                    f3(worst), f2(worst / rs[0]["clean_peak"])])
    return md_table(["view", "clean (seed 0) final / peak", "uc peaks, seeds 0 / 1 / 2", "worst peak", "worst / clean"], out)


@block("results-purity", "purity.json", "table.json", rows="every grouping, fine, seed 0; clean from table.json")
def _results_purity(r: Results) -> str:
    """Protection against cluster purity."""
    rows = r.json("purity.json")["rows"]
    labels = {"true classes, 0% reassigned": "true fine classes (oracle)",
              "K-means 224px standardize p=10": "K-means, EfficientNet-Lite0 224 px, standardised, **p=10**",
              "true classes, 30% reassigned": "true classes, 30% of images reassigned at random",
              "K-means 224px standardize p=20": "K-means, same features, p=20",
              "K-means 224px standardize p=50": "K-means, same features, p=50",
              "true classes, 60% reassigned": "true classes, 60% reassigned",
              "true classes, 90% reassigned": "true classes, 90% reassigned",
              "random clusters p=10": "random clusters (lower bound)"}
    out = []
    for method, label in labels.items():
        x = study_row(rows, method, "fine")
        out.append([label, f3(x["purity_fine"]), f3(x["nmi_fine"]), f3(x["purity_coarse"]), pair(x["final"], x["peak"])])
    clean = study_row(r.json("table.json")["rows"], "clean", "fine", "—")
    out.append(["clean", "—", "—", "—", pair(clean["final"], clean["peak"])])
    return md_table(["grouping", "purity (fine)", "NMI (fine)", "purity (coarse)", "fine final / peak"], out)


@block("results-levers", "levers.json", rows="EfficientNet-Lite0, every resolution × preprocessing, p = 10 and 20")
def _results_levers(r: Results) -> str:
    """Raising purity without labels: resolution and preprocessing."""
    rows = r.json("levers.json")["rows"]
    names = {"none": "none (raw)", "l2": "L2 (spherical K-means)", "standardize": "standardised (default)",
             "pca-whiten": "PCA-whitened"}
    keys = []
    for x in rows:
        if (x["resolution"], x["mode"]) not in keys:
            keys.append((x["resolution"], x["mode"]))
    out = []
    for res, mode in keys:
        p10 = next(x for x in rows if x["resolution"] == res and x["mode"] == mode and x["p"] == 10)
        p20 = next(x for x in rows if x["resolution"] == res and x["mode"] == mode and x["p"] == 20)
        out.append([f"{res} px", names.get(mode, mode) if res == 224 else mode.replace("standardize", "standardised").replace("l2", "L2"),
                    f"{pair(p10['purity_fine'], p10['nmi_fine'])} ({f3(p10['purity_coarse'])})",
                    pair(p20["purity_fine"], p20["nmi_fine"])])
    return md_table(["surrogate input", "preprocessing", "p=10 purity / NMI (purity vs coarse)", "p=20 purity / NMI"], out)


@block("results-sweep", "sweep.json", rows="method × view × defense, seed 0; worst case from its `worst_case` list")
def _results_sweep(r: Results) -> str:
    """Countermeasures: peak (final) per defense and the worst case per method."""
    d = r.json("sweep.json")
    out = []
    for view in ("fine", "coarse"):
        for method, built, label in (("clean", "—", "clean"), ("random-class", "fine", "random-class (built from fine)"),
                                     ("uc", "—", "uc"), ("uc-robust", "—", "uc-robust (achromatic 2-px blocks)")):
            cells = []
            for dfn in ("none", "jpeg:10", "grayscale"):
                x = study_row(d["rows"], method, view, built, defense=dfn)
                cells.append(f3(x["peak"]) + ("" if method == "clean" or f3(x["final"]) == f3(x["peak"])
                                              else f" ({f3(x['final'])})"))
            if method == "clean":
                worst = "—"
            else:
                w = next(w for w in d["worst_case"] if w["method"] == method and w["labels"] == view)
                worst = f"**{f3(w['worst_peak'])}** ({w['worst_defense']})"
            out.append([label, view, *cells, worst])
    return md_table(["training data", "view", "none", "jpeg:10", "grayscale", "**worst case**"], out)


@block("results-survival", "survival.json", rows="every row (first 2,000 training images)")
def _results_survival(r: Results) -> str:
    """How much of each noise a countermeasure leaves."""
    names = {"uc": "`uc` (colour 4-px blocks)", "uc-robust": "`uc-robust` (achromatic 2-px blocks)",
             "random-class@fine": "`random-class` (colour 4-px blocks)"}
    cols = ["jpeg:10", "jpeg:30", "jpeg:50", "grayscale", "blur:1"]
    out = [[names.get(x["method"], x["method"]), *[f3(x[c]) for c in cols]] for x in r.json("survival.json")["rows"]]
    return md_table(["noise", *cols], out)


@block("results-robust", "sweep.json", "robust.json", rows="fine, seed 0, peak (final); robust.json rows by options")
def _results_robust(r: Results) -> str:
    """What was tried to make UC survive countermeasures."""
    rb = r.json("robust.json")["rows"]

    def sweep_cells(method: str, finals: bool) -> list[str]:
        vals = [sweep_peak(r, method, "fine", dfn) for dfn in ("none", "jpeg:10", "grayscale")]
        return [f3(x["peak"]) + (f" ({f3(x['final'])})" if finals else "") for x in vals]

    def robust(method: str, options: str, defense: str) -> dict | None:
        hits = [x for x in rb if x["method"] == method and x["options"] == options and x["defense"] == defense]
        return hits[0] if hits else None

    def robust_row(label: str, method: str, options: str, final_in_none: bool = False) -> list[str]:
        cells, peaks = [], []
        for dfn in ("none", "jpeg:10", "grayscale"):
            x = robust(method, options, dfn)
            if x is None:
                cells.append("—")
                continue
            peaks.append(x["peak"])
            cells.append(f3(x["peak"]) + (f" (final {f3(x['final'])})" if final_in_none and dfn == "none" else ""))
        worst = f3(max(peaks)) if len(peaks) == 3 else f"≥ {f3(max(peaks))}"
        return [label, *cells, worst]

    uc = sweep_cells("uc", False)
    ucr = sweep_cells("uc-robust", True)
    ucr_worst = max(sweep_peak(r, "uc-robust", "fine", d)["peak"] for d in ("none", "jpeg:10", "grayscale"))
    rows = [
        ["`uc` (colour 4-px blocks, UC objective)", *uc,
         f3(max(sweep_peak(r, "uc", "fine", d)["peak"] for d in ("none", "jpeg:10", "grayscale")))],
        robust_row("`uc` objective with achromatic 4-px blocks (first `uc-robust`)", "uc-robust", '{"lowfreq_res": 8}'),
        robust_row("random achromatic 4-px blocks per cluster", "random-cluster", '{"gray": true, "lowfreq_res": 8}'),
        robust_row("random achromatic 4-px blocks per **true class** (oracle)", "random-class",
                   '{"gray": true, "lowfreq_res": 8}', final_in_none=True),
        robust_row("random achromatic 2-px blocks per cluster", "random-cluster", '{"gray": true, "lowfreq_res": 16}'),
        ["`uc-robust` (UC objective, achromatic 2-px blocks)", *ucr, f3(ucr_worst)],
    ]
    return md_table(["noise", "none", "jpeg:10", "grayscale", "worst"], rows)


@block("results-strengths", "visibility.json", rows="the rows with a `strength`; ΔE00 mean over the four photos / worst photo")
def _results_strengths(r: Results) -> str:
    """The ``--strength`` points and their visibility."""
    what = {"subtle": "ε 8, 16×16 cells, luminance only, texture mask",
            "balanced": "ε 16, 16×16 cells, luminance only, texture mask",
            "strong": "ε 16, 16×16 cells, luminance only", "paper": "ε 16, 8×8 cells, three colour channels"}
    out = []
    for s, desc in what.items():
        x = vis_row(r, strength=s)
        label = {"balanced": "**`balanced`** (default)", "paper": "`paper` (the old default)"}.get(s, f"`{s}`")
        out.append([label, desc, pair(x["visibility"]["mean"]["de2000_mean"], x["visibility"]["worst_de2000_mean"], f2)])
    return md_table(["`--strength`", "noise", "mean ΔE00 on the four photos (mean / worst photo)"], out)


#: candidates of visibility.json measured earlier under the 10k protocol: (file, method, options key, value)
EARLIER_10K = {
    "paper (old default): rgb 8 cells ε16": ("explore.json", "built_from", '{"form": "lowfreq"}', 16),
    "rgb 8 cells ε8": ("explore.json", "built_from", '{"form": "lowfreq"}', 8),
    "luma 8 cells ε16": ("robust.json", "options", '{"gray": true, "lowfreq_res": 8}', None),
    "strong: luma 16 cells ε16": ("robust.json", "options", '{"gray": true, "lowfreq_res": 16}', None),
}


def earlier_10k(r: Results, name: str) -> str:
    """``peak / final`` of a visibility candidate under the 10k K-means protocol, or ``—``."""
    if name not in EARLIER_10K:
        return "—"
    file, key, opt, eps = EARLIER_10K[name]
    hits = [x for x in r.json(file)["rows"] if x["method"] == "random-cluster" and x[key] == opt
            and x.get("defense", "none") == "none" and (eps is None or x.get("eps255") == eps)]
    return pair(hits[0]["peak"], hits[0]["final"])


@block("results-visibility", "visibility.json", "explore.json", "robust.json",
       rows="every candidate; the 10k column from explore.json / robust.json (random pattern per K-means cluster, seed 0)")
def _results_visibility(r: Results) -> str:
    """Visibility (and protection where measured) of every photo-noise candidate."""
    out = []
    for x in r.json("visibility.json")["rows"]:
        m, prot = x["visibility"]["mean"], x.get("protection")
        out.append([x["name"], pair(m["de2000_mean"], x["visibility"]["worst_de2000_mean"], f2), f2(m["de2000_p95"]),
                    f2(m["de2000_share_jnd"]), f"{m['psnr']:.1f}", f3(m["ssim"]), earlier_10k(r, x["name"]),
                    f3(prot["worst_peak"]) if prot else "—", f3(prot["worst_final"]) if prot else "—",
                    len(prot["runs"]) if prot else 0])
    return md_table(["construction", "ΔE00 mean (4 photos: mean / worst)", "ΔE00 p95", "share > 2.3", "PSNR dB", "SSIM",
                     "fine peak / final, 10k K-means, seed 0 (earlier)", "fine peak, worst of seeds (2,000 train, "
                     "true-class groups)", "fine final, worst", "seeds"], out)


@block("results-photo-protection", "visibility.json", rows="the candidates with a protection run; clean = `clean`")
def _results_photo_protection(r: Results) -> str:
    """Protection of the photo constructions (random cells per true fine class, 2,000 training images)."""
    d = r.json("visibility.json")
    out = [["none (clean)", "0", pair(d["clean"]["peaks"][0], d["clean"]["finals"][0]), "0"]]
    for x in d["rows"]:
        prot = x.get("protection")
        if not prot:
            continue
        runs = prot["runs"]
        per_seed = "" if len(runs) == 1 else " (worst; " + " / ".join(f3(s["peak"]) for s in runs) + ")"
        out.append([x["name"], f"{x['visibility']['mean']['de2000_mean']:.2f} ({x['visibility']['worst_de2000_mean']:.2f})",
                    pair(prot["worst_peak"], prot["worst_final"]) + per_seed, ", ".join(str(s["seed"]) for s in runs)])
    return md_table(["construction", "ΔE00 mean, 4 photos (worst photo)",
                     "fine peak / final, 2k train, one random cell pattern per true fine class", "attacker seeds"], out)


@block("results-bench-profile", "bench_craft_profile.json", rows="`models` (modelled from the measured unit costs)")
def _results_bench_profile(r: Results) -> str:
    """Time models of ours vs the official schedule from measured unit costs."""
    out = []
    for m in r.json("bench_craft_profile.json")["models"]:
        out.append([f"{m['n']:,}", f"{m['ours_s']:,.0f}", f"{m['ours_share_features'] * 100:.0f} %",
                    f"{m['ours_share_steps'] * 100:.0f} %", f"{m['official_s']:,.0f}", f"{m['speedup']:,.0f}×"])
    return md_table(["N", "ours (modelled)", "of which features", "of which 60 steps", "official, 50 epochs (modelled)",
                     "cost ratio (unequal protection)"], out)


@block("results-bench-features", "bench_features.json", rows="EfficientNet-Lite0 rows, one thread")
def _results_bench_features(r: Results) -> str:
    """Surrogate throughput per input resolution."""
    out = [[f"{x['resolution']} px", f"{x['fwd_img_s']:.0f}", f"{x['fwd_bwd_img_s']:.0f}"]
           for x in r.json("bench_features.json")["rows"] if not x.get("skipped")]
    return md_table(["EfficientNet-Lite0 input", "forward img/s", "forward+backward img/s"], out)


# ---------------------------------------------------------------------------------------------- demo and claims


@block("nb00-ranges", "notebook00_seeds.json", rows="`runs`: one per (threads, seed) of notebook 00")
def _nb00_ranges(r: Results) -> str:
    """Peak accuracy range over the stored notebook-00 runs (its attackers at the cpu-quick size)."""
    runs = r.json("notebook00_seeds.json")["runs"]
    labels = {"clean": "clean", "random-class@fine": "class-wise noise built from the 10 fine labels",
              "random-class@coarse": "class-wise noise built from the 2 coarse labels", "uc": "UC (no labels)"}
    out = [[label, f"{f3(min(x[m] for x in runs))} – {f3(max(x[m] for x in runs))} ({len(runs)} runs)"]
           for m, label in labels.items()]
    return md_table(["training data (notebook 00)", "peak accuracy, range over runs"], out)


@block("nb00-differences", "notebook00_seeds.json", rows="`differences`")
def _nb00_differences(r: Results) -> str:
    """Notebook 00's contrasts at the cpu-quick size, against the seed spread."""
    out = [[f"{d['larger']} − {d['smaller']}", signed3(d["mean"]), signed3(d["min"]), f3(d["spread"]),
            "yes" if d["clear"] else "no"] for d in r.json("notebook00_seeds.json")["differences"].values()]
    return md_table(["difference (peak)", "mean", "smallest", "spread", "mean ≥ 2 × spread"], out)


@block("demo-seeds", "demo_seeds.json", rows="`differences`: the demo's own runs at its configuration")
def _demo_seeds(r: Results) -> str:
    """The differences the demo states, over its own runs at its configuration, against their seed spread."""
    d = r.json("demo_seeds.json")
    out = [[f"{x['larger']} − {x['smaller']}", signed3(x["mean"]), signed3(x["min"]), f3(x["spread"]),
            "yes" if x["clear"] else "no"] for x in d["differences"].values()]
    return md_table(["difference (peak)", "mean", "smallest", "spread", "smallest ≥ 2 × spread"], out)


@block("demo-sizes", "demo_seeds.json", rows="`sizes_tried`: each demo configuration run, its cold-cache seconds")
def _demo_sizes(r: Results) -> str:
    """Demo sizes tried: the cold run's seconds against gen-cluster's drop and its spread over seeds."""
    out = []
    for x in r.json("demo_seeds.json")["sizes_tried"]:
        spread = "—" if x["spread"] is None else f3(x["spread"])
        out.append([f"{x['n_train']:,} / {x['epochs']} / {x['resolution']} px",
                    "—" if x["cold_seconds"] is None else f"{x['cold_seconds']:.0f}", seed_span(x["seeds"]),
                    f"{signed3(x['gen_cluster_drop_min'])} … {signed3(x['gen_cluster_drop_mean'])}", spread,
                    "yes" if x["clear"] else "no"])
    return md_table(["training images / epochs / feature side", "seconds, cold cache", "attacker seeds",
                     "clean − gen-cluster: smallest … mean", "spread", "smallest ≥ 2 × spread"], out)


def demo_runs_text(r: Results, name: str = "demo_seeds.json") -> str:
    """``8 runs: attacker seeds 0–4 at 1 thread, 0–2 at 2 threads`` from the stored runs of ``name``."""
    d = r.json(name)
    runs = [x for x in d["runs"] if "config" not in x or x["config"] == d.get("config")]
    per = {}
    for x in runs:
        per.setdefault(x["threads"], []).append(x["seed"])
    parts = [f"seeds {seed_span(sorted(s))} at {t} thread{'s' if t > 1 else ''}" for t, s in sorted(per.items())]
    return f"{len(runs)} run{'' if len(runs) == 1 else 's'}: attacker " + ", ".join(parts)


def seed_span(seeds: list[int]) -> str:
    """``0–4`` for consecutive seeds, else ``0, 2, 3``."""
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


value("demo.runs", "demo_seeds.json", rows="`runs` at the demo's configuration: count and (threads, seed) pairs")(
    demo_runs_text)
value("nb00.runs", "notebook00_seeds.json", rows="`runs`: count and (threads, seed) pairs")(
    lambda r: demo_runs_text(r, "notebook00_seeds.json"))


def claims_table_rows(r: Results) -> tuple[dict, list[dict]]:
    """The stored claims table (one commit) and its rows, as ``benchmarks/claims.py table`` wrote them."""
    d = r.json("claims.json")
    if "table" not in d:
        raise DocsError("claims.json has no `table` (rerun `python benchmarks/claims.py table`)")
    return d["table"], d["table"]["rows"]


@block("claims", "claims.json", rows="`table`: runs of one code version, margin = value − bound recomputed")
def _claims(r: Results) -> str:
    """Every enforced notebook claim and its smallest margin over the runs of one code version."""
    _, rows = claims_table_rows(r)
    out = [[x["notebook"], x["claim"], f"{x['n_runs']} ({x.get('runs_at', '')})", signed3(x["min_margin"]), x["at"]]
           for x in rows]
    return md_table(["notebook", "claim", "runs", "smallest margin", "where"], out)


@value("claims.version", "claims.json", rows="`table.version` and its runs")
def _claims_version(r: Results) -> str:
    """Which code version the claims table aggregates and how many runs it has."""
    table, rows = claims_table_rows(r)
    n = max((x["n_runs"] for x in rows), default=0)
    return f"{table['version']} ({n} run{'s' if n != 1 else ''}: {table['runs_text']})"


@value("claims.other-versions", "claims.json", rows="`versions`: the stored runs of every other code version")
def _claims_other_versions(r: Results) -> str:
    """The stored runs the table leaves out, per code version."""
    table, _ = claims_table_rows(r)
    others = [v for v in r.json("claims.json")["versions"] if v["version"] != table["version"]]
    return "; ".join(f"{v['version']}: {v['runs_text']}" for v in others) or "none"


# ---------------------------------------------------------------------------------------------- docs/granularity.md


@block("granularity-patterns", "granularity.json", rows="km10, km20, pixel km20, gen0 km10, gen0 km20; seed 0")
def _granularity_patterns(r: Results) -> str:
    """Same K-means clusters, different pattern per cluster (CIFAR-100 dev, seed 0)."""
    a = c100(r)
    out = []
    for noise, label, p in (("km10", "random ±ε sign, 4-px blocks (`random-cluster`)", 10),
                            ("km20", "random ±ε sign, 4-px blocks (`random-cluster`)", 20),
                            ("pixel km20", "random ±ε sign, per pixel", 20),
                            ("gen0 km10", "**an untrained image generator's output (`gen-cluster`)**", 10),
                            ("gen0 km20", "an untrained image generator's output (`gen-cluster`)", 20)):
        fine, coarse = attack_rows(a, noise, "fine")[0], attack_rows(a, noise, "coarse")[0]
        out.append([label, p, f3(fine["peak"]), f3(coarse["peak"]), pair(fine["removed_peak"], coarse["removed_peak"], f2)])
    return md_table(["noise per K-means cluster", "p", "fine peak", "coarse peak", "removed fine / coarse"], out)


@block("granularity-worst", "granularity.json", "granularity_cifar10.json", "seeds.json",
       rows="removed_peak worst over the seeds stored (seed 0 only where marked); CIFAR-10 worst peak over seeds 0-2")
def _granularity_worst(r: Results) -> str:
    """Worst over attacker seeds at the peak, the issue's criterion."""
    a, a10 = c100(r), c10(r)

    def cell(noise: str, view: str) -> str:
        rows = attack_rows(a, noise, view)
        return f2(worst_removed(rows)) + (" (seed 0 only)" if len(rows) == 1 else "")

    def cell10(noise: str) -> str:
        rows = attack_rows(a10, noise, "fine")
        return f"{f3(worst_peak(rows))} (removed {f2(worst_removed(rows))})"

    out = [
        ["`uc` p = 10 (CIFAR-100: 30 steps, 64 px; CIFAR-10: 60 steps, docs/results.md)",
         cell("uc km10 (30 steps, 64 px)", "fine"), cell("uc km10 (30 steps, 64 px)", "coarse"), f3(seeds_worst(r, "fine"))],
        ["`random-cluster` p = 10 (4-px blocks)", cell("km10", "fine"), cell("km10", "coarse"), cell10("random-cluster km10")],
        ["**`gen-cluster` p = 10**", cell("gen0 km10", "fine"), cell("gen0 km10", "coarse"), cell10("gen0 km10")],
        ["`gen-cluster` p = 20", cell("gen0 km20", "fine"), cell("gen0 km20", "coarse"), cell10("gen0 km20")],
        ["the official generators trained 1 epoch on 100 images each, p = 10", "—", "—", cell10("official E=1 M=100 km10")],
    ]
    return md_table(["noise", "CIFAR-100 fine: removed", "CIFAR-100 coarse: removed", "CIFAR-10 fine: peak (removed)"], out)


@value("granularity.gen10.seed-detail", "granularity.json", rows="gen0 km10 and clean, fine and coarse, every seed")
def _granularity_seed_detail(r: Results) -> str:
    """Per-seed peaks of ``gen-cluster`` p = 10 against clean on CIFAR-100 dev."""
    a = c100(r)

    def peaks(noise: str, view: str) -> str:
        return " / ".join(f3(x["peak"]) for x in attack_rows(a, noise, view))

    finals = [x["final"] for v in ("fine", "coarse") for x in attack_rows(a, "gen0 km10", v)]
    return (f"peaks {peaks('gen0 km10', 'fine')} fine against clean {peaks('clean', 'fine')}; "
            f"{peaks('gen0 km10', 'coarse')} coarse against {peaks('clean', 'coarse')}; "
            f"finals {f3(min(finals))}–{f3(max(finals))}")


@block("granularity-labels", "granularity.json", rows="class@… noises, seed 0, removed_peak / removed_final")
def _granularity_labels(r: Results) -> str:
    """Which label relations break label-based noise (CIFAR-100 dev, seed 0)."""
    a = c100(r)
    groupings = {(g["grouping"], g["view"]): g for g in r.json("granularity.json")["groupings"]}

    def hc(noise: str, view: str) -> str:
        g = groupings.get((noise, view))
        return "—" if g is None else f"{g['homogeneity']:.2g} / {g['completeness']:.2g}"

    def rem(noise: str, view: str) -> str:
        x = attack_rows(a, noise, view)[0]
        return pair(x["removed_peak"], x["removed_final"], f2)

    out = []
    for noise, view, label, relation in (
            ("class@fine", "fine", "fine → fine", "consistent"), ("class@coarse", "coarse", "coarse → coarse", "consistent"),
            ("class@coarse", "fine", "coarse (20) → fine (100)", "protector coarser"),
            ("class@regroup:20:0", "fine", "regroup:20 → fine", "protector coarser, meaningless groups"),
            ("class@fine", "coarse", "fine → coarse", "protector finer"),
            ("class@fine", "regroup:20:0", "fine → regroup:20", "protector finer"),
            ("class@coarse", "regroup:20:0", "coarse → regroup:20", "cross-cutting"),
            ("class@regroup:20:0", "coarse", "regroup:20 → coarse", "cross-cutting")):
        out.append([label, relation, hc(noise, view), rem(noise, view)])
    s = "class@coarse+fine (sum)"
    out.append(["coarse + fine summed in one δ → fine / coarse", "both", "—",
                f"{rem(s, 'fine')}, {rem(s, 'coarse')}"])
    return md_table(["noise built from → attacker's labels", "relation", "homogeneity / completeness",
                     "removed peak / final"], out)


# ---------------------------------------------------------------------------------------------- docs/frontier.md


@block("frontier-n500", "frontier.json", rows="`summary.rows`, sorted by CPU s; ★ = `summary.pareto` (fine view)")
def _frontier_n500(r: Results) -> str:
    """The cost–protection frontier at N = 500."""
    s = r.json("frontier.json")["summary"]
    pareto = set((s.get("pareto") or {}).get("fine", []))
    out = []
    for x in sorted(s["rows"], key=lambda x: (round(x["seconds"]), x["name"] == "gen-cluster")):
        f, c = x["protection"]["fine"], x["protection"]["coarse"]
        star = " ★" if x["name"] in pareto else ""
        out.append([x["name"] + star, f"{x['seconds']:.0f}", f"{f3(f['peak'])} ({f3(f['spread'])})", f3(f["final"]),
                    f2(f["removed"]), f"{f3(c['peak'])} ({f3(c['spread'])})", f3(c["final"]), f2(c["removed"])])
    return md_table(["configuration", "CPU s", "fine peak (spread)", "fine final", "fine removed", "coarse peak (spread)",
                     "coarse final", "coarse removed"], out)


@block("frontier-n10k", "granularity_cifar10.json", "seeds.json", "table.json", "frontier.json",
       rows="fine, seeds 0-2; `uc` from seeds.json (crafting wall s from table.json); modelled rows from "
            "frontier.json `summary.modelled_10k` and `cost_model`")
def _frontier_n10k(r: Results) -> str:
    """N = 10,000: the configurations that were run, per seed."""
    a10 = c10(r)

    def row(noise: str, label: str) -> list[str]:
        rows = attack_rows(a10, noise, "fine")
        return [label, seconds_text(rows[0]["craft_cpu_s"]), " / ".join(f3(x["peak"]) for x in rows), f3(worst_peak(rows)),
                f2(worst_removed(rows))]

    clean = attack_rows(a10, "clean", "fine")
    uc = sorted((x for x in r.json("seeds.json")["rows"] if x["labels"] == "fine"), key=lambda x: x["seed"])
    uc_craft = study_row(r.json("table.json")["rows"], "uc", "fine")["craft_s"]
    clean_mean = sum(x["peak"] for x in clean) / len(clean)
    uc_worst = max(x["peak"] for x in uc)
    out = [["clean", "—", " / ".join(f3(x["peak"]) for x in clean), "—", "—"],
           row("random-cluster km10", "`random-cluster` (4-px blocks)"),
           row("gen0 km10", "**`gen-cluster`** (untrained generators)"),
           row("official E=1 M=100 km10", "official, E = 1 on M = 100 images per generator"),
           ["`uc` (60 steps; earlier run, docs/results.md \"Robustness over attacker seeds\")", f"{uc_craft:.0f} (wall, shared)",
            " / ".join(f3(x["peak"]) for x in uc), f3(uc_worst), f2((clean_mean - uc_worst) / (clean_mean - clean[0]["chance"]))]]
    summary = r.json("frontier.json")["summary"]
    e1 = summary["modelled_10k"]["official E=1"]
    ms = summary["cost_model"]["official_s_per_image_pass"] * 1000
    out += [["official, E = 1 on all 10k images", f"{e1:,.0f} modelled (p × N passes × {ms:.1f} ms)", "not run", "—", "—"],
            ["official, published E = 50", f"{50 * e1:,.0f} modelled", "not run", "—", "—"]]
    return md_table(["configuration", "crafting CPU s", "fine peak per seed", "worst peak", "removed (worst)"], out)


@block("frontier-speedup", "bench_craft.json", rows="rows[0]: clean mean peak, the official run and `ours`, worst seed")
def _frontier_speedup(r: Results) -> str:
    """``bench_craft --quick`` at N = 500: crafting seconds and worst peaks."""
    row = r.json("bench_craft.json")["rows"][0]
    off = row["official"]
    names = {"random-cluster": "`random-cluster`", "gen-cluster": "**`gen-cluster`**", "uc:steps=30": "`uc` 30 steps",
             "uc": "`uc` 60 steps"}
    out = [["clean", "—", f"{pair(row['clean_mean_peak']['fine'], row['clean_mean_peak']['coarse'])} (mean)"],
           [f"official, 1 epoch per generator (50 epochs extrapolated: {off['seconds_50_epochs']:,.0f} s)",
            f"{off['seconds']:.0f}", pair(off["protection"]["fine"]["peak"], off["protection"]["coarse"]["peak"])]]
    for o in row["ours"]:
        out.append([names.get(o["name"], o["name"]), f"{o['seconds']:.0f}",
                    pair(o["protection"]["fine"]["peak"], o["protection"]["coarse"]["peak"])])
    return md_table(["configuration", "crafting s (wall, shared machine)", "worst peak fine / coarse (seeds 0–2)"], out)


# ---------------------------------------------------------------------------------------------- engine


def load_plugins(here: Path = Path(__file__).resolve().parent) -> None:
    """Import every ``tools/docs_tables_*.py`` so that it can register its own blocks."""
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    sys.modules.setdefault("docs_tables", sys.modules[__name__])
    for path in sorted(here.glob("docs_tables_*.py")):
        importlib.import_module(path.stem)


def doc_files(root: Path) -> list[Path]:
    """The markdown files scanned for markers under ``root``."""
    files: list[Path] = []
    for pattern in DOC_GLOBS:
        files += sorted(root.glob(pattern))
    return files


def render(text: str, results: Results, where: str = "") -> str:
    """``text`` with every generated block / value rewritten from ``results``."""
    opened = len(OPENING.findall(text))
    closed = len(MARKER.findall(text))
    if opened != closed:
        raise DocsError(f"{where}: {opened - closed} `<!-- generated:… -->` marker(s) without `<!-- /generated -->`")

    def replace(m: re.Match) -> str:
        name, body = m.group("name"), m.group("body")
        gen = REGISTRY.get(name)
        if gen is None:
            raise DocsError(f"{where}: unknown generated block {name!r} (see `python tools/docs_tables.py --list`)")
        out = gen.fn(results)
        if body.startswith("\n"):
            if not gen.inline:
                out = out.rstrip("\n") + "\n\n" + source_line(gen)
            return f"<!-- generated:{name} -->\n{out.rstrip(chr(10))}\n<!-- /generated -->"
        return f"<!-- generated:{name} -->{out}<!-- /generated -->"

    return MARKER.sub(replace, text)


def regenerate(root: Path = ROOT) -> dict[Path, tuple[str, str]]:
    """``{file: (committed, regenerated)}`` for every scanned markdown file."""
    load_plugins()
    results = Results(root)
    return {path: (path.read_text(), render(path.read_text(), results, str(path.relative_to(root))))
            for path in doc_files(root)}


#: where the package carries the stored results its notebooks draw (``nb.stored_benchmark``), relative to the root
SHIPPED = Path("ucs_lite") / "assets" / "results"


def stale_shipped(root: Path = ROOT) -> list[str]:
    """The shipped copies (every ``*.json`` in :data:`SHIPPED`) whose bytes differ from ``benchmarks/results/``."""
    return sorted(p.name for p in (root / SHIPPED).glob("*.json")
                  if p.read_bytes() != (root / "benchmarks" / "results" / p.name).read_bytes())


def check(root: Path = ROOT, out=sys.stdout) -> int:
    """0 if every generated block matches the stored results and every shipped copy its source; else 1 and a
    unified diff (or the stale copies' names) on ``out``."""
    bad = len(stale := stale_shipped(root))
    if stale:
        print(f"{SHIPPED} differs from benchmarks/results for: {', '.join(stale)}", file=out)
    for path, (old, new) in regenerate(root).items():
        if old != new:
            bad += 1
            rel = str(path.relative_to(root))
            out.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{rel} (committed)",
                                                f"{rel} (from benchmarks/results)"))
    if bad:
        print(f"\ncheck-docs: {bad} file(s) differ from benchmarks/results; run `make results-docs` "
              "(or fix the stored result) and commit", file=out)
    return 1 if bad else 0


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite every file whose generated blocks changed, and copy every stale shipped result again (its source in
    ``benchmarks/results/``); the changed files."""
    changed = []
    for name in stale_shipped(root):
        (root / SHIPPED / name).write_bytes((root / "benchmarks" / "results" / name).read_bytes())
        changed.append(root / SHIPPED / name)
    for path, (old, new) in regenerate(root).items():
        if old != new:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite (default), ``--check`` or ``--list``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff when committed text differs")
    ap.add_argument("--list", action="store_true", help="every registered block / value and its source JSON")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    a = ap.parse_args(argv)
    load_plugins()  # --list shows the plugins' blocks too
    try:
        if a.list:
            for gen in sorted(REGISTRY.values(), key=lambda g: g.name):
                kind = "value" if gen.inline else "block"
                print(f"{kind:5} {gen.name:40} {', '.join(gen.sources) or '-'}  {gen.rows}")
            return 0
        if a.check:
            return check(a.root)
        for path in write(a.root):
            print(f"rewrote {path.relative_to(a.root)}")
        return 0
    except DocsError as e:
        print(f"docs_tables: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
