"""Generated blocks and values of this study: the crafting benchmark: speed-up at equal protection, unit-cost profile.

Its numbers come from the results ``python benchmarks/bench_craft.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import Results, block, f2, f3, md_table, pair, register_value


def _register_values() -> None:
    """The prose numbers of this study (one value each)."""
    reg = register_value
    bc = "bench_craft.json"
    reg("bench.shared-setup", "bench_craft.json", "rows[0].shared_setup_s",
        lambda r: f"{r.json('bench_craft.json')['rows'][0]['shared_setup_s']:.0f}")
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


_register_values()


def bench_point(r: Results, who: str) -> dict:
    """``bench_craft.json``'s official run or one of our configurations (N = 500)."""
    row = r.json("bench_craft.json")["rows"][0]
    return row["official"] if who == "official" else next(o for o in row["ours"] if o["name"] == who)


@block("results-bench-profile", "bench_craft_profile.json", rows="`models` (modelled from the measured unit costs)")
def _results_bench_profile(r: Results) -> str:
    """Time models of ours vs the official schedule from measured unit costs."""
    out = []
    for m in r.json("bench_craft_profile.json")["models"]:
        out.append([f"{m['n']:,}", f"{m['ours_s']:,.0f}", f"{m['ours_share_features'] * 100:.0f} %",
                    f"{m['ours_share_steps'] * 100:.0f} %", f"{m['official_s']:,.0f}", f"{m['speedup']:,.0f}×"])
    return md_table(["N", "ours (modelled)", "of which features", "of which 60 steps", "official, 50 epochs (modelled)",
                     "cost ratio (unequal protection)"], out)


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
