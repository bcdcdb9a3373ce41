"""Generated blocks and values of this study: docs/frontier.md: the cost–protection frontier.

Its numbers come from the results ``python benchmarks/frontier.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import (Results, attack_rows, block, c10, f2, f3, md_table, minmax, register_value, seconds_text,
                        study_row, worst_peak, worst_removed)


def _register_values() -> None:
    """The prose numbers of this study (one value each)."""
    reg = register_value
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


_register_values()


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
