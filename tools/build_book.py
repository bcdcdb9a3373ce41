"""``make book``: an offline static site of the executed lessons, for reading a lesson without running it.

    python tools/build_book.py                    # lessons/ (make lessons), else the newest runs/<stamp>/ -> runs/book/
    python tools/build_book.py --lessons DIR      # another lessons folder (a tiny run's, say)
    python tools/build_book.py --run runs/X       # a run folder of ``ucs-lite notebooks``

Nothing is executed here: the site shows the executed copies shipped in ``lessons/`` (``make lessons``,
tools/ship_lessons.py; its MANIFEST.json gives the commit, date and machine on the index), or, where ``lessons/``
holds none, those ``ucs-lite notebooks`` wrote under ``runs/<stamp>/`` (said on the index) — rendered by Sphinx
with MyST-NB (execution off). Every plotly figure is drawn from its JSON (``application/vnd.plotly.v1+json``) by one
plotly.js shipped in ``_static/plotly.min.js`` (from the installed plotly package; no network needed); widgets
show their static view. The newest demo report (``runs/demo-*/report.html``), when there is one, is copied beside
the pages and linked from the index. Needs the ``book`` extra (``pip install -e ".[book]"``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ship_lessons import MANIFEST, PLOTLY_MIME, slim_outputs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
LESSONS = ROOT / "lessons"
OUT = RUNS / "book"
PLOTLY_JS = "plotly.min.js"

CONF = '''project = "ucs_lite lessons"
extensions = ["myst_nb"]
nb_execution_mode = "off"          # show the outputs papermill stored; never re-run a lesson here
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath"]
html_theme = "alabaster"
html_title = "ucs_lite: label-agnostic unlearnable examples, the lessons"
html_static_path = ["_static"]
html_js_files = ["plotly.min.js"]  # once for the whole site: every figure's div calls Plotly.newPlot
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]
exclude_patterns = ["_build"]
'''


def executed_runs(runs: Path = RUNS) -> list[Path]:
    """Run folders of ``ucs-lite notebooks`` (``summary.json`` beside executed ``.ipynb`` files), newest first."""
    found = [p.parent for p in runs.glob("*/summary.json") if any(p.parent.glob("*.ipynb"))]
    return sorted(found, key=lambda p: p.name, reverse=True)


def newest_demo(runs: Path = RUNS) -> Path | None:
    """The newest ``runs/demo-*/report.html``, or None."""
    reports = sorted(runs.glob("demo-*/report.html"), key=lambda p: p.parent.name)
    return reports[-1] if reports else None


def fold_hidden_cells(notebook: dict) -> dict:
    """Cells JupyterLab shows collapsed (``metadata.jupyter.source_hidden``: the setup cell) get MyST-NB's
    ``hide-input`` tag, so the site folds their code behind a toggle too; their outputs stay visible."""
    for cell in notebook.get("cells", []):
        meta = cell.setdefault("metadata", {})
        if meta.get("jupyter", {}).get("source_hidden"):
            tags = meta.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
    return notebook


def has_lessons(folder: Path) -> bool:
    """Whether ``folder`` holds executed lessons (``*.ipynb``)."""
    return folder.is_dir() and any(folder.glob("*.ipynb"))


def pick_source(lessons: Path = LESSONS, runs: Path = RUNS) -> tuple[Path, str]:
    """What the book is built from: ``lessons`` when it holds lessons, else the newest run under ``runs`` (with a
    sentence saying so). ``SystemExit`` when there is neither."""
    if has_lessons(lessons):
        return lessons, f"building from the shipped lessons in {lessons}"
    run = next(iter(executed_runs(runs)), None)
    if run is None:
        raise SystemExit(f"no executed lessons in {lessons} and none under {runs}: run `make lessons` "
                         "(or `make notebooks`)")
    return run, f"{lessons} holds no executed lessons: building from the newest run {run} instead"


def plotly_div(fig: dict, div_id: str) -> str:
    """A plotly figure (its ``application/vnd.plotly.v1+json`` data) as an HTML div drawn by the site's one
    plotly.js (``include_plotlyjs=False``); the figure's own height, else 450 px."""
    import plotly.io as pio

    return pio.to_html(fig, include_plotlyjs=False, full_html=False, validate=False, div_id=div_id,
                       default_height="450px")


def draw_figures(notebook: dict, prefix: str) -> int:
    """Give every plotly output of ``notebook`` an HTML view (:func:`plotly_div`) in place of its JSON, which
    MyST-NB does not render; returns the number of figures."""
    n = 0
    for cell in notebook.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME in data:
                n += 1
                data["text/html"] = plotly_div(data.pop(PLOTLY_MIME), f"{prefix}-fig{n}")
    return n


def book_notebook(notebook: dict, prefix: str) -> dict:
    """An executed notebook as the book shows it: lesson outputs (:func:`ship_lessons.slim_outputs`, a no-op on
    a shipped lesson), figures as divs (:func:`draw_figures`), the setup cell folded."""
    slim_outputs(notebook)
    draw_figures(notebook, prefix)
    return fold_hidden_cells(notebook)


def _provenance(source: Path) -> list[str]:
    """The index's sentences on where the outputs come from: the lessons' manifest, or the run's summary."""
    manifest = source / MANIFEST
    if manifest.is_file():
        lessons = json.loads(manifest.read_text()).get("lessons", {})
        lines = ["Read-only copies of the tutorial notebooks **with their outputs**, shipped in `lessons/` "
                 "(`make lessons`).", "", "| lesson | run | commit | date | wall time | machine |",
                 "|---|---|---|---|---|---|"]
        for name, e in lessons.items():
            m = e.get("machine", {})
            run = "**tiny run**" if e.get("tiny") else e.get("run", "")
            lines.append(f"| {name} | {run} | {e.get('commit', '')} | {e.get('date', '')} | "
                         f"{e.get('wall_seconds', 0):.0f} s | {m.get('cpu_count')} × {m.get('cpu_model')}, torch "
                         f"{m.get('torch')}, {m.get('threads')} threads |")
        tiny = {name: e.get("params") for name, e in lessons.items() if e.get("tiny")}
        if tiny:
            lines += ["", "**A tiny run (parameters overridden) made "
                      f"{', '.join(f'{n} (`{json.dumps(p)}`)' for n, p in tiny.items())}: their numbers are not the "
                      "lessons' own.**"]
        return lines
    if (source / "summary.json").is_file():
        summary = json.loads((source / "summary.json").read_text())
        return ["Read-only copies of the tutorial notebooks **with their outputs**, as `ucs-lite notebooks` executed "
                f"them (run folder `{source.name}`, profile parameters `{json.dumps(summary.get('params') or {})}`, "
                f"{summary.get('seconds', 0):.0f} s in all; no shipped lessons were found)."]
    return [f"Read-only copies of the tutorial notebooks **with their outputs**, from `{source}`."]


def index_page(notebooks: list[Path], run: Path, demo: Path | None) -> str:
    """The site's index (MyST markdown): what this is, where the outputs come from, the toctree."""
    lines = ["# ucs_lite lessons, executed", "", *_provenance(run), "",
             "To run a lesson yourself, open it from `notebooks/` in JupyterLab or Colab.", ""]
    if demo is not None:
        lines += [f"The demo's report (`make demo`, {demo.parent.name}): <a href=\"_static/demo_report.html\">"
                  "open the demo report</a>.", ""]
    lines += ["```{toctree}", ":maxdepth: 1", "", *[p.stem for p in notebooks], "```", ""]
    return "\n".join(lines)


def build(run: Path, out: Path = OUT, runs: Path | None = None) -> Path:
    """Render the executed notebooks of ``run`` (a lessons folder or a run folder) into ``out``
    (``out/index.html``), with plotly.js once in ``out/_static``; returns that path. The demo report is looked
    for under ``runs`` (default: a run folder's parent, else ``runs/``)."""
    import plotly.offline

    notebooks = sorted(run.glob("*.ipynb"))
    if not notebooks:
        raise SystemExit(f"{run}: no executed notebooks; run `make lessons` (or `make notebooks`) first")
    demo = newest_demo(runs or (run.parent if (run / "summary.json").is_file() else RUNS))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        (src / "_static").mkdir()
        (src / "_static" / PLOTLY_JS).write_text(plotly.offline.get_plotlyjs())
        for nb in notebooks:
            (src / nb.name).write_text(json.dumps(book_notebook(json.loads(nb.read_text()), f"lesson-{nb.stem}")))
        if demo is not None:
            shutil.copy2(demo, src / "_static" / "demo_report.html")
        (src / "conf.py").write_text(CONF)
        (src / "index.md").write_text(index_page(notebooks, run, demo))
        if out.exists():
            shutil.rmtree(out)
        cmd = [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)]
        subprocess.run(cmd, check=True)
    return out / "index.html"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lessons", default=str(LESSONS), help="the lessons folder (default: lessons/)")
    ap.add_argument("--run", default=None, help="a run folder of `ucs-lite notebooks` instead of the lessons")
    ap.add_argument("--out", default=str(OUT), help="the site's folder (default: runs/book)")
    a = ap.parse_args()
    try:
        import myst_nb  # noqa: F401
    except ImportError:
        raise SystemExit('make book needs Sphinx and MyST-NB: pip install -e ".[book]"') from None
    if a.run:
        source, why = Path(a.run), f"building from the run folder {a.run}"
    else:
        source, why = pick_source(Path(a.lessons))
    print(why, file=sys.stderr)
    t0 = time.time()
    index = build(source, Path(a.out))
    print(f"{index} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
