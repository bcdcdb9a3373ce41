"""The demo's stated differences over attacker seeds: the spread its report judges each difference against.

    UCS_LITE_THREADS=2 python benchmarks/demo_seeds.py run --seeds 0,1,2   # the demo itself, once per seed
    python benchmarks/demo_seeds.py import [--cold] runs/demo-*/          # demo runs made by `ucs-lite demo`
    python benchmarks/demo_seeds.py report          # → benchmarks/results/demo_seeds.json,
                                                    #   ucs_lite/assets/reference_results.json

``run`` executes :func:`ucs_lite.demo.run_demo` at its default configuration (:data:`ucs_lite.demo.DEMO`) for
each attacker seed (the protected sets come from the result cache after the first seed) and stores each run's
peak accuracies, threads, commit and configuration in ``benchmarks/results/demo_seeds.json`` (``runs``; earlier
runs are kept). ``report`` takes the stored runs made at the *current* ``DEMO`` configuration and writes, for
each difference the demo states, its values per (threads, seed), mean, smallest value, spread (per thread count,
the larger of the two methods' max − min peak accuracy over seeds; the largest over thread counts) and whether
the smallest value is at least twice the spread; plus the stored larger-scale result the report shows beside it.
The demo (:func:`ucs_lite.demo.is_clear`) uses that spread only when its own configuration is the one measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, ROOT, commit, write_result  # noqa: E402

RUNS = ROOT / "runs" / "demo_seeds"
ASSETS = ROOT / "ucs_lite" / "assets"


def stored() -> dict:
    """``benchmarks/results/demo_seeds.json`` (``{"runs": []}`` when absent or in the old notebook-00 format)."""
    path = RESULTS / "demo_seeds.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    runs = [r for r in data.get("runs", []) if "config" in r]  # older runs (notebook 00's) had no config
    return {**data, "runs": runs}


def run(seeds: list[int]) -> list[dict]:
    """The demo once per attacker seed at its default configuration; each run's peaks appended to the stored runs."""
    import torch

    from ucs_lite.demo import run_demo

    threads = int(os.environ.get("UCS_LITE_THREADS") or torch.get_num_threads())
    new = []
    for s in seeds:
        t0 = time.time()
        out = run_demo(seed=s, out_root=str(RUNS / f"t{threads}"), progress=False)
        res = json.loads((out / "results.json").read_text())
        new.append(record(res, threads, "as found", out.name))
        new[-1]["seconds"] = round(time.time() - t0, 1)
        print(f"[demo_seeds] threads {threads} seed {s}: {new[-1]['peaks']}", file=sys.stderr, flush=True)
        data = stored()
        data["runs"] = data["runs"] + [new[-1]]
        write_result("demo_seeds.json", data)
    return new


def record(res: dict, threads: int, cache: str, source: str) -> dict:
    """One stored run from a demo's ``results.json``: its configuration, seed, seconds and peaks."""
    return {"threads": threads, "seed": res["attacker_seed"], "config": res["config"], "commit": commit(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": res["seconds"],
            "cache": cache, "source": source, "peaks": {r["method"]: r["peak"] for r in res["rows"]}}


def import_runs(dirs: list[str], threads: int, cold: bool) -> None:
    """Store demo runs made elsewhere (``ucs-lite demo`` output folders), e.g. other sizes tried; ``cold``: the
    first of them ran from an empty cache (its seconds are what a new user waits)."""
    from ucs_lite.data import atomic_write_bytes

    data = stored()
    for i, d in enumerate(dirs):
        res = json.loads((Path(d) / "results.json").read_text())
        data["runs"].append(record(res, threads, "cold" if cold and i == 0 else "warm", Path(d).name))
    atomic_write_bytes(RESULTS / "demo_seeds.json", json.dumps(data, indent=2).encode())


def sizes_tried(runs: list[dict]) -> list[dict]:
    """Per configuration tried: its cold run's seconds and gen-cluster's drop and spread over the stored seeds."""
    out = {}
    for r in runs:
        key = json.dumps(r["config"], sort_keys=True)
        out.setdefault(key, []).append(r)
    rows = []
    for key, rs in out.items():
        cfg, diff = json.loads(key), differences(rs)["clean_vs_gen_cluster"]
        cold = [r["seconds"] for r in rs if r.get("cache") == "cold"]
        rows.append({"n_train": cfg["n_train"], "epochs": cfg["epochs"], "resolution": cfg["surrogate_resolution"],
                     "seeds": sorted({r["seed"] for r in rs}), "cold_seconds": cold[0] if cold else None,
                     "gen_cluster_drop_min": diff["min"], "gen_cluster_drop_mean": diff["mean"],
                     "spread": diff["spread"], "clear": diff["clear"]})
    return rows


def large_scale() -> dict:
    """The stored 10k-image results (shared CIFAR-10, 12 epochs, fine labels) the report shows beside the demo's:
    clean and class-wise noise from benchmarks/results/table.json, gen-cluster's worst of attacker seeds 0–2 from
    granularity_cifar10.json (the same clusters, p = 10)."""
    table = json.loads((RESULTS / "table.json").read_text())["rows"]
    gran = json.loads((RESULTS / "granularity_cifar10.json").read_text())["attacks"]

    def peak(method: str, built_from: str) -> float:
        return max(r["peak"] for r in table if r["method"] == method and r["built_from"] == built_from
                   and r["labels"] == "fine")

    gen = [r["peak"] for r in gran if r["noise"] == "gen0 km10" and r["view"] == "fine"]
    return {"n_train": 10000, "epochs": 12, "seeds": f"gen-cluster: worst of {len(gen)} seeds; the others seed 0",
            "clean": peak("clean", "—"), "random-class@fine": peak("random-class", "fine"),
            "random-class@coarse": peak("random-class", "coarse"), "gen-cluster": max(gen),
            "source": "Shared CIFAR-10 subset: 10,000 training / 2,000 test images, the same small-CNN attacker with "
                      "fine labels, 12 epochs (benchmarks/results/table.json; gen-cluster: the worst of attacker "
                      "seeds 0–2 in granularity_cifar10.json; docs/results.md)."}


def differences(runs: list[dict]) -> dict:
    """Each difference the demo states (``ucs_lite.demo.DIFFERENCES``) over ``runs``: values, mean, min, spread."""
    from ucs_lite.demo import DIFFERENCES

    out = {}
    for name, hi, lo in DIFFERENCES:
        values = [round(r["peaks"][hi] - r["peaks"][lo], 4) for r in runs]
        per = {t: [r for r in runs if r["threads"] == t] for t in {r["threads"] for r in runs}}
        ranges = [max(r["peaks"][m] for r in rs) - min(r["peaks"][m] for r in rs)
                  for m in (hi, lo) for rs in per.values() if len({r["seed"] for r in rs}) >= 2]
        spread = round(max(ranges), 4) if ranges else None  # one seed has no spread to judge by
        out[name] = {"larger": hi, "smaller": lo, "values": values, "mean": round(sum(values) / len(values), 4),
                     "min": min(values), "spread": spread, "clear": spread is not None and min(values) >= 2 * spread}
    return out


def report() -> dict:
    """Write demo_seeds.json (its table printed) and the package's reference_results.json from the runs at the
    current DEMO."""
    from ucs_lite.data import atomic_write_bytes
    from ucs_lite.demo import DEMO

    data = stored()
    runs = [r for r in data["runs"] if r["config"] == json.loads(json.dumps(DEMO))]
    if not runs:
        raise SystemExit("no stored demo runs at the current configuration: run `demo_seeds.py run` first")
    seeds = sorted({r["seed"] for r in runs})
    diffs = differences(runs)
    data.update({"config": DEMO, "differences": diffs, "sizes_tried": sizes_tried(data["runs"]),
                 "spread_definition": "per thread count, the larger of the two methods' max − min peak accuracy "
                                      "over the attacker seeds; the largest over thread counts. clear: the smallest "
                                      "value over runs ≥ 2 × spread"})
    write_result("demo_seeds.json", data)
    secs = sorted(r["seconds"] for r in runs)
    lines = [f"Demo configuration ({DEMO['n_train']:,} training images, {DEMO['epochs']} epochs, features at "
             f"{DEMO['surrogate_resolution']} px), attacker seeds {seeds}, threads "
             f"{sorted({r['threads'] for r in runs})}: {len(runs)} runs (commits "
             f"{', '.join(sorted({r['commit'] for r in runs}))}); seconds per run {secs[0]:.0f}–{secs[-1]:.0f} "
             "(the first with a cold cache).", "",
             "| difference (peak) | mean | smallest | spread | smallest ≥ 2 × spread |", "|---|---|---|---|---|"]
    lines += [f"| {d['larger']} − {d['smaller']} | {d['mean']:+.3f} | {d['min']:+.3f} | "
              f"{'—' if d['spread'] is None else format(d['spread'], '.3f')} | "
              f"{'yes' if d['clear'] else 'no'} |" for d in diffs.values()]
    ref = {"demo": {"config": DEMO, "seeds": f"{seeds[0]}-{seeds[-1]}", "differences": diffs},
           "large_scale": large_scale()}
    atomic_write_bytes(ASSETS / "reference_results.json", json.dumps(ref, indent=2).encode())
    print("\n".join(lines))
    return data


def main(argv: list[str] | None = None) -> None:
    """Command line: ``run`` or ``report``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", default="0,1,2")
    i = sub.add_parser("import")
    i.add_argument("dirs", nargs="+")
    i.add_argument("--cold", action="store_true", help="the first folder's run started from an empty cache")
    i.add_argument("--threads", type=int, default=2)
    sub.add_parser("report")
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run([int(s) for s in a.seeds.split(",")])
    elif a.cmd == "import":
        import_runs(a.dirs, a.threads, a.cold)
    else:
        report()


if __name__ == "__main__":
    main()
