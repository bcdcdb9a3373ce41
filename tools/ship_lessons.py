"""``make lessons``: execute the notebooks at the default profile and ship executed copies into ``lessons/``.

    python tools/ship_lessons.py                          # all six, default profile -> lessons/*.ipynb + MANIFEST.json
    python tools/ship_lessons.py -p epochs 1 --out /tmp/lessons --allow-dirty 01   # a tiny run, marked as one

The notebooks run with papermill through :func:`ucs_lite.notebooks.run_notebooks` (raw executed copies stay under
``runs/ship/<stamp>/``). Each shipped lesson keeps its outputs, with three changes that make it readable without a
kernel and small: a widget keeps only its static view (:func:`ucs_lite.notebooks.keep_static_views`), a live
widget whose state papermill does not save (a progress bar) is dropped, and a plotly figure keeps only its JSON
(``application/vnd.plotly.v1+json``): the HTML copy and the 4.8 MB plotly.js bundle the notebook renderer inlines
are dropped, because ``make book`` ships the plotly script once for every page. A lesson over 5 MB, a lesson still
carrying plotly.js, a failed notebook or (without ``--allow-dirty``) a dirty git tree stops the command before
anything is written. ``lessons/MANIFEST.json`` records, per lesson, its source notebook, the sha256 of its cells'
sources, the commit, date, wall time, machine and profile; a run with any ``-p`` override is marked ``tiny``.
``tests/test_lessons.py`` fails when a lesson's cells differ from its notebook's (:func:`stale_message`).

This is a maintainer's command for a checkout (it writes into the repository and records its commit), so it is a
tool here rather than a ``ucs-lite`` subcommand of the installed package.
"""
from __future__ import annotations

import argparse
import copy
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
NOTEBOOKS = ROOT / "notebooks"
MANIFEST = "MANIFEST.json"
#: The largest lesson file shipped (5 MB).
MAX_BYTES = 5_000_000
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Text found in plotly.js itself (its licence header, the loader plotly's ``notebook`` renderer inlines).
PLOTLY_JS_MARKERS = ("* plotly.js v", "window.PlotlyConfig")
#: The caption of a widget's static view (``ucs_lite.viz._with_static_view``), to count them.
STATIC_VIEW_MARK = "static view of an interactive widget"
#: The cell papermill adds when parameters are passed: not part of the notebook's own cells.
INJECTED_TAG = "injected-parameters"


# ---------------------------------------------------------------- cells: what makes a lesson stale

def _text(source) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    return "".join(source) if isinstance(source, list) else str(source)


def cell_sources(nb: dict) -> list[tuple[str, str]]:
    """``(cell_type, source)`` of every code and markdown cell in order, papermill's injected-parameters cell
    left out (raw cells are not part of the comparison)."""
    return [(c["cell_type"], _text(c.get("source", ""))) for c in nb.get("cells", [])
            if c.get("cell_type") in ("code", "markdown")
            and INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]


def sources_sha256(nb: dict) -> str:
    """sha256 of a notebook's code and markdown sources in order (:func:`cell_sources`), hex."""
    h = hashlib.sha256()
    for kind, src in cell_sources(nb):
        h.update(f"{kind}\0{len(src)}\0{src}\0".encode())
    return h.hexdigest()


def first_difference(lesson: dict, notebook: dict) -> str | None:
    """Where a lesson's cells first differ from its notebook's (e.g. ``cell 7 (markdown) differs``), or None."""
    a, b = cell_sources(lesson), cell_sources(notebook)
    for i, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            first = next((ln for ln in y[1].splitlines() if ln.strip()), "")[:60]
            return f"cell {i} ({y[0]}, notebook's begins {first!r}) differs"
    if len(a) != len(b):
        return (f"the lesson has {len(a)} code/markdown cells, the notebook {len(b)} "
                f"(first missing: cell {min(len(a), len(b)) + 1})")
    return None


def stale_message(lesson_path: Path, notebook_path: Path) -> str | None:
    """One line saying that ``lesson_path`` is stale against ``notebook_path`` and how to fix it, or None."""
    lesson, notebook = (json.loads(Path(p).read_text()) for p in (lesson_path, notebook_path))
    diff = first_difference(lesson, notebook)
    if diff is None:
        return None
    return (f"lesson {Path(lesson_path).name} is stale: {diff} from {Path(notebook_path).name}; "
            "`make lessons` regenerates the lessons")


# ---------------------------------------------------------------- outputs: what a lesson keeps

def has_plotly_js(text: str) -> bool:
    """Whether ``text`` carries plotly.js itself (its licence header or the notebook renderer's loader)."""
    return any(m in text for m in PLOTLY_JS_MARKERS)


def _slim_output(out: dict, counts: dict) -> dict | None:
    """One output as a lesson keeps it (None: drop it); ``counts`` tallies what changed."""
    data = out.get("data")
    if not data:
        return out
    if PLOTLY_MIME in data:  # a figure: its JSON (and text/plain) only; the book draws it with its one plotly.js
        dropped = [k for k in data if k not in (PLOTLY_MIME, "text/plain")]
        for k in dropped:
            del data[k]
        counts["figures"] += 1
        return out
    if has_plotly_js(_text(data.get("text/html", ""))):  # the renderer's plotly.js bundle
        counts["plotly_js_dropped"] += 1
        return None
    if WIDGET_MIME in data:
        if "text/html" in data:  # the static view stays (what keep_static_views does on disk)
            del data[WIDGET_MIME]
            counts["static_views"] += 1
            return out
        counts["live_widgets_dropped"] += 1  # a progress bar: papermill saves no widget state, nothing to show
        return None
    if STATIC_VIEW_MARK in _text(data.get("text/html", "")):  # already kept by run_notebooks' keep_static_views
        counts["static_views"] += 1
    return out


def slim_outputs(nb: dict) -> dict:
    """Make ``nb`` (an executed notebook, changed in place) a lesson: figures as plotly JSON only, no plotly.js,
    widgets as their static views. Returns the counts ``{"figures", "plotly_js_dropped", "static_views",
    "live_widgets_dropped"}``."""
    counts = {"figures": 0, "plotly_js_dropped": 0, "static_views": 0, "live_widgets_dropped": 0}
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = [o for o in (_slim_output(o, counts) for o in cell["outputs"]) if o is not None]
    return counts


def lesson_problems(name: str, text: str) -> list[str]:
    """The shipping rules a lesson's file text breaks: over :data:`MAX_BYTES`, plotly.js inside."""
    problems = []
    size = len(text.encode())
    if size > MAX_BYTES:
        problems.append(f"lesson {name} is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit")
    if has_plotly_js(text):
        problems.append(f"lesson {name} carries plotly.js (the book ships it once; figures must be plotly JSON)")
    return problems


# ---------------------------------------------------------------- provenance

def git_state(root: Path = ROOT, ignore: Path | None = None) -> tuple[str, list[str]]:
    """The short commit of ``root`` and its changed tracked files (``git status --porcelain``), those under
    ``ignore`` (the lessons folder being written) left out."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    skip = None
    if ignore is not None and Path(ignore).resolve().is_relative_to(Path(root).resolve()):
        skip = Path(ignore).resolve().relative_to(Path(root).resolve()).as_posix() + "/"
    dirty = [ln.strip() for ln in git("status", "--porcelain", "--untracked-files=no").splitlines()
             if ln.strip() and not (skip and ln[3:].startswith(skip))]
    return commit, dirty


def machine() -> dict:
    """The machine a run happens on: CPU count and model, torch version and threads, device, load average."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    threads = os.environ.get("UCS_LITE_THREADS")
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "torch": torch.__version__,
            "threads": int(threads) if threads else torch.get_num_threads(),
            "threads_from": "UCS_LITE_THREADS" if threads else "torch's default",
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def cache_state() -> dict:
    """The result cache the run reads and writes (``$UCS_LITE_CACHE``, else ``~/.cache/ucs_lite``) and how many
    entries it held before the run (0: every number was computed in this run)."""
    from ucs_lite.cache import entries

    where = os.environ.get("UCS_LITE_CACHE") or str(Path.home() / ".cache" / "ucs_lite")
    return {"dir": where, "entries_at_start": len(entries())}


def resolved_profile(params: dict) -> str:
    """The profile the notebooks resolve ``params`` to (``auto``: gpu-class on CUDA, else cpu-quick)."""
    from ucs_lite.notebooks import pick_profile

    return pick_profile(str(params.get("profile", "auto")))


# ---------------------------------------------------------------- shipping

def lesson_entry(name: str, source: Path, nb: dict, record: dict, common: dict, counts: dict, size: int) -> dict:
    """One lesson's MANIFEST.json entry."""
    try:
        shown = source.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        shown = str(source)
    return {"notebook": shown, "sources_sha256": sources_sha256(nb), **common,
            "wall_seconds": record["seconds"], "params": record.get("params") or {},
            "ignored_params": record.get("ignored_params") or [], "bytes": size, "outputs": counts}


def write_lessons(summary: dict, out: Path, params: dict, commit: str, dirty: list[str], mach: dict,
                  profile: str, notebook_dir: Path = NOTEBOOKS, cache: dict | None = None) -> dict:
    """Turn a :func:`run_notebooks` summary into lessons under ``out`` and update ``out/MANIFEST.json``.

    Every rule is checked before anything is written: a failed notebook, a lesson over :data:`MAX_BYTES` or one
    still carrying plotly.js raises ``SystemExit`` with one line per problem. Entries of lessons not in this
    run stay in the manifest. Returns the manifest."""
    import nbformat

    failed = [f"notebook {r['name']} failed: {(r['error'] or '').splitlines()[0][:300]}"
              for r in summary["notebooks"] if not r["ok"]]
    if failed:
        raise SystemExit("; ".join(failed) + f" (raw copies in {summary['out_dir']}); nothing written to {out}")
    tiny = bool(params)
    common = {"commit": commit + ("-dirty" if dirty else ""), "dirty_files": dirty,
              "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": mach,
              "cache": cache or {},
              "profile": profile, "tiny": tiny,
              "run": (f"TINY RUN (parameters {json.dumps(params)}): not the default-profile lessons" if tiny
                      else f"default profile ({profile})")}
    staged, problems = {}, []
    for r in summary["notebooks"]:
        nb = nbformat.read(r["output"], as_version=4)
        counts = slim_outputs(nb)
        text = nbformat.writes(nb) + "\n"
        problems += lesson_problems(r["name"], text)
        source = Path(notebook_dir) / f"{r['name']}.ipynb"
        if source.is_file() and (diff := first_difference(nb, json.loads(source.read_text()))):
            problems.append(f"lesson {r['name']}: {diff} from its notebook (edited during the run?)")
        staged[r["name"]] = (text, lesson_entry(r["name"], source, nb, r, common, counts, len(text.encode())))
    if problems:
        raise SystemExit("; ".join(problems) + f"; nothing written to {out}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    lessons = manifest.get("lessons", {})
    for name, (text, entry) in staged.items():
        (out / f"{name}.ipynb").write_text(text)
        lessons[name] = entry
    manifest = {"what": "executed copies of notebooks/*.ipynb, made by `make lessons` (tools/ship_lessons.py); "
                        "tests/test_lessons.py fails when one is stale",
                "tiny": any(e.get("tiny") for e in lessons.values()),
                "lessons": dict(sorted(lessons.items()))}
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def parse_params(pairs: list[list[str]] | None) -> dict:
    """``-p NAME VALUE`` pairs as a dict, each value read as JSON where it parses (as ``ucs-lite notebooks``)."""
    params = {}
    for name, value in pairs or []:
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def ship(names: list[str] | None, params: dict, out: Path, allow_dirty: bool = False,
         notebook_dir: Path = NOTEBOOKS, timeout: int | None = None) -> dict:
    """Execute ``names`` (default: all) with papermill, then :func:`write_lessons` into ``out``. Refuses a
    dirty git tree (tracked files changed outside ``out``) unless ``allow_dirty``, which marks it."""
    from ucs_lite.notebooks import run_notebooks

    commit, dirty = git_state(ROOT, ignore=out)
    if dirty and not allow_dirty:
        raise SystemExit(f"the git tree has {len(dirty)} changed tracked files ({', '.join(dirty[:4])}"
                         f"{', ...' if len(dirty) > 4 else ''}): commit first, or pass --allow-dirty to mark "
                         "the lessons")
    mach, cache = machine(), cache_state()
    summary = run_notebooks(names, params=params, out_root=ROOT / "runs" / "ship", notebook_dir=notebook_dir,
                            timeout=timeout)
    mach["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return write_lessons(summary, out, params, commit, dirty, mach, resolved_profile(params), notebook_dir, cache)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook names or prefixes (default: all)")
    ap.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"),
                    help="parameter override (marks the lessons as a tiny run)")
    ap.add_argument("--out", default=str(LESSONS), help="lessons folder (default: lessons/)")
    ap.add_argument("--notebook-dir", default=str(NOTEBOOKS))
    ap.add_argument("--allow-dirty", action="store_true", help="run on a dirty tree; the manifest marks it")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    a = ap.parse_args(argv)
    params = parse_params(a.p)
    manifest = ship(a.names or None, params, Path(a.out), a.allow_dirty, Path(a.notebook_dir), a.timeout)
    for name, e in manifest["lessons"].items():
        print(f"{Path(a.out) / name}.ipynb: {e['bytes'] / 1e6:.2f} MB, {e['wall_seconds']:.0f} s, {e['run']}, "
              f"commit {e['commit']}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
