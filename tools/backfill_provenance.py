"""Give every stored result in benchmarks/results/ a ``provenance`` without rerunning anything.

    python tools/backfill_provenance.py            # add it where missing (a file that has one is left alone)
    python tools/backfill_provenance.py --check    # exit 1 naming the JSON files without one

A result written since benchmarks/common.py exists carries the provenance of the command that wrote it
(``benchmarks.common.write_result``). For the results made before, this records what can be known without a rerun
and labels it as such: the command that produces the file (:data:`PRODUCERS`, read from the code and the commit
messages), the commit that last changed the file (``git log -1 --format=%h -- <file>``, never invented) and
``"recorded": "backfilled from git history"``. Only the ``provenance`` key is added; every other byte of the file
keeps its formatting (indent, ASCII escapes, trailing newline). Stdlib only. countermeasures.json is updated under
the lock its ``run`` processes share (benchmarks/results/countermeasures.lock).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BACKFILLED = "backfilled from git history"  # = benchmarks.common.BACKFILLED (this tool imports nothing from there)

S = "python benchmarks/study.py"
G = "python benchmarks/granularity.py"
#: result file -> the command that produces it (as typed from the repository root), and a note where it needs one
PRODUCERS: dict[str, tuple[str, str]] = {
    "attackers.json": (f"{S} attackers --threads 1", ""),
    "bench_craft.json": ("python benchmarks/bench_craft.py --quick --threads 1", ""),
    "bench_craft_profile.json": ("python benchmarks/bench_craft.py --profile --threads 1", ""),
    "bench_features.json": ("python benchmarks/bench_features.py --quick --threads 1", ""),
    "claims.json": ("python benchmarks/claims.py table",
                    "from the runs of `python benchmarks/claims.py run --threads 1|2`; each run records its commit"),
    "countermeasures.json": ("python benchmarks/countermeasures.py run … (one row per attacker run); "
                             "python benchmarks/countermeasures.py report", "each run row records its own commit"),
    "demo_seeds.json": ("python benchmarks/demo_seeds.py report",
                        "from the runs of `python benchmarks/demo_seeds.py run`; each run records its commit"),
    "explore.json": (f"{S} explore", ""),
    "frontier.json": ("python benchmarks/frontier.py --threads 1; python benchmarks/frontier.py --report", ""),
    "granularity.json": (f"{G} report", "merges granularity_{labels,clusters,levers,seeds}.json"),
    "granularity_cifar10.json": (f"{G} run --part cifar10", ""),
    "granularity_cifar10_defenses.json": (f"{G} run --part cifar10-defenses", ""),
    "granularity_clusterings.json": (f"{G} run --part clusterings", ""),
    "granularity_clusters.json": (f"{G} run --part clusters", ""),
    "granularity_labels.json": (f"{G} run --part labels", ""),
    "granularity_levers.json": (f"{G} run --part levers", ""),
    "granularity_seeds.json": (f"{G} run --part seeds --best 'gen0 km10,gen0 km20'", ""),
    "levers.json": (f"{S} levers --ps 10,20 --resolutions 64,128,224", ""),
    "notebook00_seeds.json": (
        "python benchmarks/demo_seeds.py (the version of commit 23d9e55)",
        "written as demo_seeds.json by that version, which read notebook 00's runs from `python benchmarks/claims.py "
        "run --threads 1|2`; kept unchanged under this name in db3cfbb when demo_seeds.py began measuring the demo "
        "itself; no script in the tree writes it any more"),
    "notebook_numbers.json": ("python benchmarks/notebook_numbers.py",
                              "from the claims runs under runs/claims-t*/; each run records its commit"),
    "notebook_times.json": ("python benchmarks/notebook_times.py", "the file's own `commit` is that of the run"),
    "purity.json": (f"{S} purity --views fine", ""),
    "robust.json": (f"{S} robust", ""),
    "seeds.json": (f"{S} seeds", ""),
    "survival.json": (f"{S} survival --methods uc,uc-robust,random-class@fine", ""),
    "sweep.json": (f"{S} sweep --methods clean,uc,uc-robust,random-class@fine", ""),
    "sweep_seeds.json": (f"{S} sweep --methods uc,uc-robust --views fine --seeds 0,1 --name sweep_seeds", ""),
    "table.json": (f"{S} table", ""),
    "visibility.json": ("python benchmarks/visibility.py --only 0,2,7,9,11 --more-seeds 7:0,1,2", ""),
}


def last_commit(path: Path) -> str | None:
    """The short commit that last changed ``path``; None when git knows none."""
    out = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(path.relative_to(ROOT))], cwd=ROOT,
                         capture_output=True, text=True, check=False).stdout.strip()
    return out or None


def backfilled(name: str, path: Path) -> dict:
    """The labelled provenance of a result made before results recorded their own."""
    command, note = PRODUCERS[name]
    out = {"produced_by": command, "commit": last_commit(path), "recorded": BACKFILLED,
           "commit_means": "the commit that last changed this file (git log -1), not necessarily the code version "
                           "the numbers were computed with"}
    return {**out, "note": note} if note else out


def dump_like(data: dict, original: str) -> str:
    """``data`` as JSON in the formatting of ``original`` (indent, ASCII escapes, trailing newline)."""
    second = original.splitlines()[1] if "\n" in original else ""
    indent = len(second) - len(second.lstrip(" ")) or None
    ascii_only = original.isascii()
    return json.dumps(data, indent=indent, ensure_ascii=ascii_only) + ("\n" if original.endswith("\n") else "")


def add(path: Path) -> bool:
    """Add the backfilled provenance to ``path`` if it has none; whether it changed."""
    text = path.read_text()
    data = json.loads(text)
    if "provenance" in data:
        return False
    data["provenance"] = backfilled(path.name, path)
    path.write_text(dump_like(data, text))
    return True


def add_locked(path: Path) -> bool:
    """:func:`add` under the lock the countermeasures study's processes share."""
    import fcntl

    with open(RESULTS / "countermeasures.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return add(path)


def missing(results: Path = RESULTS) -> list[str]:
    """The JSON files under ``results`` without a ``provenance`` that names a command and a commit."""
    bad = []
    for path in sorted(results.glob("*.json")):
        prov = json.loads(path.read_text()).get("provenance") or {}
        if not (prov.get("produced_by") and prov.get("commit")):
            bad.append(path.name)
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command line: add (default) or ``--check``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 naming the files without a provenance")
    a = ap.parse_args(argv)
    if a.check:
        bad = missing()
        print("\n".join(f"no provenance: benchmarks/results/{n}" for n in bad) or "every result has a provenance")
        return 1 if bad else 0
    unknown = [p.name for p in RESULTS.glob("*.json") if p.name not in PRODUCERS and p.name in missing()]
    if unknown:
        print(f"no producer known for {unknown}: add them to PRODUCERS", file=sys.stderr)
        return 2
    for path in sorted(RESULTS.glob("*.json")):
        if (add_locked if path.name == "countermeasures.json" else add)(path):
            print(f"backfilled {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
