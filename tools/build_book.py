"""``make book``: an offline static site of the executed notebooks, for previewing a lesson without running it.

    python tools/build_book.py                 # newest runs/<stamp>/ with executed notebooks -> runs/book/index.html
    python tools/build_book.py --run runs/X    # a given run folder (from ``ucs-lite notebooks``)

The notebooks are **not** executed here: the site shows the copies ``ucs-lite notebooks`` (papermill) executed and
wrote under ``runs/<stamp>/`` — outputs, figures and all — rendered by Sphinx with MyST-NB (execution off). The
newest demo report (``runs/demo-*/report.html``), when there is one, is copied beside the pages and linked from
the index. Needs the ``book`` extra (``pip install -e ".[book]"``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
OUT = RUNS / "book"

CONF = '''project = "ucs_lite lessons"
extensions = ["myst_nb"]
nb_execution_mode = "off"          # show the outputs papermill stored; never re-run a lesson here
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath"]
html_theme = "alabaster"
html_title = "ucs_lite: label-agnostic unlearnable examples, the lessons"
html_static_path = ["_static"]
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


def index_page(notebooks: list[Path], run: Path, demo: Path | None) -> str:
    """The site's index (MyST markdown): what this is, where the outputs come from, the toctree."""
    summary = json.loads((run / "summary.json").read_text())
    lines = ["# ucs_lite lessons, executed", "",
             "Read-only copies of the tutorial notebooks **with their outputs**, as `ucs-lite notebooks` executed them "
             f"(run folder `{run.name}`, profile parameters `{json.dumps(summary.get('params') or {})}`, "
             f"{summary.get('seconds', 0):.0f} s in all). To run a lesson yourself, open it from `notebooks/` in "
             "JupyterLab or Colab.", ""]
    if demo is not None:
        lines += [f"The demo's report (`make demo`, {demo.parent.name}): <a href=\"_static/demo_report.html\">"
                  "open the demo report</a>.", ""]
    lines += ["```{toctree}", ":maxdepth: 1", "", *[p.stem for p in notebooks], "```", ""]
    return "\n".join(lines)


def build(run: Path, out: Path = OUT) -> Path:
    """Render the executed notebooks of ``run`` into ``out`` (``out/index.html``); returns that path."""
    notebooks = sorted(run.glob("*.ipynb"))
    if not notebooks:
        raise SystemExit(f"{run}: no executed notebooks; run `make notebooks` first")
    demo = newest_demo(run.parent)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        (src / "_static").mkdir()
        for nb in notebooks:
            (src / nb.name).write_text(json.dumps(fold_hidden_cells(json.loads(nb.read_text()))))
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
    ap.add_argument("--run", default=None, help="a run folder of `ucs-lite notebooks` (default: the newest)")
    a = ap.parse_args()
    try:
        import myst_nb  # noqa: F401
    except ImportError:
        raise SystemExit('make book needs Sphinx and MyST-NB: pip install -e ".[book]"') from None
    run = Path(a.run) if a.run else next(iter(executed_runs()), None)
    if run is None:
        raise SystemExit("no executed notebooks under runs/: run `make notebooks` (ucs-lite notebooks) first")
    print(build(run))


if __name__ == "__main__":
    main()
