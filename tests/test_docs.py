"""Docs generated from stored results (tools/docs_tables.py) and the one-version claims table (benchmarks/claims.py).

No training: the generator reads benchmarks/results/*.json; every check runs on the committed tree or a temp copy.
"""
from __future__ import annotations

import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


dt = _load("docs_tables", ROOT / "tools" / "docs_tables.py")
claims = _load("claims_bench", ROOT / "benchmarks" / "claims.py")


def _copy_tree(tmp_path: Path) -> Path:
    """README.md, docs/ and benchmarks/results/ of this checkout under ``tmp_path`` (what the check reads)."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    return tmp_path


def test_committed_docs_match_stored_results():
    """`make check-docs` in-process: README.md and docs/*.md equal what benchmarks/results/*.json give."""
    out = io.StringIO()
    assert dt.check(ROOT, out=out) == 0, out.getvalue()


def test_docs_have_generated_blocks():
    """The headline tables are generated, not hand-written (a regression would remove their markers)."""
    readme = (ROOT / "README.md").read_text()
    results = (ROOT / "docs" / "results.md").read_text()
    for name in ("readme-what-works", "c10.gen10.worst", "bench.speedup", "demo.runs"):
        assert f"<!-- generated:{name} -->" in readme, name
    for name in ("results-label-agnostic", "results-sweep", "claims", "demo-seeds", "demo-sizes", "nb00-ranges",
                 "claims.version"):
        assert f"<!-- generated:{name} -->" in results, name


def test_hand_edited_table_number_fails_the_check(tmp_path):
    """A number changed by hand inside a generated table makes the check fail, naming the file and the line."""
    root = _copy_tree(tmp_path)
    readme = root / "README.md"
    text = readme.read_text()
    block = text[text.index("<!-- generated:readme-what-works -->"):]
    row = next(line for line in block.splitlines() if line.startswith("| clean |"))
    readme.write_text(text.replace(row, row.replace("0.673", "0.699"), 1))
    out = io.StringIO()
    assert dt.check(root, out=out) == 1
    diff = out.getvalue()
    assert "README.md (committed)" in diff and "-| clean | 0.699" in diff and "+| clean | 0.673" in diff


def test_hand_edited_inline_value_fails_the_check(tmp_path):
    """A prose number inside an inline marker is checked too."""
    root = _copy_tree(tmp_path)
    doc = root / "docs" / "granularity.md"
    marked = "<!-- generated:c10.gen10.worst -->0.258<!-- /generated -->"
    assert marked in doc.read_text()
    doc.write_text(doc.read_text().replace(marked, marked.replace("0.258", "0.200")))
    out = io.StringIO()
    assert dt.check(root, out=out) == 1
    assert "docs/granularity.md" in out.getvalue()


def test_changed_stored_result_fails_the_check_and_rewrite_fixes_it(tmp_path):
    """A new stored result changes the expected text; `results-docs` (write) brings the docs back in line."""
    root = _copy_tree(tmp_path)
    path = root / "benchmarks" / "results" / "table.json"
    data = json.loads(path.read_text())
    clean_fine = next(r for r in data["rows"] if r["method"] == "clean" and r["labels"] == "fine")
    clean_fine["peak"] = 0.5
    path.write_text(json.dumps(data))
    assert dt.check(root, out=io.StringIO()) == 1
    changed = dt.write(root)
    assert root / "README.md" in changed
    assert "| clean | 0.500 |" in (root / "README.md").read_text()
    assert dt.check(root, out=io.StringIO()) == 0


def test_stale_shipped_result_fails_the_check_and_rewrite_copies_it(tmp_path):
    """The results a wheel carries for the notebooks (ucs_lite/assets/results/) follow benchmarks/results/: a stored
    result that changed without its shipped copy fails the check by name; `results-docs` copies it again."""
    root = _copy_tree(tmp_path)
    shutil.copytree(ROOT / dt.SHIPPED, root / dt.SHIPPED)
    assert (root / dt.SHIPPED / "countermeasures.json").is_file()
    path = root / "benchmarks" / "results" / "countermeasures.json"
    path.write_text(path.read_text() + "\n")
    out = io.StringIO()
    assert dt.check(root, out=out) == 1 and "countermeasures.json" in out.getvalue()
    assert root / dt.SHIPPED / "countermeasures.json" in dt.write(root)
    assert (root / dt.SHIPPED / "countermeasures.json").read_bytes() == path.read_bytes()
    assert dt.check(root, out=io.StringIO()) == 0


def test_unknown_or_unclosed_marker_is_an_error():
    """A marker the generator cannot serve is an error, never silently left alone."""
    results = dt.Results(ROOT)
    with pytest.raises(dt.DocsError, match="unknown generated block"):
        dt.render("x <!-- generated:no-such-table -->1<!-- /generated -->", results, "t.md")
    with pytest.raises(dt.DocsError, match="without"):
        dt.render("x <!-- generated:c10.gen10.worst -->0.258", results, "t.md")


def test_registered_block_gets_its_source_line(tmp_path):
    """The extension mechanism: a registered block fills its markers and names its JSON under the table."""
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "toy.json").write_text(json.dumps({"rows": [{"m": "a", "v": 0.1234}]}))

    @dt.block("toy-table", "toy.json", rows="every row")
    def _toy(r):
        return dt.md_table(["m", "v"], [[x["m"], dt.f3(x["v"])] for x in r.json("toy.json")["rows"]])

    try:
        text = "before\n<!-- generated:toy-table -->\nstale\n<!-- /generated -->\nafter\n"
        out = dt.render(text, dt.Results(tmp_path), "toy.md")
    finally:
        dt.REGISTRY.pop("toy-table")
    assert "| a | 0.123 |" in out and "stale" not in out
    assert "`benchmarks/results/toy.json` (every row)" in out
    assert out.startswith("before\n") and out.endswith("after\n")


# ------------------------------------------------------------------------------------------- claims table


def _record(threads, seed, value, bound, sense, commit, finished, claim="c", notebook="00_quickstart"):
    return {"notebook": notebook, "claim": claim, "threads": str(threads), "seed": seed, "value": value,
            "bound": bound, "sense": sense, "margin_recorded": 99.0, "commit": commit, "finished": finished,
            "legacy": False}


def test_claims_margin_is_recomputed_from_value_and_bound():
    assert claims.margin_of(0.5, 0.4, ">=") == pytest.approx(0.1)
    assert claims.margin_of(0.3, 0.4, "<=") == pytest.approx(0.1)
    assert claims.margin_of(0.45, 0.4, "<=") == pytest.approx(-0.05)
    rec = _record(1, 0, 0.30, 0.25, ">=", "abc", "2026-11-29T10:00:00Z")
    assert claims.margin(rec) == pytest.approx(0.05)  # not the stored margin_recorded (99)


def test_claims_run_seed_reads_seeds_folded_into_overrides():
    """04 / 05 take `seeds` as a profile value (papermill gets it inside `overrides`): that run is seed 0, not '-'."""
    assert claims.run_seed({"seed": 3, "overrides": {"seeds": [3]}}) == 3
    assert claims.run_seed({"overrides": {"seeds": [2]}}) == 2
    assert claims.run_seed({"seeds": [1]}) == 1
    assert claims.run_seed({}) == "-"


def test_claims_table_uses_one_version_only():
    """Runs of an older commit (another bound, another code) never enter the newest commit's table."""
    old = [_record(1, s, 0.30, 0.25, ">=", "old", "2026-11-29T09:00:00Z") for s in range(3)]
    new = [_record(t, s, 0.40, 0.25, ">=", "new", "2026-11-29T12:00:00Z") for t in (1, 2) for s in (0, 1)]
    records = old + new
    vers = claims.versions(records)
    assert [v["version"] for v in vers] == ["new", "old"]
    chosen = claims.pick_version(vers, None)
    rows = claims.claims_table(records, chosen)
    assert rows[0]["n_runs"] == 4 and rows[0]["min_margin"] == pytest.approx(0.15)
    rows_old = claims.claims_table(records, claims.pick_version(vers, "ol"))
    assert rows_old[0]["n_runs"] == 3 and rows_old[0]["min_margin"] == pytest.approx(0.05)


def test_claims_legacy_runs_split_by_the_commit_that_stored_them():
    """The margins-only format becomes two versions (8 + 2 runs), so their margins are never pooled."""
    old = {"rows": [{"notebook": "00_quickstart", "claim": "c",
                     "margins": [{"threads": t, "seed": s, "margin": 0.1} for t, ss in (("1", range(5)), ("2", range(5)))
                                 for s in ss]}]}
    records = claims.migrate_legacy(old)
    vers = {v["version"]: v for v in claims.versions(records)}
    assert set(vers) == {"unrecorded, stored in 23d9e55", "unrecorded, stored in 45fcbfa"}
    assert vers["unrecorded, stored in 45fcbfa"]["n_records"] == 2
    assert claims.versions(records)[0]["version"] == "unrecorded, stored in 45fcbfa"


def test_stored_claims_table_is_one_version():
    """The committed claims.json: its table's run count matches the runs stored for that one version."""
    data = json.loads((ROOT / "benchmarks" / "results" / "claims.json").read_text())
    version = data["table"]["version"]
    runs = [r for r in data["runs"] if claims.version_of(r) == version]
    for row in data["table"]["rows"]:  # each claim counts every (threads, seed) run of its notebook, once
        pairs = {(r["threads"], r["seed"], r["finished"]) for r in runs
                 if r["notebook"] == row["notebook"] and r["claim"] == row["claim"]}
        assert row["n_runs"] == len(pairs), row
    assert version == claims.versions(data["runs"])[0]["version"]


def test_claims_run_folder_stores_value_bound_and_commit(tmp_path):
    """A run under runs/claims-t<threads>/<commit>/<stamp>/ becomes records with value, bound, sense and commit;
    the table recomputes the margin from them (not from the recorded margin)."""
    folder = tmp_path / "claims-t2" / "abc123" / "20261129-120501"
    folder.mkdir(parents=True)
    nb = {"name": "00_quickstart", "ok": True, "error": None, "params": {"seed": 3, "seeds": [3]},
          "numbers": {"claim_margins": {"UC lowers": 0.05},
                      "claim_values": {"UC lowers": {"value": 0.50, "bound": 0.57, "sense": "<="}}}}
    (folder / "summary.json").write_text(json.dumps({"notebooks": [nb]}))
    records, failures = claims.runs_from_summary(folder / "summary.json", tmp_path)
    assert failures == []
    (rec,) = records
    assert (rec["commit"], rec["threads"], rec["seed"], rec["finished"]) == ("abc123", "2", 3, "2026-11-29T12:05:01Z")
    assert claims.margin(rec) == pytest.approx(0.07)
    rows = claims.claims_table(records, "abc123")
    assert rows[0]["min_margin"] == pytest.approx(0.07) and rows[0]["at"] == "threads 2, seed 3"


def test_claims_stopped_run_keeps_the_notebooks_that_finished(tmp_path):
    """A run stopped before it wrote summary.json still counts the notebooks papermill finished without an
    exception and whose numbers were written; one that was cut off (no end time) or raised is left out."""
    folder = tmp_path / "claims-t2" / "abc123" / "20261130-035438"
    folder.mkdir(parents=True)
    values = {"claim_margins": {"UC lowers": 0.05},
              "claim_values": {"UC lowers": {"value": 0.50, "bound": 0.57, "sense": "<="}}}

    def executed(name, end_time, exception=None):
        meta = {"papermill": {"parameters": {"seed": 2, "overrides": {"seeds": [2]}}, "end_time": end_time,
                              "exception": exception}}
        (folder / f"{name}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))
        (folder / f"{name}.numbers.json").write_text(json.dumps(values))

    executed("00_quickstart", "2026-11-30T04:08:55Z")
    executed("01_label_consistency_failure", None)             # killed while running
    executed("04_label_agnostic_evaluation", "2026-11-30T04:20:00Z", exception=True)
    records, failures = claims.runs_from_summary(folder / "summary.json", tmp_path)
    assert failures == [] and [(r["notebook"], r["seed"], r["threads"]) for r in records] == [("00_quickstart", 2, "2")]
    results = tmp_path / "results"
    table = claims.table(runs_root=tmp_path, results=results)
    assert table["table"]["version"] == "abc123" and len(table["runs"]) == 1
