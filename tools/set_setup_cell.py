"""Write the setup cell (cell index 2) of every notebook in notebooks/, so that it can be re-applied after merges.

    python tools/set_setup_cell.py            # rewrite the notebooks in place (idempotent)
    python tools/set_setup_cell.py --check    # exit 1 if a notebook's setup cell is not the generated one

The generated part of the cell starts with two Colab form fields (``#@param``): ``UCS_LITE_SOURCE`` (where to
install ucs_lite from: a git URL, a local checkout or a wheel / sdist path; empty: the environment variable of
that name) and ``UCS_LITE_PACK`` (a course pack file or URL, exported to the environment, where
``ucs_lite.notebooks.setup`` imports it once per runtime). It installs once per runtime: where ucs_lite already
imports at a version ≥ the package's own (``MINIMUMS``) nothing is installed; otherwise ``pip --no-deps`` for the
package and only its missing light dependencies after it, under a constraint that keeps the runtime's torch /
torchvision. It then checks the version minimums of torch, numpy, plotly, ipywidgets and ucs_lite (read from
pyproject.toml when the script runs) and prints one clear line per unmet one. Below the generated part each
notebook keeps its own lines (``import numpy as np``, ``nb.setup(device)``, ...).

The cell is collapsed for students: its first line is the Colab form title ``#@title Setup`` (with the cell
metadata ``"cellView": "form"``, Colab shows only the title) and its metadata carries JupyterLab's
``"jupyter": {"source_hidden": true}``; the code still runs as usual.

It also replaces the "Open in Colab" badge of each notebook's first cell (which pointed at a placeholder
repository) by a template for one's own fork, and keeps the profile choices in the parameters cell's
``profile = ...`` comment current.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
SETUP_INDEX = 2
TITLE = "#@title Setup"
BEGIN = "# Setup (written by tools/set_setup_cell.py"
#: Cell metadata that collapses the setup cell: Colab's form view and JupyterLab's hidden source.
HIDDEN_METADATA = {"cellView": "form", "jupyter": {"source_hidden": True}}
END = "# ---- end of the generated setup ----"
PROFILE_CHOICES = ('"auto" (gpu-class on a CUDA GPU, else cpu-quick) | "cpu-quick" (minutes on 2 CPU cores) | '
                   '"gpu-class" (≤ 10 min per notebook on a T4) | "gpu-paper"')

#: The one sentence a notebook ends with when ucs_lite is missing and no source is set.
NO_SOURCE = ("ucs_lite is not installed here: set UCS_LITE_SOURCE (in the setup cell or as an environment variable) "
             "to a git URL of the repository, a local checkout or a wheel / sdist path, then rerun the cell.")

#: The packages whose minimum versions the cell checks (pyproject's ``>=`` ranges; ucs_lite: its own version).
CHECKED = ("torch", "numpy", "plotly", "ipywidgets")
#: The line that separates the cell's definitions from what it does (tests run the definitions alone).
INSTALL_MARK = "# ---- install once per runtime, then check the versions ----"


def minimums(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """{package: minimum version} from pyproject.toml's dependencies (``name>=x``) for CHECKED, plus ucs_lite's
    own version."""
    import tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    out = {}
    for req in project["dependencies"]:
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)", req)
        if m and m.group(1).lower() in CHECKED:
            out[m.group(1).lower()] = m.group(2)
    missing = [n for n in CHECKED if n not in out]
    if missing:
        raise ValueError(f"pyproject.toml has no '>=' minimum for {missing}")
    return {**{n: out[n] for n in CHECKED}, "ucs_lite": project["version"]}


CHECK_FUNCTIONS = '''
def version_tuple(v):
    """'2.1.0+cu121' -> (2, 1, 0); what the minimums compare."""
    return tuple(int(x) for x in re.findall(r"\\d+", str(v).split("+")[0])[:3])


def installed_version(name):
    """The version of `name` in this runtime (ucs_lite: the imported package's own), or None."""
    import importlib, importlib.metadata as md
    if name == "ucs_lite":
        try:
            return getattr(importlib.import_module("ucs_lite"), "__version__", "0")
        except ImportError:
            return None
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def unmet_minimums(minimums):
    """One sentence per package below its minimum (or missing); [] when all are met."""
    lines = []
    for name, need in minimums.items():
        have = installed_version(name)
        if have is None:
            lines.append(f"{name} is not installed; ucs_lite needs {name} >= {need}: run `pip install '{name}>={need}'` "
                         "in a cell, restart the runtime, then rerun this cell.")
        elif version_tuple(have) < version_tuple(need):
            lines.append(f"{name} {have} is older than the {need} ucs_lite needs: run `pip install -U '{name}>={need}'` "
                         "in a cell, restart the runtime, then rerun this cell.")
    return lines
'''

INSTALL_FUNCTION = '''
def install_ucs_lite(source, target=None, pip_args=()):
    """pip-install ucs_lite from `source` (git URL, local checkout, wheel / sdist path) without reinstalling
    torch / torchvision: the package with --no-deps, then only its missing dependencies, with the present
    torch / torchvision pinned. `target`: install into that folder instead (tests). Fails with one sentence."""
    import importlib, importlib.metadata as md, os, re, subprocess, sys, tempfile
    if not source:
        raise RuntimeError(NO_SOURCE)
    source = str(source).strip()
    if os.path.exists(os.path.expanduser(source)):
        spec = os.path.abspath(os.path.expanduser(source))
    elif re.match(r"^(git\\+)?(https?|ssh|file)://|^git@", source):
        spec = source if source.startswith("git+") else "git+" + source
    else:
        raise RuntimeError(f"UCS_LITE_SOURCE={source!r} is neither a path on this machine nor a URL: set it to a "
                           "git URL of the repository, a local checkout or a wheel / sdist path, then rerun the cell.")
    keep = []
    for name in ("torch", "torchvision"):
        try:
            keep.append(f"{name}=={md.version(name)}")
        except md.PackageNotFoundError:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        pins = os.path.join(tmp, "keep-torch.txt")
        with open(pins, "w") as f:
            f.write("\\n".join(keep) + "\\n")

        def pip(*args):
            where = ["--target", str(target)] if target else []
            r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                "-c", pins, *where, *pip_args, *args], capture_output=True, text=True)
            if r.returncode:
                why = (r.stderr.strip().splitlines() or ["pip failed"])[-1].strip().rstrip(".")
                raise RuntimeError(f"could not install ucs_lite from UCS_LITE_SOURCE={source!r} ({why}): set it to a "
                                   "reachable git URL, local checkout or wheel / sdist path, then rerun the cell.")

        pip("--no-deps", "--upgrade", spec)
        if target:
            sys.path.insert(0, os.path.abspath(str(target)))
        importlib.invalidate_caches()
        missing = []
        for req in md.requires("ucs_lite") or []:
            if "extra ==" in req:
                continue
            name = re.match(r"[A-Za-z0-9_.\\-]+", req).group(0)
            try:
                md.version(name)
            except md.PackageNotFoundError:
                missing.append(req.split(";")[0].strip())
        if missing:
            print("installing ucs_lite's missing dependencies:", ", ".join(missing))
            pip(*missing)
    importlib.invalidate_caches()
'''


def generated_block(notebook: str, mins: dict[str, str] | None = None) -> str:
    """The generated top of the setup cell for ``notebook`` (its file stem)."""
    mins = mins or minimums()
    return "\n".join([
        TITLE,
        'UCS_LITE_SOURCE = ""  #@param {type:"string"}',
        'UCS_LITE_PACK = ""  #@param {type:"string"}',
        f"{BEGIN}; rerun that script instead of editing this part).",
        "# UCS_LITE_SOURCE: where a fresh runtime (Colab) installs ucs_lite from: a git URL such as",
        '# "https://github.com/<you>/<repo>.git" (your fork), a local checkout, or a wheel / sdist path (`make dist`);',
        "# empty: the environment variable UCS_LITE_SOURCE. It installs once per runtime: where ucs_lite already imports",
        "# at the version below (a checkout, an installed wheel, an earlier run) nothing is installed. The runtime's",
        "# torch and torchvision stay as they are.",
        "# UCS_LITE_PACK: a course pack (file or URL, `ucs-lite cache export`): results found in it are read, not computed.",
        "import os, re, sys, time",
        'UCS_LITE_SOURCE = UCS_LITE_SOURCE.strip() or os.environ.get("UCS_LITE_SOURCE", "")',
        'UCS_LITE_PACK = UCS_LITE_PACK.strip() or os.environ.get("UCS_LITE_PACK", "")',
        "if UCS_LITE_PACK:",
        '    os.environ["UCS_LITE_PACK"] = UCS_LITE_PACK  # ucs_lite.notebooks.setup imports it once per runtime',
        f'os.environ["UCS_LITE_NOTEBOOK"] = "{notebook}"  # ucs_lite prints this notebook\'s time estimate',
        f"NO_SOURCE = {NO_SOURCE!r}",
        f"MINIMUMS = {mins!r}",
        CHECK_FUNCTIONS,
        INSTALL_FUNCTION,
        INSTALL_MARK,
        'have = installed_version("ucs_lite")',
        'if have is None or (UCS_LITE_SOURCE and version_tuple(have) < version_tuple(MINIMUMS["ucs_lite"])):',
        "    install_ucs_lite(UCS_LITE_SOURCE)",
        "    if have is not None:",
        '        print(f"ucs_lite {have} was upgraded: restart the runtime, then rerun this cell.")',
        "import ucs_lite",
        "for line in unmet_minimums(MINIMUMS):",
        "    print(line)",
        END,
    ])


def notebook_tail(source: str) -> list[str]:
    """The notebook's own lines of its setup cell: what follows the generated block (or, in the old cell that
    cloned a placeholder repository, what follows its ``except ImportError`` block)."""
    lines = source.splitlines()
    if END in lines:
        return lines[lines.index(END) + 1:]
    if "REPO_URL" not in source:
        raise ValueError("setup cell is neither the generated one nor the old REPO_URL one")
    start = next(i for i, l in enumerate(lines) if l.startswith("except ImportError"))
    rest = lines[start + 1:]
    first = next(i for i, l in enumerate(rest) if l and not l[0].isspace())
    return [l for l in rest[first:] if l.strip() != "import os, subprocess, sys, time"]


def badge_line(notebook: str) -> str:
    return (f"**Open in Colab** from your own fork of this repository: "
            f"`https://colab.research.google.com/github/<you>/<repo>/blob/main/notebooks/{notebook}.ipynb` "
            f"(replace `<you>/<repo>`; see the README), then set `UCS_LITE_SOURCE` in the setup cell.")


def _set_source(cell: dict, text: str) -> None:
    if isinstance(cell["source"], str):
        cell["source"] = text
    else:
        ls = text.splitlines(keepends=True)
        cell["source"] = ls


def _text(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def setup_cell(nb: dict) -> dict:
    """The notebook's setup cell: the code cell carrying the generated block, else cell ``SETUP_INDEX``."""
    cells = nb["cells"]
    for c in cells:
        if c["cell_type"] == "code" and END in _text(c).splitlines():
            return c
    return cells[SETUP_INDEX]


def updated(nb: dict, name: str) -> dict:
    """The notebook dict with its setup cell (code and collapsed metadata), badge and profile comment brought up
    to date."""
    cells = nb["cells"]
    setup = setup_cell(nb)
    if setup["cell_type"] != "code":
        raise ValueError(f"{name}: cell {SETUP_INDEX} is not a code cell")
    _set_source(setup, "\n".join([generated_block(name), *notebook_tail(_text(setup))]))
    meta = setup.setdefault("metadata", {})
    meta["cellView"] = HIDDEN_METADATA["cellView"]
    meta.setdefault("jupyter", {}).update(HIDDEN_METADATA["jupyter"])
    # the first cell's Colab badge
    intro = _text(cells[0])
    intro = re.sub(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)$", badge_line(name), intro, flags=re.M)
    intro = re.sub(r"^\*\*Open in Colab\*\* from your own fork.*$", badge_line(name), intro, flags=re.M)
    _set_source(cells[0], intro)
    # the parameters cell's profile comment
    params = next(c for c in cells if c["cell_type"] == "code" and "parameters" in c.get("metadata", {}).get("tags", []))
    ptext = _text(params)
    ptext = re.sub(r'^(profile = "(?:auto|cpu-quick)"\s*)#.*$', lambda m: m.group(1) + "# " + PROFILE_CHOICES, ptext,
                   flags=re.M)
    _set_source(params, ptext)
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if a notebook would change")
    ap.add_argument("--dir", default=str(NOTEBOOK_DIR))
    a = ap.parse_args(argv)
    stale = []
    for path in sorted(Path(a.dir).glob("*.ipynb")):
        raw = path.read_text(encoding="utf-8")
        nb = updated(json.loads(raw), path.stem)
        out = json.dumps(nb, indent=1, ensure_ascii=False) + ("\n" if raw.endswith("\n") else "")
        if out != raw:
            stale.append(path.name)
            if not a.check:
                path.write_text(out, encoding="utf-8")
    verb = "would change" if a.check else "updated"
    print(f"{verb}: {', '.join(stale) or 'nothing'}")
    return 1 if (a.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
