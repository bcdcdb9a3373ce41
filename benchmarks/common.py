"""What every study in benchmarks/ shares: where results go and how they are written (with provenance), the base
data sets, protected training sets from one δ per group, the removed-vs-clean join and the stop time.

Torch-free at import (the docs generator and the tests read it); the data helpers import :mod:`ucs_lite` lazily.

A result JSON is written by :func:`write_result`, which adds ``provenance``: the command line that produced it
(``produced_by``), the commit (``git rev-parse --short HEAD``, ``+dirty`` when tracked files differ), the UTC date and
the machine read from the system (:func:`machine`). The docs generator prints the command and commit under every
table it fills from the file.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from ucs_lite.data import Bundle

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: the label of a provenance recorded after the fact (no rerun): command from the code, commit from git history
BACKFILLED = "backfilled from git history"


# ---------------------------------------------------------------------------------------------- provenance


def commit(root: Path = ROOT, short: bool = True) -> str:
    """``git rev-parse [--short] HEAD`` of ``root``, with ``+dirty`` when tracked files differ from it (a result
    from such a tree cannot be traced to a commit); ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def last_commit_of(path: Path, root: Path = ROOT) -> str | None:
    """The short commit that last changed ``path`` (``git log -1 --format=%h``); None when git has none."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(path)], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out or None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else :func:`platform.processor` or the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine a result was made on, read from the system: OS, architecture, CPU model and count, Python,
    and torch's version and thread count when torch is already imported (never imported here)."""
    out = {"platform": platform.platform(), "arch": platform.machine(), "cpu": cpu_model(),
           "cpu_count": os.cpu_count(), "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None})
    return out


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that is running, as one would type it from the repository root: ``python benchmarks/x.py …``
    (``python -m benchmarks.x …`` when run as a module)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]) if argv else Path("?")
    try:
        shown = str(script.resolve().relative_to(ROOT))
    except ValueError:
        shown = str(script)
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    head = f"python -m {spec.name}" if spec is not None and spec.name.startswith("benchmarks.") else f"python {shown}"
    return " ".join([head, *(shlex.quote(a) for a in argv[1:])])


def provenance(argv: Sequence[str] | None = None) -> dict:
    """``{"produced_by", "commit", "date", "machine"}`` of the running command (see the module docstring)."""
    return {"produced_by": command_line(argv), "commit": commit(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine()}


def result_path(name: str | os.PathLike) -> Path:
    """``benchmarks/results/<name>`` for a bare file name; a path with a folder is taken as it is."""
    p = Path(name)
    return RESULTS / p if p.parent == Path(".") else p


def write_result(name: str | os.PathLike, data: dict, indent: int | None = 2, trailing_newline: bool = False,
                 argv: Sequence[str] | None = None) -> Path:
    """Write ``data`` as JSON to :func:`result_path` (atomically), with ``provenance`` (:func:`provenance`) set to
    this command; floats that are not JSON (numpy scalars) become floats. Returns the path."""
    from ucs_lite.data import atomic_write_bytes  # the library's one atomic writer

    path = result_path(name)
    data["provenance"] = provenance(argv)
    text = json.dumps(data, indent=indent, default=float) + ("\n" if trailing_newline else "")
    atomic_write_bytes(path, text.encode())
    return path


# ---------------------------------------------------------------------------------------------- stop time


def stop_time(spec: str | None, now: datetime | None = None) -> datetime | None:
    """The moment a run stops starting new work: an ISO date-time (``2026-12-08T06:30``, UTC unless it says
    otherwise) or ``HH:MM`` (UTC) meaning its **next** occurrence after ``now`` — so ``--stop-at 02:00`` given at
    23:00 stops three hours later, not at once. None when ``spec`` is empty."""
    if not spec:
        return None
    now = now or datetime.now(timezone.utc)
    if "T" in spec or "-" in spec:
        t = datetime.fromisoformat(spec)
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    hh, mm = (int(x) for x in spec.split(":"))
    t = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    return t if t > now else t + timedelta(days=1)


def past(deadline: datetime | None, now: datetime | None = None) -> bool:
    """Whether ``deadline`` (from :func:`stop_time`) has been reached; never when there is none."""
    return deadline is not None and (now or datetime.now(timezone.utc)) >= deadline


# ---------------------------------------------------------------------------------------------- base data sets


def data_dir() -> Path:
    """The folder of the shared data sets: that of ``$UCS_LITE_DATA`` (the CIFAR-10 bundle) when set, else
    ``../shared/data`` next to the repository."""
    from ucs_lite.data import find_shared_bundle

    found = find_shared_bundle()
    return found.parent if found is not None else ROOT.parent / "shared" / "data"


def cifar10_base(test_size: int = 2000, n_train: int | None = None, keep_extras: bool = False) -> "Bundle":
    """The shared CIFAR-10 set the CIFAR-10 studies use: all 10k training images (or a class-balanced ``n_train``,
    ``balanced_indices(n, seed=0)``) and the class-balanced ``test_size`` test images (``seed=0``)."""
    from ucs_lite.data import Bundle, load

    full = load("shared")
    train = full.train if n_train is None else full.train.subset(full.train.balanced_indices(n_train, seed=0))
    test = full.test.balanced_subset(test_size, seed=0)
    return Bundle(train, test, full.extras if keep_extras else {}, full.source)


def cifar100_dev() -> "Bundle":
    """The CIFAR-100 dev set (``cifar100_dev.npz`` in :func:`data_dir`): 10k train / 5k test, fine + coarse."""
    from ucs_lite.data import load

    return load(data_dir() / "cifar100_dev.npz")


# ---------------------------------------------------------------------------------------------- protection


def protect_groups(base: "Bundle", delta: "np.ndarray", assignment: "np.ndarray", method: str, eps: float,
                   seed: int = 0, meta: dict | None = None, record_method: bool = True) -> "Bundle":
    """``base`` with its training images protected by one δ per group (``delta[assignment[i]]`` on image i;
    :func:`ucs_lite.noise.apply`), test images unchanged (:func:`protect_perturbation`)."""
    from ucs_lite.noise import Perturbation

    return protect_perturbation(base, Perturbation(delta, assignment, method, eps, seed), meta, record_method)


def protect_perturbation(base: "Bundle", pert, meta: dict | None = None, record_method: bool = True) -> "Bundle":
    """``base`` with its training images protected by the crafted perturbation ``pert`` (test unchanged), its
    ``meta`` (``{"method": pert.method, **meta}``) stored in the bundle. The attacker cache files a run under that
    method, so ``record_method=False`` (no meta) keeps the bundles frontier.py and bench_craft.py have always
    attacked, and with them their cached runs."""
    import numpy as np

    from ucs_lite.data import Bundle, ImageSet
    from ucs_lite.noise import apply

    x = apply(base.train.images, pert)
    train = ImageSet(x, dict(base.train.labels), dict(base.train.class_names))
    extras = {"meta": np.array(json.dumps({"method": pert.method, **(meta or {})}))} if record_method else {}
    return Bundle(train, base.test, extras, base.source)


# ---------------------------------------------------------------------------------------------- removed join


def join_removed(rows: Iterable[dict], keys: Sequence[str], clean_name: str = "clean", noise_key: str = "noise",
                 keep_clean: bool = False) -> list[dict]:
    """Each protected row with ``clean_peak`` and ``removed_peak`` / ``removed_final``
    (:func:`ucs_lite.metrics.removed`) against the clean row with the same ``keys`` (e.g. view, defense, seed);
    NaN where that clean row is missing. Clean rows are dropped unless ``keep_clean`` (then they get the same
    fields, against themselves)."""
    from ucs_lite.metrics import removed

    rows = list(rows)
    clean = {tuple(r[k] for k in keys): r for r in rows if r[noise_key] == clean_name}
    out = []
    for r in rows:
        if r[noise_key] == clean_name and not keep_clean:
            continue
        c = clean.get(tuple(r[k] for k in keys))
        out.append({**r, "clean_peak": c["peak"] if c else float("nan"),
                    "removed_peak": removed(c["peak"], r["peak"], r["chance"]) if c else float("nan"),
                    "removed_final": removed(c["final"], r["final"], r["chance"]) if c else float("nan")})
    return out

