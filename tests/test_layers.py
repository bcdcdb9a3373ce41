"""The package's layers flow one way (docs/design.md, "Layers"): a module imports only modules of its own or a lower
layer, and no modules import each other in a circle. Imports inside functions count too (a lazy import is still a
dependency), and importing ``a.b.c`` also runs ``a`` and ``a.b``'s ``__init__``."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ucs_lite"

#: Each module's layer, lowest first (a new module gets a line here: the test names any module without one).
LAYERS: dict[str, int] = {
    # 0 — foundations: no other ucs_lite module
    "ucs_lite": 0, "ucs_lite.errors": 0, "ucs_lite.files": 0, "ucs_lite.launch": 0,
    # 1 — torch-free catalogues (what --help reads) and what a result was made with
    "ucs_lite.methods": 1, "ucs_lite.strengths": 1, "ucs_lite.provenance": 1,
    # 2 — data, numbers, models, profiles and the time model
    "ucs_lite.profiles": 2, "ucs_lite.estimate": 2, "ucs_lite.data": 2, "ucs_lite.metrics": 2,
    "ucs_lite.precision": 2, "ucs_lite.models": 2,
    # 3 — countermeasures and augmentation, surrogates, HTML/PNG reports
    "ucs_lite.defenses": 3, "ucs_lite.surrogates": 3, "ucs_lite.report": 3, "ucs_lite.preview": 3,
    "ucs_lite.records": 3,
    # 4 — surrogate features and K-means
    "ucs_lite.cluster": 4,
    # 5–8 — noise: the perturbation artefact, pattern families, crafting, the one entry point
    "ucs_lite.noise.base": 5, "ucs_lite.noise.jpeg_grid": 5,
    "ucs_lite.noise.patterns": 6, "ucs_lite.noise.filters": 6, "ucs_lite.noise.photo": 6,
    "ucs_lite.noise.em": 7, "ucs_lite.noise.multi": 7, "ucs_lite.noise.uc": 7,
    "ucs_lite.noise.registry": 8, "ucs_lite.noise": 8,
    # 9 — the attacker; 10 — protecting; 11 — the result cache
    "ucs_lite.attack": 9, "ucs_lite.protect": 10, "ucs_lite.cache": 11,
    # 12 — what is built on the cache: comparisons, streaming, course packs, figures, exercises, the demo
    "ucs_lite.experiment": 12, "ucs_lite.stream": 12, "ucs_lite.pack": 12, "ucs_lite.viz": 12, "ucs_lite.exercises": 12, "ucs_lite.demo": 12,
    # 13 — the lesson machinery (notebook state, claims, runner); 14 — the command line
    "ucs_lite.notebooks": 13, "ucs_lite.cli": 14,
}


def module_name(path: Path, root: Path) -> str:
    """``root/noise/em.py`` -> ``ucs_lite.noise.em`` (``__init__.py`` -> its package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The layer of ``module``, or of the nearest package above it that has one (the lesson package's modules share
    its layer)."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in LAYERS:
            return LAYERS[".".join(parts[:i])]
    return None


def imports_of(path: Path, root: Path) -> set[str]:
    """The ucs_lite modules a file imports (absolute, relative, at module level or inside functions), each with
    the packages above it whose ``__init__`` the import runs."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]  # `from . import x` may name a module
        for n in names:
            if n.split(".")[0] != root.name:
                continue
            parts = n.split(".")
            out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    known = {module_name(p, root) for p in root.rglob("*.py")}
    return {m for m in out if m in known and m != me}


def violations(root: Path) -> list[str]:
    """Every import of a higher layer, every module without a layer, and every import circle under ``root``."""
    problems, graph = [], {}
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        mine = layer_of(me)
        if mine is None:
            problems.append(f"{me} has no layer: add it to LAYERS in tests/test_layers.py (and docs/design.md)")
            continue
        graph[me] = imports_of(path, root)
        for other in sorted(graph[me]):
            theirs = layer_of(other)
            package_of_me = me.startswith(other + ".")  # importing one's own package's __init__ is not upward
            if theirs is not None and theirs > mine and not package_of_me:
                problems.append(f"{me} (layer {mine}) imports {other} (layer {theirs}): an upward import")
    problems += [f"import circle: {' -> '.join(c)}" for c in _circles(graph)]
    return problems


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each strongly connected group of modules (a package's ``__init__`` importing its own
    submodules and them importing it back is Python's normal package shape, not counted)."""
    def edges(a: str) -> set[str]:
        return {b for b in graph.get(a, ()) if not a.startswith(b + ".") and b in graph}

    circles, done = [], set()
    for start in graph:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, path = stack.pop()
            for nxt in edges(node):
                if nxt == start and len(path) > 1 and not (set(path) & done):
                    circles.append(path + [start])
                    done.update(path)
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return circles


def test_layers_flow_one_way():
    assert violations(PACKAGE) == []


def test_an_upward_import_is_caught(tmp_path):
    """The check is not vacuous: a copy of the package with one planted upward import (data -> cli) fails it."""
    copy = tmp_path / "ucs_lite"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    data = copy / "data.py"
    data.write_text(data.read_text() + "\n\ndef _planted():\n    from .cli import main\n    return main\n")
    found = violations(copy)
    assert any("ucs_lite.data (layer 2) imports ucs_lite.cli (layer 14)" in v for v in found), found


def test_a_circle_is_caught(tmp_path):
    copy = tmp_path / "ucs_lite"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    files = copy / "files.py"  # files (layer 0) <-> errors (layer 0): same layer, so only the circle is wrong
    files.write_text(files.read_text() + "\nfrom .errors import UcsError  # noqa\n")
    errors = copy / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom .files import cache_dir  # noqa\n")
    assert any(v.startswith("import circle:") and "ucs_lite.files" in v for v in violations(copy))


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_every_layered_module_exists(module):
    """No stale line in LAYERS (a renamed module must be renamed here too)."""
    rel = Path(*module.split(".")[1:])
    assert module == "ucs_lite" or (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()
