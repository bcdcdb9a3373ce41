"""The one line a notebook prints when a result comes from a course pack or the cache instead of being computed:
``loaded from pack course.zip: made 2026-12-07 18:50 UTC with ucs_lite 0.2.0, torch 2.3.1 on CPU x86_64``.

:func:`ucs_lite.notebooks.setup` registers :func:`print_hit` with :func:`ucs_lite.cache.add_hit_hook`, so every
cache hit of a notebook (``cache.protect`` / ``cache.craft`` / ``cache.evaluate``) says where its result came from
without any change to the notebooks' cells.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["loaded_from", "print_hit"]


def loaded_from(made: dict | None, what: str = "") -> str:
    """The provenance line for an entry's ``made`` record (:func:`ucs_lite.cache.provenance`); ``what``: a
    short description of the entry, appended in parentheses."""
    tail = f" ({what})" if what else ""
    if not made:
        return f"loaded from cache: made by an older ucs_lite (no date or versions recorded){tail}"
    source = f"pack {made['pack']}" if made.get("pack") else "cache"
    return (f"loaded from {source}: made {made.get('date', '?')} with ucs_lite {made.get('ucs_lite', '?')}, "
            f"torch {made.get('torch', '?')} on {made.get('device', '?')}{tail}")


def print_hit(path: Path, key: dict | None, made: dict | None) -> None:
    """Cache hit hook: print :func:`loaded_from` for the entry at ``path`` (``key``: its key, for a summary)."""
    from ..cache import describe_key

    print(loaded_from(made, describe_key(key) if key else Path(path).name))
