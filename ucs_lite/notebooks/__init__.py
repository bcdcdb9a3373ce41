"""The lesson machinery in one place: what the six notebooks call (``from ucs_lite import notebooks as nb``)
and what runs them (``ucs-lite notebooks`` / ``make notebooks``).

* :mod:`.state` — the kernel's session (:data:`STATE`, a :class:`NotebookState`: device, GPU, threads, the course
  pack imported), :func:`setup`, :func:`resolve` (profile + knobs → settings, with the time estimate),
  :func:`load_data`, :func:`get_surrogate`, :func:`random_cluster_purity`, :func:`stored_benchmark`.
* :mod:`.claims` — :class:`Claims`, :func:`measured_setup`, :func:`claims_apply`, :func:`finish` and the checks
  table (:func:`checks_table`). Student mode (the default) never raises on a claim; strict mode
  (``strict_checks=True`` or ``$UCS_LITE_STRICT=1``, what CI's nbval run sets) raises as before.
* :mod:`ucs_lite.records` (re-exported) — :func:`record` / :func:`recorded`, the headline numbers a run collects
  (a low, torch-free layer, since :mod:`ucs_lite.viz` uses it too).
* :mod:`.runner` — :func:`find_notebooks` (a checkout's ``notebooks/``, else the copies packaged in the wheel),
  :func:`run_notebooks` (papermill into ``runs/<timestamp>/`` + summary).
* :func:`loaded_from` — the one line a notebook prints beside a number that came from a course pack or the cache.

The profiles and the time model stay in the torch-free :mod:`ucs_lite.profiles` / :mod:`ucs_lite.estimate`
(the CLI's ``--help`` and ``estimate`` use them without torch); :data:`NOTEBOOKS` and :data:`PROFILES` are
re-exported here. Names are loaded on first use, so ``import ucs_lite.notebooks`` stays cheap.
"""
from __future__ import annotations

import importlib

from ..profiles import NOTEBOOKS, PROFILES

_EXPORTS = {
    ".state": ("NotebookState", "STATE", "NOTEBOOK_ENV", "PACK_ENV", "pick_profile", "resolve", "setup",
              "import_pack_once", "load_data", "get_surrogate", "random_cluster_purity", "stored_benchmark",
              "RESULTS_ASSETS", "CHECKOUT_RESULTS"),
    ".claims": ("one_of", "MEASURED_SEEDS", "STRICT_ENV", "measured_setup", "claims_apply", "checks_mode", "finish",
               "Claims", "CheckRow", "checks_rows", "checks_table", "clear_checks", "REPORTED_WHY",
               "WITHIN_SPREAD"),
    "..records": ("RECORD_ENV", "record", "recorded", "clear_records"),
    ".runner": ("NOTEBOOK_DIR", "PACKAGED_NOTEBOOKS", "CHECKOUT_NOTEBOOKS", "NotebookInspectError", "NotebookNotFound",
               "default_notebook_dir", "find_notebooks", "declared_parameters", "keep_static_views",
               "run_notebooks"),
    ".provenance_line": ("loaded_from",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["NOTEBOOKS", "PROFILES", *_WHERE]


def __getattr__(name: str):
    """Load ``name`` from its submodule on first use (PEP 562)."""
    if f".{name}" in _EXPORTS:  # a submodule, e.g. ``nb.state``
        return importlib.import_module(f".{name}", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ucs_lite.notebooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
