"""make book: executed notebooks rendered as an offline static site, outputs included, never re-executed."""
import base64
import io
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("myst_nb", reason='make book needs the book extra (pip install -e ".[book]")')
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import build_book  # noqa: E402


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_book_renders_stored_outputs_without_executing(tmp_path):
    import nbformat

    run = tmp_path / "runs" / "20260101-000000"
    run.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    # the code would fail if executed: the page must show the stored output instead
    code = nbformat.v4.new_code_cell("raise SystemExit('executed!')", execution_count=1)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stored output 0.258\n"),
                    nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})]
    nb.cells = [nbformat.v4.new_markdown_cell("# Lesson zero\n\nSome text."), code]
    nbformat.write(nb, run / "00_quickstart.ipynb")
    (run / "summary.json").write_text(json.dumps({"params": {"epochs": 2}, "seconds": 3}))
    demo = tmp_path / "runs" / "demo-20260101-000000"
    demo.mkdir()
    (demo / "report.html").write_text("<html>demo</html>")

    assert build_book.executed_runs(tmp_path / "runs") == [run]
    index = build_book.build(run, tmp_path / "book")
    assert index == tmp_path / "book" / "index.html" and index.is_file()
    home = index.read_text()
    assert "00_quickstart.html" in home and "_static/demo_report.html" in home
    assert (tmp_path / "book" / "_static" / "demo_report.html").read_text() == "<html>demo</html>"
    page = (tmp_path / "book" / "00_quickstart.html").read_text()
    assert "stored output 0.258" in page and "<img" in page and "Lesson zero" in page


def test_setup_cell_collapsed_in_jupyterlab_is_folded_in_the_book():
    """The setup cell (``jupyter.source_hidden``) gets MyST-NB's hide-input tag; other cells are left alone."""
    nb = {"cells": [{"cell_type": "code", "metadata": {"jupyter": {"source_hidden": True}}, "source": "setup"},
                    {"cell_type": "code", "metadata": {}, "source": "x = 1"}]}
    out = build_book.fold_hidden_cells(nb)
    assert out["cells"][0]["metadata"]["tags"] == ["hide-input"]
    assert "tags" not in out["cells"][1]["metadata"]
    assert build_book.fold_hidden_cells(out)["cells"][0]["metadata"]["tags"] == ["hide-input"]  # idempotent
