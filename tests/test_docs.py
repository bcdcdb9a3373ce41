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
    assert "`benchmarks/results/toy.json` (every row)" in out and "no provenance recorded" in out
    assert out.startswith("before\n") and out.endswith("after\n")


def test_source_line_names_the_command_and_commit_that_produced_the_numbers(tmp_path):
    """Under a generated table: the command and commit from the result's provenance (a backfilled one says so)."""
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    prov = {"produced_by": "python benchmarks/toy.py run --seeds 0", "commit": "abc1234",
            "recorded": "backfilled from git history"}
    (tmp_path / "benchmarks" / "results" / "toy.json").write_text(json.dumps({"rows": [], "provenance": prov}))
    line = dt.source_line(dt.Generator("toy", lambda r: "", ("toy.json",), "", False), dt.Results(tmp_path))
    assert "`python benchmarks/toy.py run --seeds 0` at abc1234 (backfilled from git history)" in line


def test_every_committed_table_names_its_command_and_commit():
    """Each generated block of README/docs that reads a stored result names its producing command and commit."""
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in doc.read_text().splitlines():
            if line.startswith("<sub>Generated by `make results-docs` from `benchmarks/results/"):
                assert "Produced by" in line and "` at " in line, (doc.name, line[:120])


# ------------------------------------------------------------------------------------------- notebooks


def _notebook_with_marker(root: Path, number: str) -> Path:
    """A copy of notebook 00 under ``root/notebooks`` with one inline marker holding ``number`` in a markdown cell."""
    (root / "notebooks").mkdir(exist_ok=True)
    nb = json.loads((ROOT / "notebooks" / "00_quickstart.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    cell["source"] = ["The default's worst peak on CIFAR-10 is <!-- generated:c10.gen10.worst -->" + number
                      + "<!-- /generated --> (docs).\n", "Second line, untouched: ε = 16/255.\n"] + list(cell["source"])
    path = root / "notebooks" / "00_quickstart.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_notebook_marked_number_is_checked_and_rewritten(tmp_path):
    """A wrong number inside a marker in a notebook's markdown fails the check, naming the notebook and cell;
    `results-docs` rewrites that cell only and writes the notebook as nbformat does (indent 1, UTF-8, final newline)."""
    root = _copy_tree(tmp_path)
    right = dt.f3(dt.worst_peak(dt.attack_rows(dt.c10(dt.Results(ROOT)), "gen0 km10", "fine")))
    path = _notebook_with_marker(root, "0.999")
    before = json.loads(path.read_text(encoding="utf-8"))
    out = io.StringIO()
    assert dt.check(root, out=out) == 1
    diff = out.getvalue()
    assert "notebooks/00_quickstart.ipynb cell" in diff and "0.999" in diff and right in diff
    assert path in dt.write(root)
    text = path.read_text(encoding="utf-8")
    after = json.loads(text)
    assert text == json.dumps(after, indent=1, ensure_ascii=False) + "\n" and "ε = 16/255" in text
    changed = [k for k, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
    assert len(changed) == 1 and f"-->{right}<!--" in "".join(after["cells"][changed[0]]["source"])
    assert after["cells"][changed[0]]["source"][1] == "Second line, untouched: ε = 16/255.\n"
    assert dt.check(root, out=io.StringIO()) == 0
    assert path not in dt.write(root)  # nothing left to rewrite: the notebook is not touched again


def test_notebook_without_markers_is_never_rewritten(tmp_path):
    """A notebook with no marker keeps its exact bytes (no re-serialisation)."""
    text = '{"cells": [{"cell_type": "markdown", "source": ["0.999"]}], "nbformat": 4}'
    assert dt.render_notebook(text, dt.Results(ROOT), "x.ipynb") == text


# ------------------------------------------------------------------------------------------- stored results


RESULTS = ROOT / "benchmarks" / "results"


def test_every_stored_result_records_its_command_and_commit():
    """Every JSON in benchmarks/results has a provenance naming a command and a commit (a backfilled one says so)."""
    for path in sorted(RESULTS.glob("*.json")):
        prov = json.loads(path.read_text()).get("provenance") or {}
        assert prov.get("produced_by") and prov.get("commit"), path.name
        assert "recorded" in prov or "machine" in prov, path.name  # written by write_result, or labelled backfilled


def _readers_text() -> str:
    """Everything that can read a stored result: the docs generator, benchmarks' code, the package, the notebooks,
    tests, README and docs (benchmarks/results itself excluded)."""
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "tools").glob("*.py"),
             *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "ucs_lite").rglob("*.py"), *(ROOT / "tests").glob("*.py"),
             *(ROOT / "notebooks").glob("*.ipynb")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_no_stored_output_that_nothing_reads():
    """Each file in benchmarks/results is named by something that reads it (or links it), by its name or by the
    pattern its reader globs (granularity_<part>.json); the lock of the countermeasures study is the exception."""
    text = _readers_text()
    unread = [p.name for p in sorted(RESULTS.iterdir()) if p.is_file() and p.name != "countermeasures.lock"
              and p.name not in text and not (p.name.startswith("granularity_") and 'f"granularity_{k}.json"' in text)]
    assert unread == []


def test_stop_time_is_the_next_occurrence_across_midnight():
    """`--stop-at HH:MM` given at 23:00 for 02:00 stops three hours later, not at once; ISO date-times are taken as is."""
    from datetime import datetime, timezone

    from benchmarks.common import past, stop_time

    now = datetime(2026, 12, 7, 23, 0, tzinfo=timezone.utc)
    t = stop_time("02:00", now)
    assert t == datetime(2026, 12, 8, 2, 0, tzinfo=timezone.utc) and not past(t, now)
    assert stop_time("23:30", now) == datetime(2026, 12, 7, 23, 30, tzinfo=timezone.utc)
    assert stop_time("2026-12-08T06:30", now) == datetime(2026, 12, 8, 6, 30, tzinfo=timezone.utc)
    assert past(stop_time("2026-12-07T22:00", now), now) and stop_time(None) is None and not past(None)


def test_removed_join_matches_each_row_with_its_clean_run():
    """benchmarks.common.join_removed: removed against the clean row of the same keys; NaN where it is missing."""
    import math

    from benchmarks.common import join_removed

    rows = [{"noise": "clean", "view": "fine", "seed": 0, "peak": 0.6, "final": 0.5, "chance": 0.1},
            {"noise": "x", "view": "fine", "seed": 0, "peak": 0.35, "final": 0.3, "chance": 0.1},
            {"noise": "x", "view": "fine", "seed": 1, "peak": 0.2, "final": 0.2, "chance": 0.1}]
    out = join_removed(rows, ("view", "seed"))
    assert [r["noise"] for r in out] == ["x", "x"]
    assert out[0]["removed_peak"] == pytest.approx(0.5) and out[0]["clean_peak"] == 0.6
    assert math.isnan(out[1]["removed_peak"])
    assert len(join_removed(rows, ("view", "seed"), keep_clean=True)) == 3


def test_write_result_records_provenance(tmp_path):
    """benchmarks.common.write_result: the JSON carries the command line, the commit, a UTC date and the machine."""
    from benchmarks.common import write_result

    path = write_result(tmp_path / "r.json", {"rows": [1]}, argv=["benchmarks/study.py", "table", "--epochs", "12"])
    prov = json.loads(path.read_text())["provenance"]
    assert prov["produced_by"] == "python benchmarks/study.py table --epochs 12"
    assert prov["commit"] and prov["date"].endswith("Z") and prov["machine"]["cpu_count"] >= 1


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


def test_study_data_folder_follows_ucs_lite_data(tmp_path, monkeypatch):
    """CIFAR-100 dev is looked up beside $UCS_LITE_DATA (the CIFAR-10 bundle), not at a fixed ../shared path."""
    from benchmarks.common import data_dir

    bundle = tmp_path / "elsewhere" / "cifar10_subset.npz"
    bundle.parent.mkdir()
    bundle.write_bytes(b"")
    monkeypatch.setenv("UCS_LITE_DATA", str(bundle))
    assert data_dir() == bundle.parent


def test_claims_effect_spread_over_seeds_0_to_2_per_thread_count():
    """Issue 33: an effect must be ≥ 2× its spread over attacker seeds 0–2; the spread is max − min at one thread
    count (the larger over thread counts), the ratio the smaller over thread counts of mean / spread."""
    effects = {("1", 0): 0.30, ("1", 1): 0.20, ("1", 2): 0.25, ("1", 3): 0.01,   # seed 3 is not in the spread
               ("2", 0): 0.30, ("2", 1): 0.28, ("2", 2): 0.26}
    runs = [{**_record(t, s, 0.5, 0.4, ">=", "x", "2026-12-07T10:00:00Z"), "effect": e} for (t, s), e in effects.items()]
    out = claims.effect_spread(runs)
    assert out["effect_min"] == pytest.approx(0.01)
    assert out["spread_0_2"] == pytest.approx(0.10)                      # threads 1: 0.30 − 0.20
    assert out["effect_vs_spread"] == pytest.approx(2.5)                 # threads 1: 0.25 / 0.10 (threads 2: 7.0)
    # without recorded effects (claims made without reference=) nothing is claimed about the spread
    assert claims.effect_spread([_record(1, 0, 0.5, 0.4, ">=", "x", "t")])["effect_vs_spread"] is None
    # a thread count with fewer than the three seeds is left out
    partial = [{**_record(1, s, 0.5, 0.4, ">=", "x", "t"), "effect": 0.2} for s in (0, 1)]
    assert claims.effect_spread(partial)["spread_0_2"] is None


def test_notebook_claims_record_the_stated_effect_from_their_reference():
    from ucs_lite.notebooks import Claims

    c = Claims(enforce=False)
    c.at_most(0.30, 0.55 - 0.15, "drop", reference=0.55)
    c.at_least(0.50, 0.30 + 0.10, "gap", reference=0.30)
    c.at_least(0.6, 0.25, "no reference")
    assert c.values["drop"]["effect"] == pytest.approx(0.25) and c.values["gap"]["effect"] == pytest.approx(0.20)
    assert "effect" not in c.values["no reference"]
    c.at_most(0.5, 0.4, "noisy", reported="within its seed spread")
    assert c.reported["noisy"] == "within its seed spread" and "noisy" not in c.failed
