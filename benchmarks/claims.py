"""Measure every enforced notebook claim's margin over attacker seeds and torch threads, from a cold cache.

    python benchmarks/claims.py run --threads 1 --seeds 0,1,2,3,4      # one thread count per process
    python benchmarks/claims.py run --threads 2 --seeds 0,1,2,3,4      # (run the two side by side)
    python benchmarks/claims.py table                                   # → benchmarks/results/claims.{json,md}

``run`` executes the notebooks with papermill (``ucs_lite.notebooks.run_notebooks``) at their default size
into ``runs/claims-t<threads>/``, once per attacker seed (``-p seed S -p seeds [S]``; notebooks 02 and 03 have
no attacker and run once), with ``UCS_LITE_THREADS`` set and a fresh, empty ``UCS_LITE_CACHE`` per thread
count. Each notebook's :class:`ucs_lite.notebooks.Claims` records its margins (``claim_margins``).
``table`` collects every run folder and writes, per notebook and claim, the smallest margin and where it was
seen: a claim is only worth enforcing where that smallest margin is comfortably positive.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
RESULTS = ROOT / "benchmarks" / "results"
SEEDED = ("00_quickstart", "01_label_consistency_failure", "04_label_agnostic_evaluation", "05_countermeasures")
UNSEEDED = ("02_clip_clustering", "03_crafting_cluster_noise")


def run(threads: int, seeds: list[int], notebooks: list[str] | None = None) -> None:
    """Execute the notebooks for each seed with ``threads`` torch threads and an empty cache."""
    from ucs_lite.notebooks import run_notebooks

    os.environ["UCS_LITE_THREADS"] = str(threads)
    os.environ["UCS_LITE_CACHE"] = tempfile.mkdtemp(prefix=f"ucs_lite_claims_t{threads}_")
    out_root = RUNS / f"claims-t{threads}"
    seeded = [n for n in SEEDED if not notebooks or n[:2] in notebooks]
    unseeded = [n for n in UNSEEDED if not notebooks or n[:2] in notebooks]
    if unseeded:
        run_notebooks(unseeded, params={}, out_root=out_root)
    for s in seeds:
        if seeded:
            run_notebooks(seeded, params={"seed": s, "seeds": [s]}, out_root=out_root)


def table() -> dict:
    """Smallest margin per (notebook, claim) over every run under ``runs/claims-t*``; writes claims.json/.md."""
    rows: dict[tuple[str, str], dict] = {}
    failures = []
    for summary in sorted(RUNS.glob("claims-t*/*/summary.json")):
        threads = summary.parent.parent.name.removeprefix("claims-t")
        s = json.loads(summary.read_text())
        for nbr in s["notebooks"]:
            seed = nbr["params"].get("seed", nbr["params"].get("seeds", ["-"])[0] if nbr["params"].get("seeds") else "-")
            if not nbr["ok"]:
                failures.append({"notebook": nbr["name"], "threads": threads, "seed": seed, "error": nbr["error"]})
            for claim, margin in (nbr["numbers"].get("claim_margins") or {}).items():
                key = (nbr["name"], claim)
                r = rows.setdefault(key, {"notebook": nbr["name"], "claim": claim, "margins": []})
                r["margins"].append({"threads": threads, "seed": seed, "margin": margin})
    out = []
    for r in rows.values():
        worst = min(r["margins"], key=lambda m: m["margin"])
        out.append({**r, "n_runs": len(r["margins"]), "min_margin": worst["margin"],
                    "at": f"threads {worst['threads']}, seed {worst['seed']}"})
    result = {"rows": out, "failures": failures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "claims.json").write_text(json.dumps(result, indent=2))
    lines = ["| notebook | claim | runs | smallest margin | where |", "|---|---|---|---|---|"]
    lines += [f"| {r['notebook']} | {r['claim']} | {r['n_runs']} | {r['min_margin']:+.3f} | {r['at']} |" for r in out]
    if failures:
        lines += ["", "Failed runs:", *[f"- {f['notebook']} (threads {f['threads']}, seed {f['seed']}): "
                                        f"{(f['error'] or '')[:300]}" for f in failures]]
    (RESULTS / "claims.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--notebooks", default="", help="comma-separated prefixes, e.g. 00,01 (default: all)")
    sub.add_parser("table")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a.threads, [int(s) for s in a.seeds.split(",")], [n for n in a.notebooks.split(",") if n] or None)
    else:
        table()


if __name__ == "__main__":
    main()
