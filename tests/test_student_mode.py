"""Student runs never raise: a claim that does not hold is one line of the checks table and the notebook goes on;
strict mode (strict_checks=True or $UCS_LITE_STRICT=1, what CI's nbval run sets) raises as before."""
import sys

import nbformat
import pytest

from ucs_lite import notebooks as nb


@pytest.fixture(autouse=True)
def _fresh_checks(monkeypatch):
    monkeypatch.delenv("UCS_LITE_STRICT", raising=False)
    monkeypatch.setattr(nb.STATE, "device", "cpu")
    nb.clear_checks()
    yield
    nb.clear_checks()


def _failing_claims() -> "nb.Claims":
    c = nb.Claims()
    c.at_least(0.10, 0.20, "the noise lowers the peak")
    c.check(True, "the ε bound holds")
    return c


def test_student_mode_reports_a_failed_claim_in_the_table_and_goes_on(capsys):
    measured = nb.measured_setup(p=10)
    cfg = nb.resolve("cpu-quick", p=10)
    assert nb.checks_mode(None) == "student"
    assert nb.finish(_failing_claims(), cfg, measured, numbers={"x": 1}) == "1/2 hold"  # no AssertionError
    rows = nb.checks_rows()
    assert [(r.claim, r.ok) for r in rows] == [("the noise lowers the peak", False), ("the ε bound holds", True)]
    failed = rows[0]
    assert (failed.expected, failed.value, failed.verdict) == ("≥ 0.200", "0.100", "differs")
    for fact in ("seed", "torch thread", "torch ", "cpu", "seeds 0–4"):
        assert fact in failed.why, fact
    capsys.readouterr()
    nb.checks_table()
    table = capsys.readouterr().out
    assert "checks: 1/2 claims hold in this kernel" in table
    line = [l for l in table.splitlines() if l.startswith("✗")]
    assert len(line) == 1 and "the noise lowers the peak" in line[0] and "expected ≥ 0.200" in line[0] \
        and "this run 0.100" in line[0] and "why" not in line[0].split("—")[0]


def test_checks_table_collects_every_claim_of_the_kernel_and_renders_html(capsys):
    cfg = nb.resolve("cpu-quick", p=10)
    nb.finish(_failing_claims(), cfg, nb.measured_setup(p=10))
    ok = nb.Claims()
    ok.at_most(0.3, 0.5, "a second notebook's claim")
    nb.finish(ok, {**cfg, "epochs": 1}, nb.measured_setup(p=10))
    assert [r.claim for r in nb.checks_rows()] == ["the noise lowers the peak", "the ε bound holds",
                                                   "a second notebook's claim"]
    from ucs_lite.notebooks.claims import ChecksTable

    page = ChecksTable(nb.checks_rows())._repr_html_()
    assert page.count("<tr") == 4 and "differs" in page and "2/3 claims hold" in page
    nb.clear_checks()
    capsys.readouterr()
    nb.checks_table()
    assert "no claim checked yet" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["parameter", "environment"])
def test_strict_mode_raises(how, monkeypatch):
    strict = None
    if how == "parameter":
        strict = True
    else:
        monkeypatch.setenv("UCS_LITE_STRICT", "1")
    cfg = nb.resolve("cpu-quick", p=10)
    assert nb.checks_mode(strict) == "strict"
    with pytest.raises(AssertionError, match="the noise lowers the peak"):
        nb.finish(_failing_claims(), cfg, nb.measured_setup(p=10), strict=strict)
    assert nb.checks_rows()[0].verdict == "differs"  # the table has it too


def test_strict_environment_enforces_only_where_measured_and_false_never(monkeypatch):
    monkeypatch.setenv("UCS_LITE_STRICT", "1")
    cfg = nb.resolve("cpu-quick", p=10)
    assert nb.finish(_failing_claims(), {**cfg, "epochs": 1}, nb.measured_setup(p=10)) == "1/2 hold"
    assert nb.finish(_failing_claims(), cfg, nb.measured_setup(p=10), strict=False) == "1/2 hold"


TINY_LAST_CELL = """
from ucs_lite import notebooks as nb
nb.setup("cpu", quiet=True)
claims = nb.Claims()
claims.at_least(0.1, 0.2, "a claim this run misses")
cfg = nb.resolve("cpu-quick", p=10)
nb.finish(claims, cfg, nb.measured_setup(p=10), strict=strict_checks)
nb.checks_table()
"""


def _tiny_notebook(path):
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("strict_checks = None")
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell(TINY_LAST_CELL)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)


@pytest.mark.slow
def test_a_notebook_with_a_failed_claim_ends_with_its_table_and_exit_code_0(tmp_path, monkeypatch):
    """papermill (as ``ucs-lite notebooks``) runs a notebook whose claim fails: student mode exits 0 and the last
    output is the checks table; strict mode fails the run."""
    import subprocess

    src = tmp_path / "00_tiny.ipynb"
    _tiny_notebook(src)
    monkeypatch.chdir(tmp_path)
    run = subprocess.run([sys.executable, "-m", "papermill", str(src), "out.ipynb", "--cwd", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs
    last = outputs[-1]
    shown = last.get("text", "") or last.get("data", {}).get("text/plain", "")
    assert "checks: 0/1 claims hold" in shown and "a claim this run misses" in shown, outputs
    strict = subprocess.run([sys.executable, "-m", "papermill", str(src), "strict.ipynb", "-p", "strict_checks",
                             "True"], capture_output=True, text=True)
    assert strict.returncode != 0 and "AssertionError" in strict.stderr + strict.stdout
