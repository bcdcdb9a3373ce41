"""Running the lessons: :func:`find_notebooks` (a checkout's ``notebooks/``, else the copies packaged in the
wheel under ``ucs_lite/lessons_src/``, or any ``notebook_dir``) and :func:`run_notebooks` (papermill, one
summary), which ``ucs-lite notebooks`` and ``make notebooks`` call.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from ..profiles import PROFILES
from ..records import RECORD_ENV

__all__ = ["NOTEBOOK_DIR", "PACKAGED_NOTEBOOKS", "CHECKOUT_NOTEBOOKS", "NotebookInspectError", "NotebookNotFound", "default_notebook_dir",
           "find_notebooks", "declared_parameters", "keep_static_views", "run_notebooks"]

_PKG = Path(__file__).resolve().parent.parent
#: A repository checkout's notebooks (present when ucs_lite is imported from a checkout or an editable install).
CHECKOUT_NOTEBOOKS = _PKG.parent / "notebooks"
#: The notebooks a wheel carries: ``setup.py``'s ``build_py`` copies ``notebooks/*.ipynb`` here at build time.
PACKAGED_NOTEBOOKS = _PKG / "lessons_src"


try:
    from ..errors import UcsError as _UserError
except ImportError:  # a ucs_lite without the UcsError family
    class _UserError(Exception):
        """Stand-in for ``ucs_lite.errors.UcsError``."""


class NotebookInspectError(_UserError, ValueError):
    """papermill could not read a notebook's parameters cell (the message names the notebook and why)."""


class NotebookNotFound(_UserError, FileNotFoundError):
    """No notebook of that name, or no notebooks in the folder (the message names the folder and the fix)."""


def default_notebook_dir() -> Path:
    """The checkout's ``notebooks/`` where it holds notebooks, else the packaged copies (``lessons_src``)."""
    if any(CHECKOUT_NOTEBOOKS.glob("*.ipynb")):
        return CHECKOUT_NOTEBOOKS
    return PACKAGED_NOTEBOOKS


#: Where :func:`find_notebooks` looks by default (:func:`default_notebook_dir` at import time).
NOTEBOOK_DIR = default_notebook_dir()


def find_notebooks(names=None, notebook_dir: str | os.PathLike | None = None) -> list[Path]:
    """Notebook files for ``names`` (full names, with or without ``.ipynb``, or a unique prefix such as
    ``00``); all ``*.ipynb`` of the folder, sorted, when ``names`` is empty. The folder is ``notebook_dir``,
    else :func:`default_notebook_dir`; a folder without notebooks is a ``FileNotFoundError`` naming it."""
    folder = Path(notebook_dir) if notebook_dir else default_notebook_dir()
    available = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not available:
        raise NotebookNotFound(f"no notebooks (*.ipynb) in {folder}: pass --notebook-dir (notebook_dir=) with the "
                                "folder of the ucs_lite notebooks")
    if not names:
        return available
    out = []
    for n in names:
        n = str(n).strip().removesuffix(".ipynb")
        exact = [p for p in available if p.stem == n]
        hits = exact or [p for p in available if p.stem.startswith(n)]
        if len(hits) != 1:
            raise NotebookNotFound(f"notebook {n!r}: {'no match' if not hits else 'ambiguous'} in {folder} "
                                    f"(have {', '.join(p.stem for p in available)})")
        out.append(hits[0])
    return out


def declared_parameters(path: Path) -> dict:
    """The parameters a notebook's ``parameters`` cell declares (``papermill.inspect_notebook``). Raises
    :class:`NotebookInspectError` naming the notebook and the reason when papermill cannot read it (rather than
    pretending it declares nothing, which would pass every parameter)."""
    import papermill as pm

    try:
        return pm.inspect_notebook(str(path))
    except Exception as e:  # papermill raises many kinds (JSON, nbformat validation, missing kernel spec)
        why = " ".join(str(e).split()) or type(e).__name__
        raise NotebookInspectError(f"could not inspect the parameters of notebook {Path(path).name} ({path}): "
                                   f"{type(e).__name__}: {why[:300]}") from e


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def keep_static_views(path: str | os.PathLike) -> int:
    """In an executed notebook, drop the live-widget part of every output that also carries a static HTML view
    (see :func:`ucs_lite.viz._with_static_view`), so ``jupyter nbconvert --to html`` shows the picture; widget
    state is not saved by papermill, so the live part would export as an empty placeholder. Returns the number
    of outputs changed."""
    import nbformat

    nbk = nbformat.read(str(path), as_version=4)
    changed = 0
    for cell in nbk.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and "text/html" in data:
                del data["application/vnd.jupyter.widget-view+json"]
                changed += 1
    if changed:
        nbformat.write(nbk, str(path))
    return changed


def _params_for(declared: dict, params: dict) -> tuple[dict, list[str]]:
    """The parameters one notebook gets (those it declares; profile values it does not declare folded into its
    ``overrides`` when it has one) and the sorted names it ignores."""
    use = {k: v for k, v in params.items() if k in declared}
    if "overrides" in declared:  # profile values the parameters cell does not name go into `overrides`
        profile_keys = set().union(*(set(v) for v in PROFILES.values()))
        fold = {k: v for k, v in params.items() if k not in use and k in profile_keys}
        if fold:
            use["overrides"] = {**(use.get("overrides") or {}), **fold}
    ignored = sorted(set(params) - set(use) - set(use.get("overrides") or {}))
    return use, ignored


def _new_run_dir(out_root: str | os.PathLike) -> tuple[Path, str]:
    """A fresh ``<out_root>/<timestamp>[-i]/`` folder and its stamp."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out_root) / stamp
    i = 1
    while out_dir.exists():
        out_dir = Path(out_root) / f"{stamp}-{i}"
        i += 1
    out_dir.mkdir(parents=True)
    return out_dir, stamp


def _execute(nb_path: Path, executed: Path, use: dict, rec_path: Path, cwd: Path, kernel_name, timeout) -> str | None:
    """Run one notebook with papermill, its numbers going to ``rec_path``; the error text, or ``None``."""
    import papermill as pm

    old = os.environ.get(RECORD_ENV)
    os.environ[RECORD_ENV] = str(rec_path)
    try:
        pm.execute_notebook(str(nb_path), str(executed), parameters=use, cwd=str(cwd), kernel_name=kernel_name,
                            progress_bar=False, execution_timeout=timeout, report_mode=False)
    except Exception as e:  # PapermillExecutionError carries the failing cell's error
        error = f"{type(e).__name__}: {getattr(e, 'ename', '')} {getattr(e, 'evalue', '') or str(e)}".strip()
        return error[:2000]
    finally:
        if old is None:
            os.environ.pop(RECORD_ENV, None)
        else:
            os.environ[RECORD_ENV] = old
    return None


def _read_numbers(rec_path: Path) -> dict:
    if rec_path.is_file():
        try:
            return json.loads(rec_path.read_text())
        except ValueError:
            pass
    return {}


def _write_summary(out_dir: Path, summary: dict) -> None:
    """``summary.json`` and the ``summary.md`` table of a run folder."""
    from ..data import atomic_write_bytes

    atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=2, default=str).encode())
    lines = [f"# Notebook run {summary['started']}", "",
             f"Overrides: {', '.join(f'{k}={v!r}' for k, v in summary['params'].items()) or 'none (defaults)'}; "
             f"total {summary['seconds']:.0f} s.", "",
             "| notebook | ok | seconds | key numbers |", "|---|---|---|---|"]
    for r in summary["notebooks"]:
        nums = "; ".join(f"{k} = {_fmt(v)}" for k, v in r["numbers"].items()) or "—"
        ok = "yes" if r["ok"] else f"**no**: {r['error'].splitlines()[0][:200] if r['error'] else ''}"
        lines.append(f"| {r['name']} | {ok} | {r['seconds']:.0f} | {nums} |")
    atomic_write_bytes(out_dir / "summary.md", ("\n".join(lines) + "\n").encode())


def run_notebooks(names=None, params: dict | None = None, out_root: str | os.PathLike = "runs",
                  notebook_dir: str | os.PathLike | None = None, kernel_name: str | None = None,
                  timeout: int | None = None, progress: bool = True) -> dict:
    """Execute notebooks top to bottom with papermill into ``<out_root>/<timestamp>/`` and summarise them.

    Args:
        names: notebook names or prefixes (default: every notebook of ``notebook_dir``).
        params: parameter overrides (e.g. ``{"epochs": 2}``); each notebook gets those it declares
            in its ``parameters`` cell (the others are listed as ``ignored_params``).
        out_root: folder for the run folder.
        notebook_dir: where the notebooks are (default: :func:`default_notebook_dir`: a checkout's
            ``notebooks/``, else the copies packaged with ucs_lite). Packaged notebooks run with the run folder as
            their working directory (the installed package is not written to).
        kernel_name: Jupyter kernel (default: the notebook's own, ``python3``).
        timeout: per-cell timeout in seconds (default: none).
    Returns:
        ``{"out_dir", "params", "started", "seconds", "notebooks": [{"name", "ok", "seconds", "output",
        "numbers", "params", "ignored_params", "error"}]}``; the same is written to ``summary.json``,
        and a table to ``summary.md``. A failing notebook is recorded (``ok`` False) and the others still run;
        one whose parameters papermill cannot inspect fails with that reason, without being run.
    """
    params = dict(params or {})
    files = find_notebooks(names, notebook_dir)
    out_dir, stamp = _new_run_dir(out_root)
    t_all = time.time()
    results = []
    for nb_path in files:
        name = nb_path.stem
        rec_path = (out_dir / f"{name}.numbers.json").resolve()
        executed = out_dir / f"{name}.ipynb"
        t0 = time.time()
        try:
            use, ignored = _params_for(declared_parameters(nb_path), params)
        except NotebookInspectError as e:
            use, ignored, error = {}, sorted(params), str(e)
        else:
            if progress:
                print(f"[notebooks] {name} {use or ''} ...", file=sys.stderr, flush=True)
            cwd = out_dir if nb_path.parent.resolve() == PACKAGED_NOTEBOOKS.resolve() else nb_path.parent
            error = _execute(nb_path, executed, use, rec_path, cwd, kernel_name, timeout)
        seconds = time.time() - t0
        if executed.is_file():
            keep_static_views(executed)
        results.append({"name": name, "ok": error is None, "seconds": round(seconds, 1), "output": str(executed),
                        "numbers": _read_numbers(rec_path), "params": use, "ignored_params": ignored,
                        "error": error})
        if progress:
            print(f"[notebooks] {name}: {'ok' if error is None else 'FAILED: ' + error.splitlines()[0][:300]} "
                  f"in {seconds:.0f} s", file=sys.stderr, flush=True)
    summary = {"out_dir": str(out_dir), "params": params, "started": stamp, "seconds": round(time.time() - t_all, 1),
               "notebooks": results}
    _write_summary(out_dir, summary)
    return summary
