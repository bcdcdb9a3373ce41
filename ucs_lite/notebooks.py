"""Helpers the tutorial notebooks share, and :func:`run_notebooks` (``ucs-lite notebooks`` / ``make notebooks``).

Cached crafting, protecting and attacking live in :mod:`ucs_lite.cache` (``cache.craft``, ``cache.protect``,
``cache.evaluate``). The notebooks stay thin: their parameters cell names a ``profile`` (``cpu-quick``: minutes on 2 CPU
cores, the default and what CI runs; ``gpu-class``: a lesson, each notebook ≤ 10 min on a T4-class GPU such
as Colab's free one; ``gpu-paper``: paper scale, hours), and any parameter left at ``None`` takes the
profile's value (:func:`resolve`, which also prints the notebook's time estimate, :mod:`ucs_lite.estimate`).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .cluster import purity
from .data import DataError, atomic_write_bytes, load
from .surrogates import SurrogateUnavailable, create_surrogate, resolve_device
from .viz import configure_renderer

__all__ = ["NOTEBOOKS", "PROFILES", "NOTEBOOK_DIR", "resolve", "setup", "load_data", "get_surrogate",
           "random_cluster_purity", "Claims", "run_notebooks", "find_notebooks", "keep_static_views"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ("00_quickstart", "01_label_consistency_failure", "02_clip_clustering", "03_crafting_cluster_noise",
             "04_label_agnostic_evaluation", "05_countermeasures")

#: Values a notebook parameter left at ``None`` takes, per profile.
PROFILES: dict[str, dict] = {
    "cpu-quick": {                   # the demo's choices too (ucs_lite.demo.DEMO reads them from here)
        "data": "sample",            # embedded 4,000 train / 1,000 test CIFAR-10 images
        "n_train": 4000, "n_test": 1000,
        "epochs": 12, "model": "small-cnn", "seeds": [0],
        "surrogate_resolution": 128,  # features at 128 px (3× cheaper than 224 px on a CPU)
        "craft_resolution": 64, "steps": 30, "batch_per_cluster": 4,
        "n_features": 1000, "projection": "tsne",
    },
    "gpu-class": {                   # a lesson: each notebook ≤ 10 min on a T4 (``ucs-lite estimate``)
        "data": "cifar10",           # torchvision download; class-balanced 10k / 2k subsets (below)
        "n_train": 10000, "n_test": 2000,
        # the configuration docs/results.md measured its effects at (10k / 2k CIFAR-10, small CNN, 12 epochs,
        # UC at 224 px with 60 steps × 8 images per cluster), so the notebooks' effects are meant to hold here
        "epochs": 12, "model": "small-cnn", "seeds": [0],
        "surrogate_resolution": None,  # the surrogate's own (224 px)
        "craft_resolution": None, "steps": 60, "batch_per_cluster": 8,
        "n_features": 10000, "projection": "tsne",
    },
    "gpu-paper": {                   # paper scale: hours on a T4 (notebook 04 ≈ 10 ResNet-18 runs of 40 epochs)
        "data": "cifar10",           # the full 50k / 10k CIFAR-10
        "n_train": None, "n_test": None,
        "epochs": 40, "model": "resnet18", "seeds": [0],
        "surrogate_resolution": None,
        "craft_resolution": None, "steps": 300, "batch_per_cluster": 32,
        "n_features": 10000, "projection": "tsne",
    },
}

#: What :func:`setup` found (device, GPU name); :func:`resolve` uses it for the time estimate it prints.
_SESSION: dict = {}
#: Environment variable naming the running notebook (the generated setup cell sets it).
NOTEBOOK_ENV = "UCS_LITE_NOTEBOOK"


def resolve(profile: str, **params) -> dict:
    """Fill every parameter given as ``None`` from ``PROFILES[profile]``; print the resolved settings.

    Returns a dict (use it as ``cfg = resolve(profile, epochs=epochs, ...)``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    prof = PROFILES[profile]
    out = {k: (prof.get(k) if v is None else v) for k, v in params.items()}
    shown = ", ".join(f"{k}={v!r}" for k, v in out.items())
    print(f"profile {profile}: {shown}")
    name = os.environ.get(NOTEBOOK_ENV)
    if name:
        try:
            print(_estimate_line(name, {**prof, **out}, sys._getframe(1).f_globals))
        except Exception as e:  # an estimate must never stop a notebook
            print(f"(no time estimate: {type(e).__name__}: {e})")
    return out


def _estimate_line(name: str, cfg: dict, caller: dict) -> str:
    """The time estimate of notebook ``name`` under ``cfg`` on the device :func:`setup` found; the notebook's
    own work-sizing knobs (methods, views, defenses, …) are read from its globals (``caller``)."""
    from .estimate import NOTEBOOK_KNOBS, describe, estimate_notebook

    if name not in NOTEBOOK_KNOBS:
        return f"(no time estimate for {name!r})"
    knobs = {k: caller[k] for k in NOTEBOOK_KNOBS[name] if k in caller}
    gpu = _SESSION.get("gpu") if _SESSION.get("device", "cpu").startswith("cuda") else None
    return describe(estimate_notebook(name, cfg, gpu, **knobs))


def setup(device: str = "auto", threads: int | None = None, quiet: bool = False) -> dict:
    """Common notebook setup: torch threads (``threads``, else ``$UCS_LITE_THREADS``, else torch's default),
    the resolved device, versions. Prints one line and returns the facts as a dict."""
    threads = threads or (int(os.environ["UCS_LITE_THREADS"]) if os.environ.get("UCS_LITE_THREADS") else None)
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    configure_renderer()
    gpu = torch.cuda.get_device_name(0) if dev.type == "cuda" else None
    info = {"ucs_lite": __version__, "torch": torch.__version__, "device": str(dev), "gpu": gpu,
            "threads": torch.get_num_threads(), "colab": "google.colab" in sys.modules}
    _SESSION.update(device=str(dev), gpu=gpu)
    if not quiet:
        where = f"GPU {gpu}" if gpu else f"CPU ({info['threads']} threads)"
        print(f"ucs_lite {__version__}, torch {torch.__version__}, running on {where}")
    return info


def load_data(data: str = "sample", n_train: int | None = None, n_test: int | None = None, seed: int = 0):
    """:func:`ucs_lite.data.load` plus class-balanced subsets of ``n_train`` / ``n_test`` images
    (``None``: all). ``shared`` falls back to ``sample`` (with a message) when ../shared is not here."""
    try:
        b = load(data)
    except DataError as e:
        if data != "shared":
            raise
        print(f"{e}\n-> using the embedded sample instead")
        b = load("sample")
    if n_train and n_train < len(b.train):
        b.train = b.train.balanced_subset(n_train, seed=seed)
    if n_test and n_test < len(b.test):
        b.test = b.test.balanced_subset(n_test, seed=seed)
    print(f"data {data!r}: {len(b.train)} train / {len(b.test)} test images of {b.train.images.shape[1]} px, "
          f"label views {b.train.views}")
    return b


def get_surrogate(name: str, device: str = "auto", resolution: int | None = None,
                  fallback: str | None = "imagenet:efficientnet_lite0"):
    """Build surrogate ``name``; when its weights cannot be had (:class:`SurrogateUnavailable`, e.g. CLIP
    offline) say so plainly and build ``fallback`` instead. ``resolution`` applies to surrogates that
    accept another input size (not CLIP). Returns ``(surrogate, note)``: note is "" or the fallback message."""
    def build(n):
        res = None if n.startswith("clip:") else resolution
        return create_surrogate(n, device=device, resolution=res)

    note = ""
    try:
        s = build(name)
    except SurrogateUnavailable as e:
        if not fallback or fallback == name:
            raise
        reason = str(e).splitlines()[0]
        note = (f"FALLBACK: the surrogate {name!r} is unavailable here ({reason}). "
                f"Using the offline surrogate {fallback!r} instead; the numbers below are for {fallback}, not {name}.")
        print(note)
        s = build(fallback)
    if s.for_tests_only:
        print(f"WARNING: {s.name} is a random-init network for tests only: its outputs are not results.")
    print(f"surrogate {s.name}: {s.dim}-d features, images resized to {s.resolution} px inside encode, on {s.device}")
    return s, note


def random_cluster_purity(clusters: np.ndarray, labels: np.ndarray, repeats: int = 20, seed: int = 0) -> float:
    """Mean purity of random clusterings with the same cluster sizes (``clusters`` shuffled over the
    images): the baseline a real clustering's purity should beat."""
    rng = np.random.default_rng(seed)
    return float(np.mean([purity(rng.permutation(clusters), labels) for _ in range(repeats)]))


def stored_benchmark(name: str) -> dict | None:
    """A benchmark result stored with the repository (``benchmarks/results/<name>.json``), or ``None`` where
    the package runs outside a checkout (installed from a wheel, e.g. on Colab). Notebooks show such results
    as measured elsewhere; they never recompute them."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / f"{name}.json"
    if not path.is_file():
        print(f"{path.name}: not found (this notebook runs outside a repository checkout); the numbers are in "
              "docs/results.md of the repository")
        return None
    return json.loads(path.read_text())


class Claims:
    """The claims a notebook makes about its results, checked in its last cells.

    Margins on learning outcomes (accuracies, purities) were measured at the notebook's default size over
    attacker seeds 0–4 and torch threads 1 and 2 (``benchmarks/claims.py`` →
    ``benchmarks/results/claims.md``); with ``enforce`` (the default size) a failed claim raises
    ``AssertionError`` in :meth:`report`. At another size (e.g. ``-p epochs 2``) the same checks are printed
    but not enforced, since nobody measured them there. Invariants (the ε bound, an untouched test set)
    belong in plain ``assert`` statements instead: they hold at any size.

    :meth:`at_least` / :meth:`at_most` record each numeric claim's *margin* (how far the measured value is
    on the right side of its bound; negative = failed); :meth:`report` records them all as
    ``claim_margins`` (see :func:`ucs_lite.viz.record`), which is how the smallest margins are collected.
    """

    def __init__(self, enforce: bool = True) -> None:
        self.enforce = bool(enforce)
        self.results: list[tuple[bool, str, str]] = []
        self.margins: dict[str, float] = {}

    def check(self, ok, claim: str, detail=None) -> bool:
        """Record one yes/no claim (``ok`` truthy when it holds) with an optional measured ``detail``."""
        ok = bool(ok)
        self.results.append((ok, claim, "" if detail is None else str(detail)))
        return ok

    def at_least(self, value: float, bound: float, claim: str, detail=None) -> bool:
        """Claim ``value >= bound``; records the margin ``value - bound``."""
        margin = float(value) - float(bound)
        self.margins[claim] = round(margin, 4)
        shown = f"{float(value):.3f} ≥ {float(bound):.3f}, margin {margin:+.3f}"
        return self.check(margin >= 0, claim, shown + (f"; {detail}" if detail else ""))

    def at_most(self, value: float, bound: float, claim: str, detail=None) -> bool:
        """Claim ``value <= bound``; records the margin ``bound - value``."""
        margin = float(bound) - float(value)
        self.margins[claim] = round(margin, 4)
        shown = f"{float(value):.3f} ≤ {float(bound):.3f}, margin {margin:+.3f}"
        return self.check(margin >= 0, claim, shown + (f"; {detail}" if detail else ""))

    @property
    def failed(self) -> list[str]:
        return [c for ok, c, _ in self.results if not ok]

    def report(self) -> str:
        """Print every claim with ✓ / ✗; raise ``AssertionError`` listing the failed ones when enforced.
        Returns a short summary such as ``"5/5 hold"`` (recorded by the notebooks)."""
        from .viz import record

        if self.margins:
            record("claim_margins", dict(self.margins))
        for ok, claim, detail in self.results:
            print(f"{'✓' if ok else '✗'} {claim}" + (f"  [{detail}]" if detail else ""))
        summary = f"{len(self.results) - len(self.failed)}/{len(self.results)} hold"
        if self.failed and self.enforce:
            raise AssertionError(f"{len(self.failed)} claim(s) failed at the measured size: " + "; ".join(self.failed))
        if self.failed:
            print(f"{summary}: these margins were measured at the default size only, so at this size the "
                  "checks are reported, not enforced.")
        else:
            print(f"all claims hold ({summary})" + ("" if self.enforce else "; not enforced at this size"))
        return summary


# ---------------------------------------------------------------- running the notebooks

def find_notebooks(names=None, notebook_dir: str | os.PathLike | None = None) -> list[Path]:
    """Notebook files for ``names`` (full names, with or without ``.ipynb``, or a unique prefix such as
    ``00``); all ``*.ipynb`` of the folder, sorted, when ``names`` is empty."""
    folder = Path(notebook_dir) if notebook_dir else NOTEBOOK_DIR
    available = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        return available
    out = []
    for n in names:
        n = str(n).strip().removesuffix(".ipynb")
        exact = [p for p in available if p.stem == n]
        hits = exact or [p for p in available if p.stem.startswith(n)]
        if len(hits) != 1:
            raise FileNotFoundError(f"notebook {n!r}: {'no match' if not hits else 'ambiguous'} in {folder} "
                                    f"(have {', '.join(p.stem for p in available)})")
        out.append(hits[0])
    return out


def _declared_parameters(path: Path) -> dict:
    import papermill as pm

    try:
        return pm.inspect_notebook(str(path))
    except Exception:
        return {}


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


def run_notebooks(names=None, params: dict | None = None, out_root: str | os.PathLike = "runs",
                  notebook_dir: str | os.PathLike | None = None, kernel_name: str | None = None,
                  timeout: int | None = None, progress: bool = True) -> dict:
    """Execute notebooks top to bottom with papermill into ``<out_root>/<timestamp>/`` and summarise them.

    Args:
        names: notebook names or prefixes (default: every notebook of ``notebook_dir``).
        params: parameter overrides (e.g. ``{"epochs": 2}``); each notebook gets those it declares
            in its ``parameters`` cell (the others are listed as ``ignored_params``).
        out_root: folder for the run folder.
        notebook_dir: where the notebooks are (default: the repository's ``notebooks/``).
        kernel_name: Jupyter kernel (default: the notebook's own, ``python3``).
        timeout: per-cell timeout in seconds (default: none).
    Returns:
        ``{"out_dir", "params", "started", "seconds", "notebooks": [{"name", "ok", "seconds", "output",
        "numbers", "params", "ignored_params", "error"}]}``; the same is written to ``summary.json``,
        and a table to ``summary.md``. A failing notebook is recorded (``ok`` False) and the others still run.
    """
    import papermill as pm

    from .viz import RECORD_ENV

    params = dict(params or {})
    files = find_notebooks(names, notebook_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out_root) / stamp
    i = 1
    while out_dir.exists():
        out_dir = Path(out_root) / f"{stamp}-{i}"
        i += 1
    out_dir.mkdir(parents=True)
    t_all = time.time()
    results = []
    for nb_path in files:
        name = nb_path.stem
        declared = _declared_parameters(nb_path)
        use = {k: v for k, v in params.items() if not declared or k in declared}
        ignored = sorted(set(params) - set(use))
        rec_path = (out_dir / f"{name}.numbers.json").resolve()
        executed = out_dir / f"{name}.ipynb"
        if progress:
            print(f"[notebooks] {name} {use or ''} ...", file=sys.stderr, flush=True)
        old = os.environ.get(RECORD_ENV)
        os.environ[RECORD_ENV] = str(rec_path)
        t0 = time.time()
        error = None
        try:
            pm.execute_notebook(str(nb_path), str(executed), parameters=use, cwd=str(nb_path.parent),
                                kernel_name=kernel_name, progress_bar=False, execution_timeout=timeout,
                                report_mode=False)
        except Exception as e:  # PapermillExecutionError carries the failing cell's error
            error = f"{type(e).__name__}: {getattr(e, 'ename', '')} {getattr(e, 'evalue', '') or str(e)}".strip()
            error = error[:2000]
        finally:
            if old is None:
                os.environ.pop(RECORD_ENV, None)
            else:
                os.environ[RECORD_ENV] = old
        seconds = time.time() - t0
        if executed.is_file():
            keep_static_views(executed)
        numbers = {}
        if rec_path.is_file():
            try:
                numbers = json.loads(rec_path.read_text())
            except ValueError:
                pass
        results.append({"name": name, "ok": error is None, "seconds": round(seconds, 1), "output": str(executed),
                        "numbers": numbers, "params": use, "ignored_params": ignored, "error": error})
        if progress:
            print(f"[notebooks] {name}: {'ok' if error is None else 'FAILED'} in {seconds:.0f} s", file=sys.stderr,
                  flush=True)
    summary = {"out_dir": str(out_dir), "params": params, "started": stamp, "seconds": round(time.time() - t_all, 1),
               "notebooks": results}
    atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=2, default=str).encode())
    lines = [f"# Notebook run {stamp}", "",
             f"Overrides: {', '.join(f'{k}={v!r}' for k, v in params.items()) or 'none (defaults)'}; "
             f"total {summary['seconds']:.0f} s.", "",
             "| notebook | ok | seconds | key numbers |", "|---|---|---|---|"]
    for r in results:
        nums = "; ".join(f"{k} = {_fmt(v)}" for k, v in r["numbers"].items()) or "—"
        ok = "yes" if r["ok"] else f"**no**: {r['error'].splitlines()[0][:200] if r['error'] else ''}"
        lines.append(f"| {r['name']} | {ok} | {r['seconds']:.0f} | {nums} |")
    atomic_write_bytes(out_dir / "summary.md", ("\n".join(lines) + "\n").encode())
    return summary
