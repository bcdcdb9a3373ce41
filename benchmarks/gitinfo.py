"""The commit a benchmark result was made at — one helper for every script in benchmarks/ (torch-free)."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
