"""Generated blocks and values of this study: docs/granularity.md and docs/results.md's granularity numbers (CIFAR-100
dev and the CIFAR-10 check).

Its numbers come from the results ``python benchmarks/granularity.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import (Results, attack_rows, block, c10, c100, c10_defended, f2, f3, md_table, pair, register_value,
                        seeds_worst, study_row, value, worst_peak, worst_removed)


def _register_values() -> None:
    """The prose numbers of this study (one value each)."""
    reg = register_value
    g = "granularity.json"
    c = "granularity_cifar10.json"
    d = "granularity_cifar10_defenses.json"
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
    for view in ("fine", "coarse"):
        reg(f"c100.clean.{view}.s0", g, f"clean, {view}, seed 0, peak",
            lambda r, v=view: f3(attack_rows(c100(r), "clean", v)[0]["peak"]))


_register_values()


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
