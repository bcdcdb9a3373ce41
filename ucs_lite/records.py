"""The headline-number store of a notebook (low in the layers, torch-free, so :mod:`ucs_lite.viz` and the lesson
package :mod:`ucs_lite.notebooks` both use it): :func:`record` keeps a value in this process and, where
``$UCS_LITE_RECORD`` (or ``path``) names a JSON file, merges it into that file, which
:func:`ucs_lite.notebooks.run_notebooks` collects into its summary. Torch-free.

:mod:`ucs_lite.viz` re-exports :func:`record`, :func:`recorded` and :data:`RECORD_ENV`, so ``viz.record(...)``
in older notebooks keeps working.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["RECORD_ENV", "record", "recorded", "clear_records"]

#: Environment variable naming the JSON file :func:`record` merges values into.
RECORD_ENV = "UCS_LITE_RECORD"
_RECORDED: dict[str, object] = {}


def _jsonable(v: Any) -> Any:
    """``v`` with numpy scalars and arrays turned into plain Python values (recursively)."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _merge_into(target: Path, name: str, value: Any) -> None:
    """Merge ``{name: value}`` into the JSON object in ``target`` (written atomically; an unreadable file starts
    over from ``{}``)."""
    from .data import atomic_write_bytes

    data = {}
    if target.is_file():
        try:
            data = json.loads(target.read_text())
        except ValueError:
            data = {}
    data[name] = value
    atomic_write_bytes(target, json.dumps(data, indent=2, default=str).encode())


def record(name: str, value, path: str | os.PathLike | None = None):
    """Remember a headline number (or short string) of a notebook and return ``value`` unchanged.

    Values are kept in memory (:func:`recorded`) and, when ``path`` or the environment variable
    ``UCS_LITE_RECORD`` names a file, merged into that JSON file (which
    :func:`ucs_lite.notebooks.run_notebooks` collects into its summary).
    """
    value = _jsonable(value)
    _RECORDED[name] = value
    target = path or os.environ.get(RECORD_ENV)
    if target:
        _merge_into(Path(target), name, value)
    return value


def recorded() -> dict:
    """Everything :func:`record` has kept in this process (name -> value)."""
    return dict(_RECORDED)


def clear_records() -> None:
    """Forget every recorded value of this process (tests; a fresh lesson in the same kernel)."""
    _RECORDED.clear()
