"""What a result was made with: a stable hash of its config and the library versions (recorded in every
run's JSON / protected bundle's meta). No ucs_lite imports beyond the version, so any module may use it."""
from __future__ import annotations

import functools
import hashlib
import json
import platform

import numpy as np
import torch

from . import __version__

__all__ = ["config_hash", "library_versions", "provenance"]


def config_hash(config: dict) -> str:
    """Stable 16-hex hash of a JSON-able config (keys sorted; non-JSON values by ``str``)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """Versions of ucs_lite, torch, numpy, scikit-learn (None when not installed; read without importing it) and
    python: what a result was made with. :func:`ucs_lite.cache.library_versions` keys caches on a part of it."""
    import importlib.metadata as md

    try:
        sklearn = md.version("scikit-learn")
    except md.PackageNotFoundError:
        sklearn = None
    return {"ucs_lite": __version__, "torch": torch.__version__, "numpy": np.__version__, "scikit-learn": sklearn,
            "python": platform.python_version()}


def provenance(config: dict, seed: int, device: str) -> dict:
    """What a run's JSON records to be reproduced: library versions, seed, (resolved) device and the
    hash of its config (what was asked for: data fingerprints, method, options; not the device)."""
    config = json.loads(json.dumps(config, default=str))  # JSON-safe, as hashed
    return {"versions": library_versions(), "seed": seed, "device": str(device), "config_hash": config_hash(config)}
