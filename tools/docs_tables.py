"""The docs generator's engine: every table of measured numbers in README.md, docs/*.md and the notebooks' markdown,
regenerated from benchmarks/results/*.json by the table modules of the studies (``tools/docs_tables_<study>.py``).

    python tools/docs_tables.py             # rewrite the generated blocks in place   (make results-docs)
    python tools/docs_tables.py --check     # exit 1 with a diff if committed text differs (make check-docs)
    python tools/docs_tables.py --list      # every registered block / value and the JSON it reads

Mechanism. A markdown file (or a markdown cell of ``notebooks/*.ipynb``) marks what this script owns with a pair of
HTML comments (invisible when rendered):

    <!-- generated:NAME -->
    | a | table |
    <!-- /generated -->

for a block (the opening marker ends its line), or, inside a sentence, ``<!-- generated:NAME -->0.258<!-- /generated -->``
for one value. Everything between the markers is replaced by what the function registered as NAME returns;
text outside the markers is never touched. A block gets a last line naming its source JSON (and the rows it
reads) and the command and commit that produced it (the result's ``provenance``, written by
``benchmarks.common.write_result``), so every number can be traced. An unknown NAME, or a marker without its
closing ``<!-- /generated -->``, is an error (exit 2). In a notebook only the markdown cells' ``source`` is
rewritten, and the file is written back the way nbformat writes it (indent 1, UTF-8, a final newline). The script
reads JSON only (no torch, no numpy, no pandas) and is fast enough for CI; only blocks that ask for a model's
output import it lazily (``gpu-estimates`` imports ``ucs_lite.estimate``).

Where the tables live. This module is the engine (markers, formatting helpers, the row lookups several studies
share, check / write); each study keeps its blocks and values in ``tools/docs_tables_<study>.py``, named after
``benchmarks/<study>.py``, which registers them with the decorators here
(``from docs_tables import block, value, Results, md_table, f3, f2, source_line``). Every such module next to this
file is imported before generating. Adding a table for a study writing ``benchmarks/results/<study>.json``:

    @block("<study>-worst", "<study>.json", rows="method × defense, worst over seeds")
    def _worst(r: Results) -> str:
        d = r.json("<study>.json")
        return md_table(["method", "worst peak"], [[x["method"], f3(x["worst_peak"])] for x in d["rows"]])

then put ``<!-- generated:<study>-worst -->`` / ``<!-- /generated -->`` in the markdown and run
``make results-docs``. A one-number value: ``@value("name", "file.json")`` with a function returning the text.
"""
from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
#: the markdown files scanned for markers (relative to the repository root; globs allowed)
DOC_GLOBS = ("README.md", "docs/*.md")
#: the notebooks whose markdown cells are scanned for the same markers
NOTEBOOK_GLOBS = ("notebooks/*.ipynb",)
MARKER = re.compile(r"<!-- generated:(?P<name>[A-Za-z0-9_.:@+-]+) -->(?P<body>.*?)<!-- /generated -->", re.DOTALL)
OPENING = re.compile(r"<!-- generated:([A-Za-z0-9_.:@+-]+) -->")


class DocsError(Exception):
    """A marker the generator cannot serve (unknown name, unclosed marker, missing JSON)."""


@dataclass
class Results:
    """Read-only access to ``benchmarks/results/*.json`` under ``root`` (cached per file)."""

    root: Path = ROOT
    _cache: dict = field(default_factory=dict)

    def json(self, name: str) -> dict:
        """The parsed JSON file ``benchmarks/results/<name>`` (NaN allowed, as the studies write it)."""
        if name not in self._cache:
            path = self.root / "benchmarks" / "results" / name
            if not path.is_file():
                raise DocsError(f"{path}: stored result missing")
            self._cache[name] = json.loads(path.read_text())
        return self._cache[name]


@dataclass(frozen=True)
class Generator:
    """One registered block or value: its name, function, source files and the rows it reads."""

    name: str
    fn: Callable[[Results], str]
    sources: tuple[str, ...]
    rows: str
    inline: bool


REGISTRY: dict[str, Generator] = {}


def block(name: str, *sources: str, rows: str = "") -> Callable:
    """Register ``fn(results) -> markdown`` as the block NAME; a source line naming ``sources`` is appended."""
    def deco(fn: Callable[[Results], str]) -> Callable[[Results], str]:
        REGISTRY[name] = Generator(name, fn, sources, rows, inline=False)
        return fn
    return deco


def value(name: str, *sources: str, rows: str = "") -> Callable:
    """Register ``fn(results) -> text`` as the inline value NAME (no source line; ``--list`` names the JSON)."""
    def deco(fn: Callable[[Results], str]) -> Callable[[Results], str]:
        REGISTRY[name] = Generator(name, fn, sources, rows, inline=True)
        return fn
    return deco


# ---------------------------------------------------------------------------------------------- formatting


def f3(x: float | None) -> str:
    """Three decimals (``0.258``); ``—`` for a missing or NaN value."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def f2(x: float | None) -> str:
    """Two decimals (``0.72``); ``—`` for a missing or NaN value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def signed3(x: float) -> str:
    """A signed three-decimal margin (``+0.022``)."""
    return f"{x:+.3f}"


def pair(a: float | None, b: float | None, fmt: Callable[[float | None], str] = f3) -> str:
    """``a / b`` with the same format on both sides."""
    return f"{fmt(a)} / {fmt(b)}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance_text(prov: dict | None) -> str:
    """A result's provenance as one phrase: ``python benchmarks/study.py table`` at b886530 (and the label of a
    provenance recorded after the fact); "no provenance recorded" without one."""
    if not prov or not prov.get("produced_by"):
        return "no provenance recorded"
    text = f"`{prov['produced_by']}` at {prov.get('commit') or 'an unknown commit'}"
    return text + (f" ({prov['recorded']})" if prov.get("recorded") else "")


def source_line(gen: Generator, results: Results | None = None) -> str:
    """The traceability line under a block: which JSON, which rows, how to regenerate, and (with ``results``) the
    command and commit that produced each JSON (its ``provenance``)."""
    files = ", ".join(f"`benchmarks/results/{s}`" for s in gen.sources)
    rows = (f" ({gen.rows})" if files else gen.rows) if gen.rows else ""
    made = ""
    if results is not None and gen.sources:
        provs = [(s, provenance_text(results.json(s).get("provenance"))) for s in gen.sources]
        made = " Produced by " + ("; ".join(f"{s}: {t}" for s, t in provs) if len(provs) > 1 else provs[0][1]) + "."
    return f"<sub>Generated by `make results-docs` from {files}{rows}; do not edit by hand.{made}</sub>"


def register_value(name: str, src: str, rows: str, fn: Callable[[Results], str]) -> None:
    """:func:`value` as a call (for values registered in a loop from small lambdas)."""
    value(name, src, rows=rows)(fn)


def seconds_text(x: float) -> str:
    """CPU seconds at a precision that fits their size: ``0.001``, ``3.5``, ``106``."""
    return f"{x:.3f}" if x < 0.1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def duration(seconds: float, unit: str) -> str:
    """``175 s`` (unit ``s``) or, for ``auto``, minutes below an hour (``41 min``) and hours above (``1.9 h``)."""
    if unit == "s":
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


# ---------------------------------------------------------------------------------------------- row lookups


def study_row(rows: list[dict], method: str, labels: str, built_from: str | None = None, **extra) -> dict:
    """The one row of a ``study.py`` result with these keys (KeyError naming them if absent or ambiguous)."""
    hits = [r for r in rows if r["method"] == method and r["labels"] == labels
            and (built_from is None or r["built_from"] == built_from)
            and all(r.get(k) == v for k, v in extra.items())]
    if len(hits) != 1:
        raise DocsError(f"{len(hits)} rows for method={method} labels={labels} built_from={built_from} {extra}")
    return hits[0]


def attack_rows(attacks: list[dict], noise: str, view: str, **extra) -> list[dict]:
    """Every attack of a granularity study with this noise and view (all seeds), sorted by seed."""
    hits = [a for a in attacks if a["noise"] == noise and a["view"] == view
            and all(a.get(k) == v for k, v in extra.items())]
    if not hits:
        raise DocsError(f"no attack rows for noise={noise} view={view} {extra}")
    return sorted(hits, key=lambda a: a["seed"])


def worst_peak(rows: list[dict]) -> float:
    """The worst (highest) peak accuracy over seeds."""
    return max(a["peak"] for a in rows)


def worst_removed(rows: list[dict]) -> float:
    """The worst (smallest) ``removed_peak`` over seeds."""
    return min(a["removed_peak"] for a in rows)


def c100(r: Results) -> list[dict]:
    """Every CIFAR-100 dev attack: the granularity report (seed 0 and the seeds part)."""
    return r.json("granularity.json")["attacks"]


def c10(r: Results) -> list[dict]:
    """The CIFAR-10 10k check of the granularity study (seeds 0-2)."""
    return r.json("granularity_cifar10.json")["attacks"]


def c10_defended(r: Results, noise: str, defense: str) -> dict:
    """One row of ``granularity_cifar10_defenses.json`` (seed 0)."""
    return attack_rows(r.json("granularity_cifar10_defenses.json")["attacks"], noise, "fine", defense=defense)[0]


def seeds_worst(r: Results, labels: str) -> float:
    """``uc``'s worst peak over attacker seeds 0-2 (``seeds.json``)."""
    return max(x["peak"] for x in r.json("seeds.json")["rows"] if x["labels"] == labels)


def sweep_peak(r: Results, method: str, labels: str, defense: str, name: str = "sweep.json", seed: int = 0) -> dict:
    """One row of the countermeasure sweep."""
    return study_row(r.json(name)["rows"], method, labels, defense=defense, seed=seed)


def minmax(xs: list[float]) -> tuple[float, float]:
    """``(min, max)`` of a non-empty list."""
    return min(xs), max(xs)


# ---------------------------------------------------------------------------------------------- engine


def load_plugins(here: Path = Path(__file__).resolve().parent) -> None:
    """Import every ``tools/docs_tables_*.py`` (by its path, once) so that it can register its own blocks; its
    ``from docs_tables import …`` finds this module in ``sys.modules`` (no path manipulation)."""
    sys.modules.setdefault("docs_tables", sys.modules[__name__])
    for path in sorted(here.glob("docs_tables_*.py")):
        if path.stem in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)


def doc_files(root: Path) -> list[Path]:
    """The markdown files scanned for markers under ``root``."""
    files: list[Path] = []
    for pattern in DOC_GLOBS:
        files += sorted(root.glob(pattern))
    return files


def render(text: str, results: Results, where: str = "") -> str:
    """``text`` with every generated block / value rewritten from ``results``."""
    opened = len(OPENING.findall(text))
    closed = len(MARKER.findall(text))
    if opened != closed:
        raise DocsError(f"{where}: {opened - closed} `<!-- generated:… -->` marker(s) without `<!-- /generated -->`")

    def replace(m: re.Match) -> str:
        name, body = m.group("name"), m.group("body")
        gen = REGISTRY.get(name)
        if gen is None:
            raise DocsError(f"{where}: unknown generated block {name!r} (see `python tools/docs_tables.py --list`)")
        out = gen.fn(results)
        if body.startswith("\n"):
            if not gen.inline:
                out = out.rstrip("\n") + "\n\n" + source_line(gen, results)
            return f"<!-- generated:{name} -->\n{out.rstrip(chr(10))}\n<!-- /generated -->"
        return f"<!-- generated:{name} -->{out}<!-- /generated -->"

    return MARKER.sub(replace, text)


def notebook_files(root: Path) -> list[Path]:
    """The notebooks scanned for markers under ``root``."""
    files: list[Path] = []
    for pattern in NOTEBOOK_GLOBS:
        files += sorted(root.glob(pattern))
    return files


def cell_text(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat stores a list of lines or a string)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def render_notebook(text: str, results: Results, where: str = "") -> str:
    """A notebook's JSON text with the markers of its markdown cells rewritten from ``results``; ``text`` itself
    when nothing changes (so a notebook without markers is never re-serialised). A changed notebook is written the
    way nbformat writes it: indent 1, non-ASCII kept, a final newline; cells stay lists of lines."""
    if "<!-- generated:" not in text:
        return text
    nb = json.loads(text)
    changed = False
    for k, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown":
            continue
        old = cell_text(cell)
        new = render(old, results, f"{where} cell {k}")
        if new != old:
            cell["source"] = new.splitlines(keepends=True) if isinstance(cell.get("source"), list) else new
            changed = True
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n" if changed else text


def regenerate(root: Path = ROOT) -> dict[Path, tuple[str, str]]:
    """``{file: (committed, regenerated)}`` for every scanned markdown file and notebook."""
    load_plugins()
    results = Results(root)
    out = {path: (path.read_text(), render(path.read_text(), results, str(path.relative_to(root))))
           for path in doc_files(root)}
    for path in notebook_files(root):
        text = path.read_text(encoding="utf-8")
        out[path] = (text, render_notebook(text, results, str(path.relative_to(root))))
    return out


def notebook_diff(old: str, new: str, rel: str) -> list[str]:
    """A unified diff of the markdown cells that differ between two versions of a notebook's JSON."""
    a, b = json.loads(old).get("cells", []), json.loads(new).get("cells", [])
    lines: list[str] = []
    for k, (x, y) in enumerate(zip(a, b)):
        if cell_text(x) != cell_text(y):
            lines += difflib.unified_diff(cell_text(x).splitlines(True), cell_text(y).splitlines(True),
                                          f"{rel} cell {k} (committed)", f"{rel} cell {k} (from benchmarks/results)")
    return [line if line.endswith("\n") else line + "\n" for line in lines]


#: where the package carries the stored results its notebooks draw (``nb.stored_benchmark``), relative to the root
SHIPPED = Path("ucs_lite") / "assets" / "results"


def stale_shipped(root: Path = ROOT) -> list[str]:
    """The shipped copies (every ``*.json`` in :data:`SHIPPED`) whose bytes differ from ``benchmarks/results/``."""
    return sorted(p.name for p in (root / SHIPPED).glob("*.json")
                  if p.read_bytes() != (root / "benchmarks" / "results" / p.name).read_bytes())


def check(root: Path = ROOT, out=sys.stdout) -> int:
    """0 if every generated block (docs and notebooks) matches the stored results and every shipped copy its
    source; else 1 and a unified diff (a notebook's: of its changed markdown cells; or the stale copies' names)
    on ``out``."""
    bad = len(stale := stale_shipped(root))
    if stale:
        print(f"{SHIPPED} differs from benchmarks/results for: {', '.join(stale)}", file=out)
    for path, (old, new) in regenerate(root).items():
        if old != new:
            bad += 1
            rel = str(path.relative_to(root))
            if path.suffix == ".ipynb":
                out.writelines(notebook_diff(old, new, rel))
            else:
                out.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{rel} (committed)",
                                                    f"{rel} (from benchmarks/results)"))
    if bad:
        print(f"\ncheck-docs: {bad} file(s) differ from benchmarks/results; run `make results-docs` "
              "(or fix the stored result) and commit", file=out)
    return 1 if bad else 0


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite every file (docs, notebooks) whose generated blocks changed, and copy every stale shipped result again (its source in
    ``benchmarks/results/``); the changed files."""
    changed = []
    for name in stale_shipped(root):
        (root / SHIPPED / name).write_bytes((root / "benchmarks" / "results" / name).read_bytes())
        changed.append(root / SHIPPED / name)
    for path, (old, new) in regenerate(root).items():
        if old != new:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite (default), ``--check`` or ``--list``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff when committed text differs")
    ap.add_argument("--list", action="store_true", help="every registered block / value and its source JSON")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    a = ap.parse_args(argv)
    load_plugins()  # --list shows the plugins' blocks too
    try:
        if a.list:
            for gen in sorted(REGISTRY.values(), key=lambda g: g.name):
                kind = "value" if gen.inline else "block"
                print(f"{kind:5} {gen.name:40} {', '.join(gen.sources) or '-'}  {gen.rows}")
            return 0
        if a.check:
            return check(a.root)
        for path in write(a.root):
            print(f"rewrote {path.relative_to(a.root)}")
        return 0
    except DocsError as e:
        print(f"docs_tables: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
