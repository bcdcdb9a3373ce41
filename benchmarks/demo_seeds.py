"""Measure the demo's contrasts over attacker seeds, and write what the demo report quotes.

    python benchmarks/demo_seeds.py [--seeds 0,1,2] [--threads 2]

Runs the demo's configuration (``ucs_lite.demo.DEMO``: embedded sample, class-wise noise from fine and from
coarse labels, UC, small-CNN attacker with fine labels) for each attacker seed, and writes

* ``benchmarks/results/demo_seeds.json`` / ``.md``: every run, and for each difference the demo states its
  per-seed values, mean, spread (max − min over seeds) and whether mean ≥ 2 × spread;
* ``ucs_lite/assets/reference_results.json``: those differences plus the stored larger-scale result
  (``benchmarks/results/table.json`` and ``seeds.json``), which the demo report quotes.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ucs_lite.attack import AttackConfig
from ucs_lite.data import atomic_write_bytes, load
from ucs_lite.demo import DEMO, DEMO_METHODS
from ucs_lite.experiment import evaluate_cached, protect_all
from ucs_lite.surrogates import DEFAULT_SURROGATE, create_surrogate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "ucs_lite" / "assets"
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
        vals = [r["peak"] for r in rows if r["method"] == method and r["built_from"] == built_from
                and r["labels"] == "fine"]
        return max(vals)

    return {"n_train": 10000, "epochs": 12, "seeds": "0-2 for uc, 0 for the others",
            "clean": peak("clean", "—", table), "random-class@fine": peak("random-class", "fine", table),
            "random-class@coarse": peak("random-class", "coarse", table), "uc": peak("uc", "—", seeds),
            "source": "Shared CIFAR-10 subset: 10,000 training / 2,000 test images, the same small-CNN attacker "
                      "with fine labels, 12 epochs, default uc crafting (benchmarks/results/table.json, seeds.json; "
                      "docs/results.md)."}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    b = load("sample")
    b.train = b.train.balanced_subset(DEMO["n_train"], seed=0) if DEMO["n_train"] < len(b.train) else b.train
    b.test = b.test.balanced_subset(DEMO["n_test"], seed=0) if DEMO["n_test"] < len(b.test) else b.test
    surr = create_surrogate(DEFAULT_SURROGATE, resolution=DEMO["surrogate_resolution"])
    specs = [m for m, _ in DEMO_METHODS]
    t0 = time.time()
    prot = protect_all(b, specs, eps=DEMO["eps255"] / 255, p=DEMO["p"], surrogate=surr,
                       craft_options={"uc": DEMO["uc"]}, progress=False)
    craft_s = time.time() - t0
    runs = []
    for s in seeds:
        for m in specs:
            r = evaluate_cached(prot[m], DEMO["view"], AttackConfig(epochs=DEMO["epochs"], seed=s), progress=False)
            runs.append({"method": m, "seed": s, "peak": r["test_acc_peak"], "final": r["test_acc_final"],
                         "chance": r["chance"], "seconds": round(r["seconds"], 1)})
            print(f"{m:22s} seed {s}: peak {r['test_acc_peak']:.3f} final {r['test_acc_final']:.3f}", flush=True)
    peak = {(r["method"], r["seed"]): r["peak"] for r in runs}
    diffs = {}
    for name, hi, lo in DIFFERENCES:
        per_seed = [round(peak[(hi, s)] - peak[(lo, s)], 4) for s in seeds]
        mean = sum(per_seed) / len(per_seed)
        spread = max(max(peak[(m, s)] for s in seeds) - min(peak[(m, s)] for s in seeds) for m in (hi, lo))
        diffs[name] = {"larger": hi, "smaller": lo, "per_seed": per_seed, "mean": round(mean, 4),
                       "spread": round(spread, 4), "clear": mean >= 2 * spread}
    out = {"config": DEMO, "seeds": seeds, "threads": a.threads, "craft_seconds": round(craft_s, 1), "runs": runs,
           "differences": diffs,
           "spread_definition": "the larger of the two methods' max − min peak accuracy over the attacker seeds"}
    atomic_write_bytes(RESULTS / "demo_seeds.json", json.dumps(out, indent=2).encode())
    lines = ["| difference (peak) | per seed | mean | spread | mean ≥ 2 × spread |", "|---|---|---|---|---|"]
    lines += [f"| {d['larger']} − {d['smaller']} | {', '.join(f'{v:+.3f}' for v in d['per_seed'])} | "
              f"{d['mean']:+.3f} | {d['spread']:.3f} | {'yes' if d['clear'] else 'no'} |" for d in diffs.values()]
    atomic_write_bytes(RESULTS / "demo_seeds.md", ("\n".join(lines) + "\n").encode())
    ref = {"demo": {"config": DEMO, "seeds": seeds, "differences": diffs}, "large_scale": large_scale()}
    atomic_write_bytes(ASSETS / "reference_results.json", json.dumps(ref, indent=2).encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
