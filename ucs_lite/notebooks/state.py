"""A notebook's session: what :func:`setup` found (device, GPU, threads, start time, the course pack imported),
kept in one explicit :class:`NotebookState` object (:data:`STATE`), and the helpers the notebooks call before
their work: :func:`resolve` (profile + knobs → settings, with the time estimate), :func:`load_data`,
:func:`get_surrogate`, :func:`random_cluster_purity`, :func:`stored_benchmark`.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import OptionError
from ..profiles import PROFILES

__all__ = ["NotebookState", "STATE", "NOTEBOOK_ENV", "PACK_ENV", "pick_profile", "resolve", "setup", "load_data",
           "get_surrogate", "random_cluster_purity", "stored_benchmark", "RESULTS_ASSETS", "CHECKOUT_RESULTS"]

#: Environment variable naming the running notebook (the generated setup cell sets it).
NOTEBOOK_ENV = "UCS_LITE_NOTEBOOK"
#: Environment variable naming a course pack (path or URL) that :func:`setup` imports once per runtime.
PACK_ENV = "UCS_LITE_PACK"


@dataclass
class NotebookState:
    """What this kernel's :func:`setup` found; :func:`resolve`, :func:`ucs_lite.notebooks.finish` and the checks
    table read it. ``device`` is ``None`` before :func:`setup` (then :func:`resolve` asks torch)."""

    device: str | None = None
    gpu: str | None = None
    threads: int | None = None
    torch: str | None = None
    t_start: float | None = None
    #: the course packs already imported in this runtime (path or URL), so a second setup() does nothing
    packs_imported: list[str] = field(default_factory=list)

    def reset(self) -> None:
        """Back to the state of a fresh kernel (tests)."""
        self.__init__()


#: The one session object of this kernel.
STATE = NotebookState()


def pick_profile(profile: str = "auto") -> str:
    """``profile`` itself, or for ``"auto"``: ``gpu-class`` where the session's device (:func:`setup`; before it,
    whether CUDA is available) is a CUDA GPU, else ``cpu-quick``."""
    if profile == "auto":
        if STATE.device is None:
            import torch

            dev = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            dev = STATE.device
        return "gpu-class" if str(dev).startswith("cuda") else "cpu-quick"
    if profile not in PROFILES:
        raise OptionError(f"unknown profile {profile!r}: auto, {', '.join(PROFILES)}")
    return profile


def resolve(profile: str = "auto", overrides: dict | None = None, **knobs) -> dict:
    """A notebook's settings: every value of the profile (:func:`pick_profile`), changed by ``overrides``
    (profile keys only, e.g. ``{"epochs": 2}``), plus the notebook's own ``knobs`` passed explicitly
    (``p=p, eps=eps, methods=methods, ...``; a knob given as ``None`` that names a profile value takes the
    profile's), plus ``profile`` (the resolved name), ``device`` and ``precision`` of the session.

    Prints the settings and, inside a notebook (``$UCS_LITE_NOTEBOOK``), its time estimate from the work-sizing
    knobs among ``knobs``. Returns a dict (``cfg = nb.resolve(profile, overrides, p=p, ...)``)."""
    from ..precision import precision_label
    from ..surrogates import resolve_device

    name = pick_profile(profile)
    prof = PROFILES[name]
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(prof))
    if unknown:
        raise OptionError(f"overrides {unknown} are not profile values; a profile has: {', '.join(prof)}")
    out = {**prof, **overrides}
    for k, v in knobs.items():
        out[k] = prof.get(k) if (v is None and k in prof) else v
    device = STATE.device or str(resolve_device("auto"))
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
    from .. import estimate as E

    work = getattr(E, "NOTEBOOK_KNOBS", None) or getattr(E, "NOTEBOOK_WORK", None) or {}
    if name not in work:
        return f"(no time estimate for {name!r})"
    knobs = {k: v for k, v in knobs.items() if k in work[name]}
    gpu = STATE.gpu if (STATE.device or "cpu").startswith("cuda") else None
    return E.describe(E.estimate_notebook(name, cfg, gpu, **knobs))


def setup(device: str = "auto", threads: int | None = None, quiet: bool = False) -> dict:
    """Common notebook setup: torch threads (``threads``, else ``$UCS_LITE_THREADS``, else torch's default),
    the resolved device, versions, and the course pack named by ``$UCS_LITE_PACK`` (imported once per runtime,
    :func:`ucs_lite.pack.import_pack`). Prints one line and returns the facts as a dict."""
    import torch

    from .. import __version__
    from ..surrogates import resolve_device
    from ..viz import configure_renderer

    threads = threads or (int(os.environ["UCS_LITE_THREADS"]) if os.environ.get("UCS_LITE_THREADS") else None)
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    configure_renderer()
    gpu = torch.cuda.get_device_name(0) if dev.type == "cuda" else None
    info = {"ucs_lite": __version__, "torch": torch.__version__, "device": str(dev), "gpu": gpu,
            "threads": torch.get_num_threads(), "colab": "google.colab" in sys.modules}
    STATE.device, STATE.gpu, STATE.threads, STATE.torch = str(dev), gpu, info["threads"], torch.__version__
    STATE.t_start = time.time()
    if not quiet:
        where = f"GPU {gpu}" if gpu else f"CPU ({info['threads']} threads)"
        print(f"ucs_lite {__version__}, torch {torch.__version__}, running on {where}")
    info["pack"] = import_pack_once(quiet=quiet)
    _say_where_cached_results_came_from()
    return info


def _say_where_cached_results_came_from() -> None:
    """Make every cache hit of this kernel print where its result came from (a course pack or the cache: date,
    versions, device; :mod:`ucs_lite.notebooks.provenance_line`)."""
    from .. import cache
    from .provenance_line import print_hit

    add_hit_hook = getattr(cache, "add_hit_hook", None)  # absent from a cache module older than the course pack
    if add_hit_hook is not None:
        add_hit_hook(print_hit)


def import_pack_once(source: str | None = None, quiet: bool = False) -> str | None:
    """Import the course pack ``source`` (default ``$UCS_LITE_PACK``) into the result cache, once per runtime:
    a second call with the same pack does nothing. Returns the pack imported (or already imported), or
    ``None`` where none is named. A pack that cannot be read prints one line and the notebook goes on
    computing live."""
    source = source or os.environ.get(PACK_ENV, "").strip() or None
    if not source:
        return None
    if source in STATE.packs_imported:
        return source
    from ..pack import PackError, import_pack

    try:
        report = import_pack(source)
    except (PackError, OSError) as e:
        print(f"course pack {source}: not imported ({e}); every result is computed live")
        return None
    STATE.packs_imported.append(source)
    if not quiet:
        print(f"course pack {source}: {report.summary()}")
    return source


def load_data(data: str = "sample", n_train: int | None = None, n_test: int | None = None, seed: int = 0):
    """:func:`ucs_lite.data.load` plus class-balanced subsets of ``n_train`` / ``n_test`` images
    (``None``: all). ``shared`` falls back to ``sample`` (with a message) when ../shared is not here."""
    from ..data import DataError, load

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
    from ..surrogates import SurrogateUnavailable, create_surrogate

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
    from ..cluster import purity

    rng = np.random.default_rng(seed)
    return float(np.mean([purity(rng.permutation(clusters), labels) for _ in range(repeats)]))


_PKG = Path(__file__).resolve().parent.parent
#: Stored benchmark results the notebooks draw, shipped inside the package (wheel and sdist), so their figures
#: render on an installed ucs_lite without a checkout (e.g. Colab); copies of ``benchmarks/results/<name>.json``
#: (``tests/test_notebooks_runner.py`` keeps them identical).
RESULTS_ASSETS = _PKG / "assets" / "results"
#: The repository checkout's results, read when a result is not shipped with the package.
CHECKOUT_RESULTS = _PKG.parent / "benchmarks" / "results"


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
