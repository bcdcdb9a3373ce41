"""The notebooks' setup cell on a simulated fresh runtime, the wheel, the placeholder URL, its Colab form fields
(UCS_LITE_SOURCE, UCS_LITE_PACK), install-once and the version minimums.

Each case runs the cell's own code (extracted from notebooks/00_quickstart.ipynb) in a subprocess in which
ucs_lite is NOT importable (the shared venv's editable install and this checkout are taken off the import
path; the test asserts it) and installs ucs_lite with ``pip --target`` into a throwaway folder, from a built
wheel or from a local git URL (file://), then imports it from there and loads the embedded sample.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import set_setup_cell  # noqa: E402

PRELUDE = textwrap.dedent('''
    import importlib.util, json, os, sys
    # a fresh runtime: no editable ucs_lite, no checkout on the path
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or ".", "ucs_lite"))]
    assert importlib.util.find_spec("ucs_lite") is None, "ucs_lite is still importable: the test would prove nothing"
''')


def _setup_code(notebook: str = "00_quickstart") -> str:
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    src = set_setup_cell.setup_cell(nb)["source"]
    src = src if isinstance(src, str) else "".join(src)
    assert set_setup_cell.END in src, "the setup cell is not the generated one (run tools/set_setup_cell.py)"
    return src.split(set_setup_cell.END)[0]


def _definitions(notebook: str = "00_quickstart") -> str:
    """The setup cell's definitions: everything before it installs / imports anything."""
    code = _setup_code(notebook)
    assert set_setup_cell.INSTALL_MARK in code
    return code.split(set_setup_cell.INSTALL_MARK)[0]


def _run(code: str, cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "UCS_LITE_SOURCE")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", PRELUDE + code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _fail_message(code: str, tmp: Path, env_extra: dict | None = None) -> str:
    r = _run("try:\n" + textwrap.indent(code, "    ") +
             "\nexcept RuntimeError as e:\n    print('ERR:' + str(e)); sys.exit(3)\n", tmp, env_extra)
    assert r.returncode == 3, r.stdout + r.stderr
    return r.stdout.strip().split("ERR:", 1)[1]


def _one_sentence(msg: str) -> bool:
    return "\n" not in msg and msg.endswith(".") and msg.count(". ") == 0


def test_no_source_fails_with_the_one_sentence(tmp_path):
    msg = _fail_message(_setup_code(), tmp_path)
    assert msg == set_setup_cell.NO_SOURCE and _one_sentence(msg)
    assert "UCS_LITE_SOURCE" in msg


@pytest.mark.slow  # ~18 s: pip tries the missing git repository
def test_unreachable_source_fails_with_one_sentence(tmp_path):
    msg = _fail_message(_setup_code(), tmp_path, {"UCS_LITE_SOURCE": "not a url or path"})
    assert msg.startswith("UCS_LITE_SOURCE='not a url or path' is neither") and _one_sentence(msg)
    msg = _fail_message(_setup_code(), tmp_path, {"UCS_LITE_SOURCE": f"file://{tmp_path}/no-such-repo",
                                                  "GIT_TERMINAL_PROMPT": "0"})
    assert msg.startswith("could not install ucs_lite from UCS_LITE_SOURCE=") and _one_sentence(msg), msg


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The working tree's files (tracked + untracked, not ignored) in a fresh git repository."""
    src = tmp_path_factory.mktemp("src") / "ucs_lite_src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith(".venv"):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=src, check=True)
    subprocess.run(git + ["add", "-A"], cwd=src, check=True)
    subprocess.run(git + ["commit", "-qm", "copy"], cwd=src, check=True)
    return src


INSTALL_AND_IMPORT = '''
install_ucs_lite(UCS_LITE_SOURCE, target=TARGET, pip_args=["--no-build-isolation"])
import ucs_lite, ucs_lite.data as D
b = D.load("sample")
import ucs_lite.notebooks as N  # the stored results the notebooks draw come with the package, not a checkout
assert not N.CHECKOUT_RESULTS.is_dir(), N.CHECKOUT_RESULTS
stored = {n: N.stored_benchmark(n) is not None for n in ("granularity", "granularity_cifar10", "purity")}
print(json.dumps({"file": ucs_lite.__file__, "sample": str(D.SAMPLE_PATH), "n": len(b.train), "stored": stored}))
'''


def _install(source: str, tmp: Path) -> dict:
    target = tmp / "target"
    code = _definitions()
    r = _run(code + f"\nTARGET = {str(target)!r}\n" + INSTALL_AND_IMPORT, tmp, {"UCS_LITE_SOURCE": source})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(target.resolve()), out
    assert Path(out["sample"]).resolve().is_relative_to(target.resolve()) and out["n"] == 4000, out
    assert all(out["stored"].values()), out
    return out


@pytest.mark.slow
def test_installs_from_a_built_wheel(tmp_path, source_copy):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(source_copy)], check=True, capture_output=True)
    wheel, = dist.glob("ucs_lite-*.whl")
    _install(str(wheel), tmp_path)


@pytest.mark.slow
def test_installs_from_a_local_git_url(tmp_path, source_copy):
    _install(f"file://{source_copy}", tmp_path)


def test_no_placeholder_url_in_the_repository():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    bad = "ucs-lite" + "/ucs_lite"  # the placeholder owner/repo (split so that this file does not contain it)
    hits = [f for f in files if (ROOT / f).is_file() and f.endswith((".py", ".md", ".ipynb", ".toml", ".yml", ".txt",
                                                                      "Makefile"))
            and bad in (ROOT / f).read_text(encoding="utf-8", errors="replace")]
    assert hits == []


def test_notebooks_carry_the_generated_setup_cell():
    assert set_setup_cell.main(["--check"]) == 0


def test_setup_cell_is_collapsed_for_students():
    """Colab shows the form title only (cellView form), JupyterLab hides the source; the code still runs."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = set_setup_cell.setup_cell(nb)
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        assert src.splitlines()[0] == set_setup_cell.TITLE == "#@title Setup", path.name
        assert cell["metadata"].get("cellView") == "form", path.name
        assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, path.name


def test_form_fields_come_first():
    """Colab shows UCS_LITE_SOURCE and UCS_LITE_PACK as form fields right under the title, in every notebook."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        src = set_setup_cell.setup_cell(nb)["source"]
        lines = (src if isinstance(src, str) else "".join(src)).splitlines()
        assert lines[1] == 'UCS_LITE_SOURCE = ""  #@param {type:"string"}', path.name
        assert lines[2] == 'UCS_LITE_PACK = ""  #@param {type:"string"}', path.name


def test_minimums_come_from_pyproject():
    mins = set_setup_cell.minimums()
    assert set(mins) == {"torch", "numpy", "plotly", "ipywidgets", "ucs_lite"}
    import ucs_lite
    assert mins["ucs_lite"] == ucs_lite.__version__
    assert f"MINIMUMS = {mins!r}" in _setup_code()


def test_pack_field_is_exported_and_source_field_wins(tmp_path):
    code = _definitions().replace('UCS_LITE_PACK = ""  #@param', 'UCS_LITE_PACK = " /tmp/course.pack "  #@param')
    code = code.replace('UCS_LITE_SOURCE = ""  #@param', 'UCS_LITE_SOURCE = "https://example.org/fork.git"  #@param')
    r = _run(code + "\nprint(json.dumps([os.environ.get('UCS_LITE_PACK'), UCS_LITE_SOURCE]))\n", tmp_path,
             {"UCS_LITE_SOURCE": "/from/the/environment"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ["/tmp/course.pack", "https://example.org/fork.git"]
    r = _run(_definitions() + "\nprint(json.dumps([os.environ.get('UCS_LITE_PACK'), UCS_LITE_SOURCE]))\n", tmp_path,
             {"UCS_LITE_SOURCE": "/from/the/environment"})
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [None, "/from/the/environment"]


def test_unmet_minimum_is_one_clear_line(tmp_path):
    code = _definitions() + textwrap.dedent('''
        lines = unmet_minimums({"numpy": "999.0", "plotly": "0.1", "no-such-package-xyz": "1.0"})
        print(json.dumps(lines))
    ''')
    r = _run(code, tmp_path)
    assert r.returncode == 0, r.stderr
    lines = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(lines) == 2, lines  # numpy too old, the missing package; plotly is fine
    assert lines[0].startswith("numpy ") and "older than the 999.0" in lines[0] and _one_sentence(lines[0].split(": run")[0] + ".")
    assert "no-such-package-xyz is not installed" in lines[1]
    assert all("\n" not in l and "restart the runtime" in l for l in lines)


def test_installs_nothing_where_ucs_lite_imports_at_its_version(tmp_path):
    """Once per runtime: with ucs_lite importable at the minimum (this venv), a bogus source is never used, and
    nothing is printed about versions (this venv meets them)."""
    env = {k: v for k, v in os.environ.items() if k not in ("UCS_LITE_SOURCE",)}
    env["UCS_LITE_SOURCE"] = "not a url or path"
    r = subprocess.run([sys.executable, "-c", _setup_code()], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "older than" not in r.stdout and "not installed" not in r.stdout, r.stdout
