"""Store what the notebooks recorded in their claims runs, so the numbers their text quotes have a stored source.

    python benchmarks/notebook_numbers.py              # → benchmarks/results/notebook_numbers.json

Reads every ``runs/claims-t<threads>/<commit>/<stamp>/<notebook>.numbers.json`` (written by
``benchmarks/claims.py run`` and ``benchmarks/notebook_times.py --claims``: the notebooks executed by papermill
at their defaults, cold cache) and keeps, per (notebook, commit, threads, seed), the scalar numbers the notebook
recorded (accuracies, loss drops, PSNR, …; not timings). Runs already stored are kept, so the file accumulates.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.claims import RUNS, run_seed, stamp_to_utc  # noqa: E402
from benchmarks.common import RESULTS, write_result  # noqa: E402

OUT = RESULTS / "notebook_numbers.json"
#: recorded keys that are timings or bookkeeping, not results
SKIP = ("seconds", "runtime_s", "ms_per_image", "claims", "claim_margins", "claim_values", "reported_margins")


def scalar_numbers(numbers: dict) -> dict:
    """The recorded numbers that are results: finite scalars, not timings."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in sorted(numbers.items())
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not any(s in k for s in SKIP)}


def collect(runs_root: Path = RUNS) -> list[dict]:
    """One record per notebook run under ``runs/claims-t*/<commit>/<stamp>/``."""
    out = []
    for summary in sorted(runs_root.glob("claims-t*/*/*/summary.json")):
        threads, commit, stamp = summary.relative_to(runs_root).parts[:3]
        for nbr in json.loads(summary.read_text())["notebooks"]:
            if not nbr["ok"]:
                continue
            out.append({"notebook": nbr["name"], "commit": commit, "threads": threads.removeprefix("claims-t"),
                        "seed": run_seed(nbr["params"]), "finished": stamp_to_utc(stamp),
                        "numbers": scalar_numbers(nbr["numbers"]),
                        "reported_margins": nbr["numbers"].get("reported_margins", {})})
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line (no options; ``--help`` prints the docstring and stores nothing)."""
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    stored = json.loads(OUT.read_text())["runs"] if OUT.is_file() else []
    key = lambda r: (r["notebook"], r["commit"], r["threads"], str(r["seed"]), r["finished"])  # noqa: E731
    merged = {key(r): r for r in stored}
    merged.update({key(r): r for r in collect()})
    runs = sorted(merged.values(), key=key)
    write_result(OUT, {"what": __doc__.splitlines()[0], "runs": runs}, indent=1, trailing_newline=True)
    print(f"{len(runs)} runs -> {OUT}")


if __name__ == "__main__":
    main()
