"""lessons/: executed copies of the notebooks that ship (``make lessons``): never stale, ≤ 5 MB, no plotly.js inside;
the check itself on temporary files; ``make book`` drawing their figures from plotly JSON with one plotly.js."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import ship_lessons  # noqa: E402

nbformat = pytest.importorskip("nbformat")

LESSONS = sorted(ship_lessons.LESSONS.glob("*.ipynb"))
NO_LESSONS = "lessons/ holds no executed lessons yet: `make lessons` generates them (on a quiet machine)"


def _notebook(markdown: str = "# Lesson\n\nText.", code: str = "x = 1\nprint(x)"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)]
    return nb


def _executed(nb, outputs: list | None = None, injected: bool = False):
    """``nb`` as papermill leaves it: outputs, execution counts, papermill metadata, maybe an injected cell."""
    ex = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    ex.metadata["papermill"] = {"parameters": {"epochs": 1}}
    for cell in ex.cells:
        cell.metadata["papermill"] = {"duration": 0.1}
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = outputs if outputs is not None else [
                nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    if injected:
        cell = nbformat.v4.new_code_cell("# Parameters\nepochs = 1\n")
        cell.metadata["tags"] = ["injected-parameters"]
        ex.cells.insert(1, cell)
    return ex


def _figure_output(with_bundle_html: bool = True) -> list:
    fig = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {"height": 300}}
    bundle = nbformat.v4.new_output("display_data", data={
        "text/html": "<script>window.PlotlyConfig = {};</script><script>/**\n* plotly.js v4.1.1\n*/ var Plotly;</script>"})
    shown = nbformat.v4.new_output("display_data", data={ship_lessons.PLOTLY_MIME: fig,
                                                          "text/html": "<div>Plotly.newPlot(...)</div>"})
    return [bundle, shown] if with_bundle_html else [shown]


def _widget_outputs() -> list:
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    static = nbformat.v4.new_output("display_data", data={ship_lessons.WIDGET_MIME: view, "text/plain": "VBox()",
                                                          "text/html": "<div><b>ε = 16/255</b> static</div>"})
    kept = nbformat.v4.new_output("display_data", data={  # as run_notebooks' keep_static_views leaves one
        "text/html": "<div>p = 10<br><small>(static view of an interactive widget: run the notebook)</small></div>"})
    progress = nbformat.v4.new_output("display_data", data={ship_lessons.WIDGET_MIME: view,
                                                            "text/plain": "attack:   0%|   | 0/12"})
    return [static, progress, kept]


# ---------------------------------------------------------------- the shipped lessons themselves

@pytest.mark.skipif(not LESSONS, reason=NO_LESSONS)
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_shipped_lesson_is_not_stale(lesson):
    notebook = ship_lessons.NOTEBOOKS / lesson.name
    assert notebook.is_file(), f"lesson {lesson.name} has no notebook notebooks/{lesson.name}: remove it, or `make lessons`"
    message = ship_lessons.stale_message(lesson, notebook)
    assert message is None, message


@pytest.mark.skipif(not LESSONS, reason=NO_LESSONS)
def test_every_notebook_ships_as_a_default_profile_lesson_within_the_rules():
    have = {p.stem for p in LESSONS}
    missing = [p.stem for p in sorted(ship_lessons.NOTEBOOKS.glob("*.ipynb")) if p.stem not in have]
    assert not missing, f"notebooks without a lesson in lessons/: {', '.join(missing)}; `make lessons` generates them"
    manifest = json.loads((ship_lessons.LESSONS / ship_lessons.MANIFEST).read_text())["lessons"]
    for lesson in LESSONS:
        entry = manifest.get(lesson.stem)
        assert entry is not None, f"lesson {lesson.name} is not in lessons/MANIFEST.json; `make lessons` regenerates it"
        assert not entry["tiny"], f"lesson {lesson.name} comes from a tiny run ({entry['run']}); `make lessons` without ARGS"
        nb = json.loads(lesson.read_text())
        assert entry["sources_sha256"] == ship_lessons.sources_sha256(nb), f"lesson {lesson.name}: manifest sha differs"
        assert ship_lessons.lesson_problems(lesson.name, lesson.read_text()) == []


# ---------------------------------------------------------------- the staleness check on temporary files

def test_stale_copy_fails_and_fresh_copy_passes(tmp_path):
    nb = _notebook()
    nbformat.write(nb, tmp_path / "nb.ipynb")
    nbformat.write(_executed(nb, injected=True), tmp_path / "01_lesson.ipynb")
    assert ship_lessons.stale_message(tmp_path / "01_lesson.ipynb", tmp_path / "nb.ipynb") is None

    edited = _notebook(code="x = 2\nprint(x)")  # the notebook changed after the lesson was made
    nbformat.write(edited, tmp_path / "nb.ipynb")
    message = ship_lessons.stale_message(tmp_path / "01_lesson.ipynb", tmp_path / "nb.ipynb")
    assert message is not None
    assert "01_lesson.ipynb" in message and "cell 2 (code" in message and "make lessons" in message

    longer = _notebook()
    longer.cells.append(nbformat.v4.new_markdown_cell("## Exercise"))
    nbformat.write(longer, tmp_path / "nb.ipynb")
    message = ship_lessons.stale_message(tmp_path / "01_lesson.ipynb", tmp_path / "nb.ipynb")
    assert "cell 3" in message


def test_markdown_edits_and_cell_order_make_a_lesson_stale():
    nb = _notebook()
    lesson = _executed(nb)
    assert ship_lessons.first_difference(lesson, _notebook(markdown="# Lesson\n\nOther text.")).startswith("cell 1 (markdown")
    swapped = _notebook()
    swapped.cells.reverse()
    assert ship_lessons.first_difference(lesson, swapped) is not None
    assert ship_lessons.sources_sha256(lesson) == ship_lessons.sources_sha256(nb)  # outputs, metadata, injected cell ignored
    assert ship_lessons.sources_sha256(lesson) != ship_lessons.sources_sha256(swapped)


# ---------------------------------------------------------------- the shipping rules: plotly JSON, no plotly.js, ≤ 5 MB

def test_slim_outputs_keeps_plotly_json_and_static_views_only():
    ex = _executed(_notebook(), outputs=_figure_output() + _widget_outputs())
    counts = ship_lessons.slim_outputs(ex)
    assert counts == {"figures": 1, "plotly_js_dropped": 1, "static_views": 2, "live_widgets_dropped": 1}
    outs = ex.cells[1].outputs
    assert [sorted(o["data"]) for o in outs] == [[ship_lessons.PLOTLY_MIME], ["text/html", "text/plain"], ["text/html"]]
    assert ship_lessons.lesson_problems("x", nbformat.writes(ex)) == []


def test_lesson_rules_catch_bundled_plotly_js_and_size():
    with_bundle = nbformat.writes(_executed(_notebook(), outputs=_figure_output()))
    assert any("plotly.js" in p for p in ship_lessons.lesson_problems("00_x", with_bundle))
    big = _executed(_notebook(), outputs=[nbformat.v4.new_output("stream", name="stdout", text="x" * 5_100_000)])
    problems = ship_lessons.lesson_problems("00_x", nbformat.writes(big))
    assert len(problems) == 1 and "00_x" in problems[0] and "5 MB" in problems[0]
    fine = _executed(_notebook(), outputs=[nbformat.v4.new_output("stream", name="stdout", text="x" * 4_900_000)])
    assert ship_lessons.lesson_problems("00_x", nbformat.writes(fine)) == []


def _run(tmp_path: Path, outputs: list, ok: bool = True) -> tuple[dict, Path]:
    """A fake run_notebooks summary of one executed notebook, and the notebooks folder it came from."""
    nbs, run = tmp_path / "notebooks", tmp_path / "run"
    nbs.mkdir(parents=True)
    run.mkdir(parents=True)
    nb = _notebook()
    nbformat.write(nb, nbs / "01_lesson.ipynb")
    nbformat.write(_executed(nb, outputs=outputs), run / "01_lesson.ipynb")
    summary = {"out_dir": str(run), "notebooks": [{"name": "01_lesson", "ok": ok, "seconds": 12.5,
                                                  "output": str(run / "01_lesson.ipynb"), "params": {},
                                                  "ignored_params": [], "error": None if ok else "boom"}]}
    return summary, nbs


def test_write_lessons_marks_a_tiny_run_and_writes_the_manifest(tmp_path):
    summary, nbs = _run(tmp_path, _figure_output() + _widget_outputs())
    out = tmp_path / "lessons"
    mach = {"cpu_count": 2, "cpu_model": "test", "torch": "2", "threads": 2}
    manifest = ship_lessons.write_lessons(summary, out, {"epochs": 1}, "abc1234", [], mach, "cpu-quick", nbs)
    entry = manifest["lessons"]["01_lesson"]
    assert manifest["tiny"] and entry["tiny"] and "TINY RUN" in entry["run"]
    assert entry["commit"] == "abc1234" and entry["profile"] == "cpu-quick" and entry["wall_seconds"] == 12.5
    assert entry["notebook"].endswith("01_lesson.ipynb") and entry["outputs"]["figures"] == 1
    assert json.loads((out / "MANIFEST.json").read_text()) == manifest
    assert ship_lessons.stale_message(out / "01_lesson.ipynb", nbs / "01_lesson.ipynb") is None
    assert ship_lessons.lesson_problems("01_lesson", (out / "01_lesson.ipynb").read_text()) == []
    default = ship_lessons.write_lessons(summary, out, {}, "abc1234", [" M x.py"], mach, "cpu-quick", nbs)
    assert not default["tiny"] and default["lessons"]["01_lesson"]["commit"] == "abc1234-dirty"


def test_write_lessons_refuses_a_failed_or_oversized_lesson_and_writes_nothing(tmp_path):
    summary, nbs = _run(tmp_path, [], ok=False)
    out = tmp_path / "lessons"
    with pytest.raises(SystemExit, match="01_lesson failed: boom"):
        ship_lessons.write_lessons(summary, out, {}, "abc1234", [], {}, "cpu-quick", nbs)
    big = nbformat.v4.new_output("stream", name="stdout", text="x" * 5_100_000)
    summary, nbs = _run(tmp_path / "b", [big])
    with pytest.raises(SystemExit, match="over the 5 MB limit"):
        ship_lessons.write_lessons(summary, out, {}, "abc1234", [], {}, "cpu-quick", nbs)
    assert not out.exists()


def test_git_state_names_the_commit():
    commit, dirty = ship_lessons.git_state(ROOT, ignore=ship_lessons.LESSONS)
    assert len(commit) >= 7 and isinstance(dirty, list)
    assert not any(d[3:].startswith("lessons/") for d in dirty)


# ---------------------------------------------------------------- the book draws lessons without a kernel

def test_book_draws_lesson_figures_with_one_plotly_js(tmp_path):
    pytest.importorskip("myst_nb", reason='make book needs the book extra (pip install -e ".[book]")')
    import build_book

    summary, nbs = _run(tmp_path, _figure_output() + _widget_outputs())
    lessons = tmp_path / "lessons"
    ship_lessons.write_lessons(summary, lessons, {"epochs": 1}, "abc1234", [], {}, "cpu-quick", nbs)
    assert build_book.pick_source(lessons, tmp_path / "runs")[0] == lessons
    index = build_book.build(lessons, tmp_path / "book", runs=tmp_path / "runs")
    page = (tmp_path / "book" / "01_lesson.html").read_text()
    assert 'class="plotly-graph-div"' in page and "Plotly.newPlot" in page and "static</div>" in page
    assert "_static/plotly.min.js" in page and "plotly.js v" not in page  # the script is linked, not inlined
    assert "plotly.js v" in (tmp_path / "book" / "_static" / "plotly.min.js").read_text()
    assert "tiny run" in index.read_text() and "made 01_lesson" in index.read_text()


def test_book_falls_back_to_the_newest_run_and_says_so(tmp_path):
    pytest.importorskip("myst_nb", reason='make book needs the book extra (pip install -e ".[book]")')
    import build_book

    run = tmp_path / "runs" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    nbformat.write(_executed(_notebook(), outputs=_figure_output()), run / "00_x.ipynb")  # as papermill left it
    source, why = build_book.pick_source(tmp_path / "lessons", tmp_path / "runs")
    assert source == run and "no executed lessons" in why and str(run) in why
    build_book.build(source, tmp_path / "book")
    page = (tmp_path / "book" / "00_x.html").read_text()
    assert 'class="plotly-graph-div"' in page and "plotly.js v" not in page  # the run's inlined bundle is dropped
    with pytest.raises(SystemExit, match="make lessons"):
        build_book.pick_source(tmp_path / "lessons", tmp_path / "none")
