"""The demo's contrasts over attacker seeds and torch threads, and what the demo report quotes.

    python benchmarks/claims.py run --threads 1      # and --threads 2: notebook 00 = the demo's configuration
    python benchmarks/demo_seeds.py                  # → benchmarks/results/demo_seeds.{json,md}, ucs_lite/assets/reference_results.json

Notebook 00 runs exactly the demo's configuration (``ucs_lite.demo.DEMO``, read from the ``cpu-quick``
profile), so the demo's seed spread is measured by ``benchmarks/claims.py``'s runs of it: attacker seeds 0–4,
torch threads 1 and 2, cold caches. This script reads those runs' recorded numbers (``runs/claims-t*/``) and
writes, for each difference the demo states, its values per (threads, seed), mean, spread (the larger of the
two methods' max − min over seeds, per thread count) and whether mean ≥ 2 × spread; plus the stored
larger-scale result (``benchmarks/results/table.json`` and ``seeds.json``) that the report shows beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "ucs_lite" / "assets"
#: notebook 00's recorded number for each demo method
RECORDED = {"clean": "clean_peak", "random-class@fine": "fine_built_peak", "random-class@coarse": "coarse_built_peak",
            "uc": "uc_peak"}
#: (name, larger, smaller): the differences the demo states (peak accuracy, larger minus smaller)
DIFFERENCES = (("clean_vs_fine_built", "clean", "random-class@fine"),
               ("coarse_built_vs_fine_built", "random-class@coarse", "random-class@fine"),
               ("clean_vs_coarse_built", "clean", "random-class@coarse"),
               ("uc_vs_clean", "clean", "uc"))


def large_scale() -> dict:
    """The stored 10k-image results (shared CIFAR-10) the report shows beside the demo's own."""
    table = json.loads((RESULTS / "table.json").read_text())["rows"]
    seeds = json.loads((RESULTS / "seeds.json").read_text())["rows"]

    def peak(method, built_from, rows):
        return max(r["peak"] for r in rows if r["method"] == method and r["built_from"] == built_from
                   and r["labels"] == "fine")

    return {"n_train": 10000, "epochs": 12, "seeds": "0-2 for uc (worst), 0 for the others",
            "clean": peak("clean", "—", table), "random-class@fine": peak("random-class", "fine", table),
            "random-class@coarse": peak("random-class", "coarse", table), "uc": peak("uc", "—", seeds),
            "source": "Shared CIFAR-10 subset: 10,000 training / 2,000 test images, the same small-CNN attacker "
                      "with fine labels, 12 epochs, default uc crafting (benchmarks/results/table.json, seeds.json; "
                      "docs/results.md)."}


def collect() -> list[dict]:
    """One row per notebook-00 run under ``runs/claims-t*``: threads, seed and the four peak accuracies."""
    rows = []
    for summary in sorted(RUNS.glob("claims-t*/**/summary.json")):  # claims-t<threads>/[<commit>/]<stamp>/
        threads = int(summary.relative_to(RUNS).parts[0].removeprefix("claims-t"))
        for nbr in json.loads(summary.read_text())["notebooks"]:
            if nbr["name"] == "00_quickstart" and all(v in nbr["numbers"] for v in RECORDED.values()):
                rows.append({"threads": threads, "seed": nbr["params"]["seed"],
                             **{m: nbr["numbers"][k] for m, k in RECORDED.items()}})
    return rows


def main() -> None:
    from ucs_lite.data import atomic_write_bytes
    from ucs_lite.demo import DEMO

    runs = collect()
    if not runs:
        raise SystemExit("no notebook-00 runs under runs/claims-t*: run benchmarks/claims.py run first")
    diffs = {}
    for name, hi, lo in DIFFERENCES:
        values = [round(r[hi] - r[lo], 4) for r in runs]
        spread = max(max(r[m] for r in runs if r["threads"] == t) - min(r[m] for r in runs if r["threads"] == t)
                     for m in (hi, lo) for t in {r["threads"] for r in runs})
        mean = sum(values) / len(values)
        diffs[name] = {"larger": hi, "smaller": lo, "values": values, "mean": round(mean, 4), "min": min(values),
                       "spread": round(spread, 4), "clear": mean >= 2 * spread}
    seeds = sorted({r["seed"] for r in runs})
    out = {"config": DEMO, "runs": runs, "differences": diffs,
           "spread_definition": "per thread count, the larger of the two methods' max − min peak accuracy over the "
                                "attacker seeds; the largest over thread counts"}
    atomic_write_bytes(RESULTS / "demo_seeds.json", json.dumps(out, indent=2).encode())
    lines = [f"Demo configuration (notebook 00), attacker seeds {seeds}, threads "
             f"{sorted({r['threads'] for r in runs})}: {len(runs)} runs.", "",
             "| difference (peak) | mean | smallest | spread | mean ≥ 2 × spread |", "|---|---|---|---|---|"]
    lines += [f"| {d['larger']} − {d['smaller']} | {d['mean']:+.3f} | {d['min']:+.3f} | {d['spread']:.3f} | "
              f"{'yes' if d['clear'] else 'no'} |" for d in diffs.values()]
    atomic_write_bytes(RESULTS / "demo_seeds.md", ("\n".join(lines) + "\n").encode())
    ref = {"demo": {"config": DEMO, "seeds": f"{seeds[0]}-{seeds[-1]}", "differences": diffs},
           "large_scale": large_scale()}
    atomic_write_bytes(ASSETS / "reference_results.json", json.dumps(ref, indent=2).encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
