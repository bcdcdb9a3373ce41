"""Generated blocks and values of this study: the demo's and notebook 00's differences over attacker seeds
(demo_seeds.json, notebook00_seeds.json).

Its numbers come from the results ``python benchmarks/demo_seeds.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import Results, block, f3, md_table, register_value, signed3, value


def _register_values() -> None:
    """The prose numbers of this study (one value each)."""
    reg = register_value
    n0 = "notebook00_seeds.json"
    reg("nb00.uc-drop-range", n0, "differences.uc_vs_clean.values: min–max",
        lambda r: "–".join(f"{x:.2f}" for x in (min(r.json(n0)["differences"]["uc_vs_clean"]["values"]),
                                                max(r.json(n0)["differences"]["uc_vs_clean"]["values"]))))


_register_values()


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
