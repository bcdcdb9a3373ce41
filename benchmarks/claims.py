"""Measure every enforced notebook claim's margin over attacker seeds and torch threads, from a cold cache.

    python benchmarks/claims.py run --threads 1 --seeds 0,1,2,3,4      # one thread count per process
    python benchmarks/claims.py run --threads 2 --seeds 0,1,2,3,4      # (run the two side by side)
    python benchmarks/claims.py table [--commit SHA]                    # → benchmarks/results/claims.{json,md}

``run`` executes the notebooks with papermill (``ucs_lite.notebooks.run_notebooks``) at their default size
into ``runs/claims-t<threads>/<commit>/<timestamp>/``, once per attacker seed (``-p seed S -p seeds [S]``;
notebooks 02 and 03 have no attacker and run once), with ``UCS_LITE_THREADS`` set and a fresh, empty
``UCS_LITE_CACHE`` per thread count. ``<commit>`` is the checkout's ``git rev-parse HEAD`` (``+dirty`` when
tracked files differ from it). Each notebook's :class:`ucs_lite.notebooks.Claims` records every numeric claim's
measured value, bound and sense (``claim_values``) beside its margin (``claim_margins``).

``table`` keeps **every run** in ``benchmarks/results/claims.json`` (``runs``: notebook, claim, threads, seed,
value, bound, sense, margin, commit, finished) — the runs already stored there plus any new ones under
``runs/claims-t*`` — and builds the table from the runs of **one** code version only: the newest commit that
has runs, or ``--commit``. Margins are recomputed as value − bound (``>=``) or bound − value (``<=``) from the
stored values, so a table never mixes margins measured against different bounds or code.

Runs stored before this format (``legacy``) kept only margins: no value, bound or commit. They are kept as two
versions named after the commits that stored them (``unrecorded, stored in 23d9e55`` = 8 runs, threads 1 seeds 0–4
and threads 2 seeds 0–2; ``unrecorded, stored in 45fcbfa`` = threads 2 seeds 3–4, after the UC claims' bound moved
from clean − 0.05 to clean − 0.02); their margins are the recorded ones, against the bounds of their own code.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, ROOT, commit, provenance  # noqa: E402

RUNS = ROOT / "runs"
SEEDED = ("00_quickstart", "01_label_consistency_failure", "04_label_agnostic_evaluation", "05_countermeasures")
UNSEEDED = ("02_clip_clustering", "03_crafting_cluster_noise")
#: legacy runs (margins only) by the commit that stored them: (threads, seed) pairs added in 45fcbfa
LEGACY_LATER = {("2", 3), ("2", 4)}
LEGACY_STORED_UTC = {"23d9e55": "2026-11-29T09:09:01Z", "45fcbfa": "2026-11-29T12:12:05Z"}


def current_commit(root: Path = ROOT) -> str:
    """The full commit of ``root`` (``+dirty`` when tracked files differ; :func:`benchmarks.common.commit`)."""
    return commit(root, short=False)


def run(threads: int, seeds: list[int], notebooks: list[str] | None = None) -> None:
    """Execute the notebooks for each seed with ``threads`` torch threads and an empty cache."""
    from ucs_lite.notebooks import run_notebooks

    os.environ["UCS_LITE_THREADS"] = str(threads)
    os.environ["UCS_LITE_CACHE"] = tempfile.mkdtemp(prefix=f"ucs_lite_claims_t{threads}_")
    out_root = RUNS / f"claims-t{threads}" / current_commit()
    seeded = [n for n in SEEDED if not notebooks or n[:2] in notebooks]
    unseeded = [n for n in UNSEEDED if not notebooks or n[:2] in notebooks]
    if unseeded:
        run_notebooks(unseeded, params={}, out_root=out_root)
    for s in seeds:
        if seeded:
            run_notebooks(seeded, params={"seed": s, "seeds": [s]}, out_root=out_root)


def margin_of(value: float, bound: float, sense: str) -> float:
    """How far ``value`` lies on the right side of ``bound`` (negative: the claim failed)."""
    if sense == ">=":
        return round(float(value) - float(bound), 4)
    if sense == "<=":
        return round(float(bound) - float(value), 4)
    raise ValueError(f"sense must be '>=' or '<=', not {sense!r}")


def stamp_to_utc(stamp: str) -> str:
    """``20261129-120501`` (a run folder's name) as ``2026-11-29T12:05:01Z``; other names unchanged."""
    if len(stamp) == 15 and stamp[8] == "-" and (stamp[:8] + stamp[9:]).isdigit():
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"
    return stamp


def run_seed(params: dict) -> int | str:
    """The attacker seed a notebook ran with (``-`` for notebooks without one)."""
    if "seed" in params:
        return params["seed"]
    seeds = params.get("seeds") or (params.get("overrides") or {}).get("seeds")  # 04 / 05 take `seeds` as a profile value
    return seeds[0] if seeds else "-"


def finished_notebooks(folder: Path) -> list[dict]:
    """The notebooks of a run folder whose process was stopped before it wrote ``summary.json``: each executed
    copy that papermill marked as finished without an exception and whose ``<name>.numbers.json`` was written, as
    a summary entry (``name``, ``params`` from papermill's metadata, ``ok``, ``numbers``, ``error``)."""
    out = []
    for numbers in sorted(folder.glob("*.numbers.json")):
        name = numbers.name.removesuffix(".numbers.json")
        executed = folder / f"{name}.ipynb"
        meta = json.loads(executed.read_text())["metadata"].get("papermill", {}) if executed.is_file() else {}
        if meta.get("end_time") and meta.get("exception") is None:
            out.append({"name": name, "params": meta.get("parameters", {}), "ok": True,
                        "numbers": json.loads(numbers.read_text()), "error": None})
    return out


def runs_from_summary(summary: Path, runs_root: Path = RUNS) -> tuple[list[dict], list[dict]]:
    """The claim records and failures of one ``summary.json`` under ``runs/claims-t<threads>/[<commit>/]<stamp>/``;
    where the file is missing (the run was stopped), of the notebooks that finished (:func:`finished_notebooks`)."""
    rel = summary.relative_to(runs_root).parts
    threads = rel[0].removeprefix("claims-t")
    commit = rel[1] if len(rel) == 4 else None  # claims-t1/<commit>/<stamp>/summary.json; older: no commit level
    finished = stamp_to_utc(rel[-2])
    records, failures = [], []
    notebooks = (json.loads(summary.read_text())["notebooks"] if summary.is_file()
                 else finished_notebooks(summary.parent))
    for nbr in notebooks:
        seed = run_seed(nbr["params"])
        if not nbr["ok"]:
            failures.append({"notebook": nbr["name"], "threads": threads, "seed": seed, "commit": commit,
                             "error": (nbr["error"] or "")[:300]})
        values = nbr["numbers"].get("claim_values") or {}
        for claim, margin in (nbr["numbers"].get("claim_margins") or {}).items():
            v = values.get(claim, {})
            records.append({"notebook": nbr["name"], "claim": claim, "threads": threads, "seed": seed,
                            "value": v.get("value"), "bound": v.get("bound"), "sense": v.get("sense"),
                            "effect": v.get("effect"),
                            "margin_recorded": margin, "commit": commit, "finished": finished, "legacy": False})
    return records, failures


def migrate_legacy(old: dict) -> list[dict]:
    """Runs of the old claims.json (``rows`` with margins only) as records without value, bound or commit."""
    records = []
    for row in old.get("rows", []):
        for m in row["margins"]:
            batch = "45fcbfa" if (str(m["threads"]), m["seed"]) in LEGACY_LATER else "23d9e55"
            records.append({"notebook": row["notebook"], "claim": row["claim"], "threads": str(m["threads"]),
                            "seed": m["seed"], "value": None, "bound": None, "sense": None,
                            "margin_recorded": m["margin"], "commit": None,
                            "finished": LEGACY_STORED_UTC[batch], "legacy": True,
                            "version_hint": f"unrecorded, stored in {batch}"})
    return records


def version_of(record: dict) -> str:
    """The code version a run belongs to: its commit, or the commit that stored a legacy run."""
    return record["commit"] or record.get("version_hint") or "unrecorded"


def margin(record: dict) -> float:
    """The run's margin: recomputed from value and bound when stored, else the recorded one (legacy runs)."""
    if record.get("value") is not None and record.get("bound") is not None and record.get("sense"):
        return margin_of(record["value"], record["bound"], record["sense"])
    return record["margin_recorded"]


def stored_runs(path: Path) -> list[dict]:
    """The runs already kept in ``claims.json`` (migrating the old margins-only format once)."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    return old["runs"] if "runs" in old else migrate_legacy(old)


def merge(stored: list[dict], new: list[dict]) -> list[dict]:
    """Stored runs plus new ones, one record per (version, threads, seed, finished, notebook, claim)."""
    def key(r: dict) -> tuple:
        return version_of(r), r["threads"], str(r["seed"]), r["finished"], r["notebook"], r["claim"]

    out = {key(r): r for r in stored}
    out.update({key(r): r for r in new})
    return list(out.values())


def describe_runs(records: list[dict]) -> str:
    """``threads 1: seeds 0–4; threads 2: seeds 0–2`` for the (threads, seed) pairs of ``records``."""
    per: dict[str, set] = {}
    for r in records:
        if r["seed"] != "-":
            per.setdefault(str(r["threads"]), set()).add(r["seed"])
    parts = []
    for t, seeds in sorted(per.items()):
        s = sorted(seeds)
        span = f"{s[0]}–{s[-1]}" if len(s) > 1 and s == list(range(s[0], s[-1] + 1)) else ", ".join(map(str, s))
        parts.append(f"threads {t}, seed{'s' if len(s) > 1 else ''} {span}")
    return "; ".join(parts) or "no seeded runs"


def versions(records: list[dict]) -> list[dict]:
    """Every code version with runs, newest first (by its latest run)."""
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(version_of(r), []).append(r)
    out = [{"version": v, "latest": max(r["finished"] for r in rs), "legacy": any(r["legacy"] for r in rs),
            "n_records": len(rs), "runs_text": describe_runs(rs)} for v, rs in by.items()]
    return sorted(out, key=lambda v: v["latest"], reverse=True)


def claims_table(records: list[dict], version: str) -> list[dict]:
    """Per (notebook, claim): runs, smallest margin (recomputed) and where, over the runs of ``version``."""
    rows: dict[tuple[str, str], dict] = {}
    for r in records:
        if version_of(r) != version:
            continue
        row = rows.setdefault((r["notebook"], r["claim"]), {"notebook": r["notebook"], "claim": r["claim"], "runs": []})
        row["runs"].append(r)
    out = []
    for row in rows.values():
        worst = min(row["runs"], key=margin)
        per: dict[str, list[str]] = {}
        for r in row["runs"]:
            per.setdefault(str(r["threads"]), []).append(str(r["seed"]))
        runs_at = "; ".join(f"{t} thread{'s' if t != '1' else ''}: seed {', '.join(sorted(v))}"
                            for t, v in sorted(per.items()))
        out.append({"notebook": row["notebook"], "claim": row["claim"], "n_runs": len(row["runs"]),
                    "runs_at": runs_at, "min_margin": margin(worst),
                    "at": f"threads {worst['threads']}, seed {worst['seed']}",
                    "value": worst["value"], "bound": worst["bound"], **effect_spread(row["runs"])})
    return sorted(out, key=lambda x: x["notebook"])


#: The attacker seeds an effect's spread is taken over (issue 33: an effect a notebook states from its own run
#: must be at least twice its spread over seeds 0–2, max − min, as ``demo_seeds.json`` defines it).
SPREAD_SEEDS = (0, 1, 2)


def effect_spread(runs: list[dict]) -> dict:
    """The stated effect of one claim over its runs (``effect``: value − reference, recorded by claims made with
    ``reference=``): its smallest value, and per thread count its mean and spread (max − min) over
    :data:`SPREAD_SEEDS`; ``effect_vs_spread`` is the smallest mean / spread over the thread counts (``None``
    where no effect is recorded or the claim has no attacker seed; ``inf`` where the spread is 0)."""
    with_effect = [r for r in runs if r.get("effect") is not None]
    if not with_effect:
        return {"effect_min": None, "effect_mean": None, "spread_0_2": None, "effect_vs_spread": None}
    out = {"effect_min": round(min(r["effect"] for r in with_effect), 4),
           "effect_mean": round(sum(r["effect"] for r in with_effect) / len(with_effect), 4),
           "spread_0_2": None, "effect_vs_spread": None}
    per: dict[str, list[float]] = {}
    for r in with_effect:
        if r["seed"] in SPREAD_SEEDS:
            per.setdefault(str(r["threads"]), []).append(r["effect"])
    per = {t: v for t, v in per.items() if len(v) == len(SPREAD_SEEDS)}
    if per:
        spreads = {t: max(v) - min(v) for t, v in per.items()}
        ratios = [(sum(v) / len(v)) / spreads[t] if spreads[t] > 0 else float("inf") for t, v in per.items()]
        out["spread_0_2"] = round(max(spreads.values()), 4)
        out["effect_vs_spread"] = round(min(ratios), 2) if min(ratios) != float("inf") else "inf"
    return out


def pick_version(vers: list[dict], commit: str | None) -> str:
    """``commit`` (a version name or a prefix of it) or the newest version with runs."""
    if not vers:
        raise SystemExit("no claim runs stored or under runs/claims-t*: run `benchmarks/claims.py run` first")
    if commit is None:
        return vers[0]["version"]
    hits = [v["version"] for v in vers  # a commit (prefix), or the storing commit of a legacy version
            if v["version"].startswith(commit) or v["version"].split()[-1].startswith(commit)]
    if len(hits) != 1:
        raise SystemExit(f"--commit {commit}: {len(hits)} matching versions among {[v['version'] for v in vers]}")
    return hits[0]


def table_markdown(version: dict, rows: list[dict], failures: list[dict]) -> str:
    """claims.md: the table of one version and the failed runs."""
    lines = [f"Code version: {version['version']} ({version['runs_text']}). Margins recomputed from the stored "
             "values where present (legacy runs: as recorded).", "",
             "Effect: the stated difference (value − reference); spread: max − min of the effect over attacker seeds "
             "0–2 at one thread count (the larger of the two); effect / spread: the smaller over thread counts of "
             "the mean effect over seeds 0–2 divided by that spread (issue 33 asks ≥ 2).", "",
             "| notebook | claim | runs | smallest margin | where | smallest effect | spread (seeds 0–2) | "
             "effect / spread |", "|---|---|---|---|---|---|---|---|"]

    def num(v, fmt):
        return "—" if v is None else (v if isinstance(v, str) else format(v, fmt))

    lines += [f"| {r['notebook']} | {r['claim']} | {r['n_runs']} ({r.get('runs_at', '')}) | {r['min_margin']:+.3f} | "
              f"{r['at']} | {num(r.get('effect_min'), '+.3f')} | {num(r.get('spread_0_2'), '.3f')} | "
              f"{num(r.get('effect_vs_spread'), '.1f')} |" for r in rows]
    if failures:
        lines += ["", "Failed runs:", *[f"- {f['notebook']} (threads {f['threads']}, seed {f['seed']}): "
                                        f"{(f['error'] or '')[:300]}" for f in failures]]
    return "\n".join(lines) + "\n"


def table(commit: str | None = None, runs_root: Path = RUNS, results: Path = RESULTS) -> dict:
    """Merge stored and new runs, build the table of one version; writes claims.json and claims.md."""
    path = results / "claims.json"
    new, failures = [], []
    folders = {p.parent for p in runs_root.glob("claims-t*/**/*.numbers.json")}
    folders |= {p.parent for p in runs_root.glob("claims-t*/**/summary.json")}
    for summary in sorted(f / "summary.json" for f in folders):
        recs, fails = runs_from_summary(summary, runs_root)
        new += recs
        failures += fails
    if path.is_file():
        failures = json.loads(path.read_text()).get("failures", []) + failures
    records = merge(stored_runs(path), new)
    vers = versions(records)
    chosen = pick_version(vers, commit)
    version = next(v for v in vers if v["version"] == chosen)
    rows = claims_table(records, chosen)
    failures = [f for f in failures if (f.get("commit") or "unrecorded") == chosen or not f.get("commit")]
    result = {"table": {"version": chosen, "runs_text": version["runs_text"], "rows": rows},
              "versions": vers, "failures": failures,
              "margin_definition": "value − bound for '>=' claims, bound − value for '<=' claims; legacy runs "
                                   "stored only the margin against their own code's bound",
              "runs": sorted(records, key=lambda r: r["finished"]),
              "provenance": {**provenance(), "rows": "each run records the commit it was made at"}}
    results.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    md = table_markdown(version, rows, failures)
    (results / "claims.md").write_text(md)
    print(md)
    return result


def main() -> None:
    """Command line: ``run`` or ``table``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--notebooks", default="", help="comma-separated prefixes, e.g. 00,01 (default: all)")
    t = sub.add_parser("table")
    t.add_argument("--commit", default=None, help="the code version to tabulate (default: the newest with runs)")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a.threads, [int(s) for s in a.seeds.split(",")], [n for n in a.notebooks.split(",") if n] or None)
    else:
        table(a.commit)


if __name__ == "__main__":
    main()
