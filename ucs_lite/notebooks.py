"""Helpers the tutorial notebooks share, and :func:`run_notebooks` (``ucs-lite notebooks`` / ``make notebooks``).

Cached crafting, protecting and attacking live in :mod:`ucs_lite.cache` (``cache.craft``, ``cache.protect``,
``cache.evaluate``). The notebooks stay thin: their parameters cell names a ``profile`` (``auto``, the default:
``gpu-class`` on a CUDA GPU, ``cpu-quick`` on a CPU; ``cpu-quick``: minutes on 2 CPU cores, what CI runs; ``gpu-class``: a lesson,
each notebook ≤ 10 min on a T4-class GPU such as Colab's free one; ``gpu-paper``: paper scale, hours) and the
few knobs a student changes; every other setting is the profile's, changed only through ``overrides``
(:func:`resolve`, which also prints the notebook's time estimate, :mod:`ucs_lite.estimate`). The last cell,
under "For instructors: checks", is one :func:`finish` call: it records the numbers and checks the notebook's
claims, enforcing them only where the run matches the configuration they were measured at
(:func:`claims_apply`, the one place that decides it).
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
from .profiles import NOTEBOOKS, PROFILES
from .surrogates import SurrogateUnavailable, create_surrogate, resolve_device
from .viz import configure_renderer

__all__ = ["NOTEBOOKS", "PROFILES", "NOTEBOOK_DIR", "resolve", "pick_profile", "setup", "load_data",
           "get_surrogate", "random_cluster_purity", "stored_benchmark", "one_of", "measured_setup",
           "claims_apply", "finish", "Claims", "run_notebooks", "find_notebooks", "keep_static_views"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# NOTEBOOKS and PROFILES live in the torch-free ucs_lite.profiles (shared with the time model); re-exported here.

#: What :func:`setup` found (device, GPU name); :func:`resolve` uses it for the time estimate it prints.
_SESSION: dict = {}
#: Environment variable naming the running notebook (the generated setup cell sets it).
NOTEBOOK_ENV = "UCS_LITE_NOTEBOOK"


def pick_profile(profile: str = "auto") -> str:
    """``profile`` itself, or for ``"auto"``: ``gpu-class`` where the session's device (:func:`setup`; before it,
    whether CUDA is available) is a CUDA GPU, else ``cpu-quick``."""
    if profile == "auto":
        dev = _SESSION.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        return "gpu-class" if str(dev).startswith("cuda") else "cpu-quick"
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: auto, {', '.join(PROFILES)}")
    return profile


def resolve(profile: str = "auto", overrides: dict | None = None, **knobs) -> dict:
    """A notebook's settings: every value of the profile (:func:`pick_profile`), changed by ``overrides``
    (profile keys only, e.g. ``{"epochs": 2}``), plus the notebook's own ``knobs`` passed explicitly
    (``p=p, eps=eps, methods=methods, ...``; a knob given as ``None`` that names a profile value takes the
    profile's), plus ``profile`` (the resolved name), ``device`` and ``precision`` of the session.

    Prints the settings and, inside a notebook (``$UCS_LITE_NOTEBOOK``), its time estimate from the work-sizing
    knobs among ``knobs``. Returns a dict (``cfg = nb.resolve(profile, overrides, p=p, ...)``)."""
    from .precision import precision_label

    name = pick_profile(profile)
    prof = PROFILES[name]
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(prof))
    if unknown:
        raise ValueError(f"overrides {unknown} are not profile values; a profile has: {', '.join(prof)}")
    out = {**prof, **overrides}
    for k, v in knobs.items():
        out[k] = prof.get(k) if (v is None and k in prof) else v
    device = _SESSION.get("device") or str(resolve_device("auto"))
    out.update(profile=name, device=device, precision=precision_label(device))
    why = f" (auto: {'a CUDA GPU' if name == 'gpu-class' else 'no CUDA GPU'})" if profile == "auto" else ""
    print(f"profile {name}{why}: " + ", ".join(f"{k}={out[k]!r}" for k in prof))
    if overrides or knobs:
        print("  notebook settings: " + ", ".join(f"{k}={out[k]!r}" for k in [*overrides, *knobs]))
    nb_name = os.environ.get(NOTEBOOK_ENV)
    if nb_name:
        try:
            print(_estimate_line(nb_name, out, {k: v for k, v in knobs.items() if v is not None}))
        except Exception as e:  # an estimate must never stop a notebook
            print(f"(no time estimate: {type(e).__name__}: {e})")
    return out


def _estimate_line(name: str, cfg: dict, knobs: dict) -> str:
    """The time estimate of notebook ``name`` under ``cfg`` on the device :func:`setup` found, for the
    notebook's work-sizing ``knobs`` (methods, views, defenses, …) as the notebook passed them."""
    from . import estimate as E

    work = getattr(E, "NOTEBOOK_KNOBS", None) or getattr(E, "NOTEBOOK_WORK", None) or {}
    if name not in work:
        return f"(no time estimate for {name!r})"
    knobs = {k: v for k, v in knobs.items() if k in work[name]}
    gpu = _SESSION.get("gpu") if _SESSION.get("device", "cpu").startswith("cuda") else None
    return E.describe(E.estimate_notebook(name, cfg, gpu, **knobs))


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
    _SESSION.update(device=str(dev), gpu=gpu, t_start=time.time())
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


#: Stored benchmark results the notebooks draw, shipped inside the package (wheel and sdist), so their figures
#: render on an installed ucs_lite without a checkout (e.g. Colab); copies of ``benchmarks/results/<name>.json``
#: (``tests/test_notebooks_runner.py`` keeps them identical).
RESULTS_ASSETS = Path(__file__).resolve().parent / "assets" / "results"
#: The repository checkout's results, read when a result is not shipped with the package.
CHECKOUT_RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def stored_benchmark(name: str) -> dict | None:
    """A stored benchmark result: ``ucs_lite/assets/results/<name>.json`` (shipped with the package), else the
    checkout's ``benchmarks/results/<name>.json``; ``None`` (with a message) where neither exists. Notebooks
    show such results as measured elsewhere; they never recompute them."""
    for folder in (RESULTS_ASSETS, CHECKOUT_RESULTS):
        path = folder / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text())
    print(f"{name}.json: not found (neither shipped with this ucs_lite nor in a repository checkout); the numbers "
          "are in docs/results.md of the repository")
    return None


# ---------------------------------------------------------------- claims: where they hold, and the last cell

class one_of(tuple):
    """The values a knob may take in a measured configuration (:func:`measured_setup`), e.g. a seed among
    ``one_of(0, 1, 2, 3, 4)``. A plain list or value in a measured configuration means exactly that value."""

    def __new__(cls, *values):
        return super().__new__(cls, values)


#: Attacker seeds every enforced claim was measured over (benchmarks/claims.py → benchmarks/results/claims.md).
MEASURED_SEEDS = range(5)


def measured_setup(**knobs) -> dict:
    """The configuration a notebook's claims were measured at: every value of the ``cpu-quick`` profile, on a
    CPU (device ``cpu``, precision ``cpu`` = float32), attacker seeds 0–4, plus the notebook's own ``knobs`` at
    their measured values (``p=10, eps=16, seed=one_of(0, ..., 4), ...``). Torch threads are not part of it:
    threads 1 and 2 gave the same verdicts (benchmarks/results/claims.md)."""
    return {"profile": "cpu-quick", **PROFILES["cpu-quick"],
            "seeds": one_of(*([s] for s in MEASURED_SEEDS)), "device": "cpu", "precision": "cpu", **knobs}


def _norm(v):
    if isinstance(v, (list, tuple)) and not isinstance(v, one_of):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def claims_apply(cfg: dict, measured: dict, strict: bool | None = None) -> tuple[bool, list[str]]:
    """Whether a notebook's claims are enforced in this run, and why not. The one place that decides it.

    Compares every knob of ``measured`` (:func:`measured_setup`: the profile's values, device, precision, the
    notebook's knobs) with the run's settings ``cfg`` (:func:`resolve`); a knob of ``cfg`` that ``measured``
    does not name counts as a difference too (nobody measured it). ``measured`` values may be
    :class:`one_of` / ``range`` / ``set`` (any of these values). Returns ``(enforce, differences)``:
    enforced where nothing differs, or as ``strict`` says when it is not ``None`` (``strict_checks``)."""
    differ = []
    for k, want in measured.items():
        have = cfg.get(k, "<not set>")
        if isinstance(want, (one_of, range, set, frozenset)):
            ok = _norm(have) in {_norm(w) for w in want}
            shown = "one of " + ", ".join(repr(w) for w in want)
        else:
            ok = _norm(have) == _norm(want)
            shown = repr(want)
        if not ok:
            differ.append(f"{k}={have!r} (measured at {shown})")
    differ += [f"{k}={cfg[k]!r} (not part of the measured configuration)" for k in cfg if k not in measured]
    return (not differ) if strict is None else bool(strict), differ


def finish(claims: "Claims", cfg: dict, measured: dict, strict: bool | None = None,
           numbers: dict | None = None) -> str:
    """A notebook's last cell: record ``numbers`` (:func:`ucs_lite.viz.record`), decide with
    :func:`claims_apply` whether the claims are enforced here, print why, record the runtime, then
    :meth:`Claims.report` (which raises ``AssertionError`` for a failed enforced claim). Returns its summary."""
    from .viz import record, recorded

    for k, v in (numbers or {}).items():
        record(k, v)
    enforce, differ = claims_apply(cfg, measured, strict)
    claims.enforce = enforce
    if not differ:
        print("This run has the configuration the claims were measured at (benchmarks/results/claims.md): "
              "they are enforced.")
    else:
        print("This run differs from the configuration the claims were measured at: " + "; ".join(differ) + ".")
        print("strict_checks=True: the claims are enforced anyway." if enforce else
              "So the claims below are reported, not enforced.")
    if "t_start" in _SESSION:
        record("runtime_s", round(time.time() - _SESSION["t_start"], 1))
    summary = claims.report()
    record("claims", summary)
    print(f"notebook ran in {recorded().get('runtime_s', '?')} s; recorded numbers: {recorded()}")
    return summary


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
        #: claims that are only ever reported (``reported=True``): not measured over seeds, never enforced
        self.reported: set[str] = set()
        self.reported_margins: dict[str, float] = {}
        #: each numeric claim's measured value, bound and sense (">=" / "<="), recorded as ``claim_values``
        self.values: dict[str, dict] = {}

    def check(self, ok, claim: str, detail=None, reported: bool = False) -> bool:
        """Record one yes/no claim (``ok`` truthy when it holds) with an optional measured ``detail``;
        ``reported``: a claim whose margin was not measured over seeds, printed but never enforced."""
        ok = bool(ok)
        self.results.append((ok, claim, "" if detail is None else str(detail)))
        if reported:
            self.reported.add(claim)
        return ok

    def _bound(self, margin: float, shown: str, claim: str, detail, reported: bool) -> bool:
        (self.reported_margins if reported else self.margins)[claim] = round(margin, 4)
        return self.check(margin >= 0, claim, shown + (f"; {detail}" if detail else ""), reported=reported)

    def at_least(self, value: float, bound: float, claim: str, detail=None, reported: bool = False) -> bool:
        """Claim ``value >= bound``; records the margin ``value - bound``."""
        margin = float(value) - float(bound)
        self.values[claim] = {"value": round(float(value), 6), "bound": round(float(bound), 6), "sense": ">="}
        return self._bound(margin, f"{float(value):.3f} ≥ {float(bound):.3f}, margin {margin:+.3f}", claim, detail,
                           reported)

    def at_most(self, value: float, bound: float, claim: str, detail=None, reported: bool = False) -> bool:
        """Claim ``value <= bound``; records the margin ``bound - value``."""
        margin = float(bound) - float(value)
        self.values[claim] = {"value": round(float(value), 6), "bound": round(float(bound), 6), "sense": "<="}
        return self._bound(margin, f"{float(value):.3f} ≤ {float(bound):.3f}, margin {margin:+.3f}", claim, detail,
                           reported)

    @property
    def failed(self) -> list[str]:
        """Failed claims that count (not the ``reported`` ones)."""
        return [c for ok, c, _ in self.results if not ok and c not in self.reported]

    def report(self) -> str:
        """Print every claim with ✓ / ✗; raise ``AssertionError`` listing the failed ones when enforced.
        Returns a short summary such as ``"5/5 hold"`` (recorded by the notebooks)."""
        from .viz import record

        if self.margins:
            record("claim_margins", dict(self.margins))
            record("claim_values", {c: self.values[c] for c in self.margins if c in self.values})
        if self.reported_margins:
            record("reported_margins", dict(self.reported_margins))
        for ok, claim, detail in self.results:
            tag = "  (reported: not measured over seeds, never enforced)" if claim in self.reported else ""
            print(f"{'✓' if ok else '✗'} {claim}" + (f"  [{detail}]" if detail else "") + tag)
        counted = [r for r in self.results if r[1] not in self.reported]
        summary = f"{len(counted) - len(self.failed)}/{len(counted)} hold"
        if self.failed and self.enforce:
            raise AssertionError(f"{len(self.failed)} claim(s) failed at the measured size: " + "; ".join(self.failed))
        if self.failed:
            print(f"{summary}: these margins were measured at another configuration, so here the checks are "
                  "reported, not enforced.")
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
        if "overrides" in declared:  # profile values the parameters cell does not name go into `overrides`
            profile_keys = set().union(*(set(v) for v in PROFILES.values()))
            fold = {k: v for k, v in params.items() if k not in use and k in profile_keys}
            if fold:
                use["overrides"] = {**(use.get("overrides") or {}), **fold}
        ignored = sorted(set(params) - set(use) - set(use.get("overrides") or {}))
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
