"""Generated blocks and values of this study: the claims table: the notebooks' enforced claims over runs of one code
version.

Its numbers come from the results ``python benchmarks/claims.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import DocsError, Results, block, md_table, signed3, value


def claims_table_rows(r: Results) -> tuple[dict, list[dict]]:
    """The stored claims table (one commit) and its rows, as ``benchmarks/claims.py table`` wrote them."""
    d = r.json("claims.json")
    if "table" not in d:
        raise DocsError("claims.json has no `table` (rerun `python benchmarks/claims.py table`)")
    return d["table"], d["table"]["rows"]


def effect_cells(row: dict) -> tuple[str, str, str]:
    """A claims-table row's smallest effect, spread over seeds 0–2 and effect / spread as text (``—`` where the
    claim records no effect; ``inf`` where the spread is 0)."""
    def num(v, fmt: str) -> str:
        return "—" if v is None else (str(v) if isinstance(v, str) else format(v, fmt))

    return (num(row.get("effect_min"), "+.3f"), num(row.get("spread_0_2"), ".3f"),
            num(row.get("effect_vs_spread"), ".1f"))


@block("claims", "claims.json", rows="`table`: runs of one code version, margin = value − bound recomputed")
def _claims(r: Results) -> str:
    """Every enforced notebook claim and its smallest margin over the runs of one code version."""
    _, rows = claims_table_rows(r)
    out = [[x["notebook"], x["claim"], f"{x['n_runs']} ({x.get('runs_at', '')})", signed3(x["min_margin"]), x["at"],
            *effect_cells(x)] for x in rows]
    return md_table(["notebook", "claim", "runs", "smallest margin", "where", "smallest effect",
                     "spread (seeds 0–2)", "effect / spread"], out)


@value("claims.version", "claims.json", rows="`table.version` and its runs")
def _claims_version(r: Results) -> str:
    """Which code version the claims table aggregates and how many runs it has."""
    table, rows = claims_table_rows(r)
    n = max((x["n_runs"] for x in rows), default=0)
    return f"{table['version']} ({n} run{'s' if n != 1 else ''}: {table['runs_text']})"


@value("claims.other-versions", "claims.json", rows="`versions`: the stored runs of every other code version")
def _claims_other_versions(r: Results) -> str:
    """The stored runs the table leaves out, per code version."""
    table, _ = claims_table_rows(r)
    others = [v for v in r.json("claims.json")["versions"] if v["version"] != table["version"]]
    return "; ".join(f"{v['version']}: {v['runs_text']}" for v in others) or "none"
