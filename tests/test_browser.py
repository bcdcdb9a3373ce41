"""A real browser: JupyterLab in headless Chromium runs notebook 03 at a tiny size, then the ε slider is dragged and
the image and the PSNR text must change (what a class sees, beyond what papermill / nbval check); and the book built
from the shipped lessons opens lesson 05 with its plotly figures drawn and a widget's static view.

Opt-in: ``make test-browser`` sets ``UCS_LITE_BROWSER=1``; a plain ``pytest tests`` skips it. It needs Playwright
for Python (``pip install -e ".[browser]"``) and a Chromium binary (Debian: ``apt-get install chromium``;
Playwright's own browser download is not used — ``executable_path`` points at the system's, or at
``$UCS_LITE_CHROMIUM``); it skips with the reason where either is missing.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "03_crafting_cluster_noise"
#: notebook 03 at a tiny size: what the browser must show does not depend on the size
TINY = {"profile": "cpu-quick", "overrides": {"n_train": 600, "n_test": 300, "epochs": 1, "steps": 3}}
RUN_TIMEOUT_S = 20 * 60


def _chromium() -> str | None:
    """The Chromium to drive: ``$UCS_LITE_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH."""
    for candidate in (os.environ.get("UCS_LITE_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _requirements() -> str | None:
    """Why the browser test cannot run here, or ``None``."""
    if os.environ.get("UCS_LITE_BROWSER") != "1":
        return "opt-in: make test-browser (UCS_LITE_BROWSER=1) runs it"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'Playwright for Python is not installed (pip install -e ".[browser]")'
    if _chromium() is None:
        return "no Chromium binary (apt-get install chromium, or set UCS_LITE_CHROMIUM)"
    return None


pytestmark = pytest.mark.skipif(_requirements() is not None, reason=_requirements() or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parameterised_copy(folder: Path) -> Path:
    """Notebook 03 with the tiny parameters injected (papermill, not executed)."""
    import papermill as pm

    out = folder / f"{NOTEBOOK}.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb"), str(out), parameters=TINY,
                        prepare_only=True, progress_bar=False)
    return out


def _lab_settings(folder: Path) -> Path:
    """A JupyterLab settings folder that renders every cell (no windowing), so all prompts are in the page."""
    tracker = folder / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    return folder


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free localhost port with a token, serving a folder with the parameterised notebook;
    yields ``(base_url, token, notebook_name)``."""
    work = tmp_path / "work"
    work.mkdir()
    nb_path = _parameterised_copy(work)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "UCS_LITE_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "JUPYTERLAB_SETTINGS_DIR": str(_lab_settings(tmp_path / "lab-settings")),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"), "UCS_LITE_STRICT": ""}
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                             "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={work}"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
                time.sleep(1)
        yield base, token, nb_path.name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _prompts(page) -> list[str]:
    return page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()


def _run_all_and_wait(page) -> float:
    """Run > Run All Cells, then wait until every code cell shows an execution count; returns the seconds."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
    t0 = time.time()
    while True:
        prompts = [p.strip() for p in _prompts(page)]
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return time.time() - t0
        if time.time() - t0 > RUN_TIMEOUT_S:
            pytest.fail(f"notebook still running after {RUN_TIMEOUT_S} s: prompts {prompts}")
        time.sleep(3)


def _error_outputs(page) -> list[str]:
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return [t[:500] for t in texts if re.search(r"Traceback \(most recent call last\)|^-{30,}", t, re.M)]


def _drag(page, handle, pixels: int) -> None:
    """Drag a slider handle ``pixels`` to the right (negative: left) with the mouse, as a person would."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=12)
    page.mouse.up()


def _eps_and_psnr(text: str) -> tuple[int, float]:
    """``(ε·255, PSNR dB)`` from the slider's caption ``ε = 8/255: PSNR 38.1 dB, ...``."""
    m = re.search(r"ε = (\d+)/255: PSNR ([\d.]+|inf) dB", text)
    assert m, f"no ε / PSNR in the slider's text {text!r}"
    return int(m.group(1)), float(m.group(2))


def test_notebook_03_runs_in_jupyterlab_and_its_eps_slider_redraws(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token, name = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{name}?token={token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
            page.wait_for_timeout(3000)  # the kernel starts
            seconds = _run_all_and_wait(page)
            page.screenshot(path=str(tmp_path / "after-run.png"), full_page=False)
            assert _error_outputs(page) == [], "a cell raised in JupyterLab"
            box = page.locator(".widget-vbox", has=page.locator(".widget-hslider", has_text="ε (/255)")).first
            box.scroll_into_view_if_needed()
            info = box.locator(".widget-html", has_text="PSNR").first
            image = box.locator(".widget-image").first
            before_text, before_png = info.inner_text(), image.screenshot()
            eps_before, psnr_before = _eps_and_psnr(before_text)
            _drag(page, box.locator(".noUi-handle").first, 150)  # to a larger ε
            deadline = time.time() + 60
            while info.inner_text() == before_text and time.time() < deadline:
                page.wait_for_timeout(500)
            after_text = info.inner_text()
            page.wait_for_timeout(1000)
            after_png = image.screenshot()
            page.screenshot(path=str(tmp_path / "after-drag.png"))
        finally:
            browser.close()
    print(f"[browser] Run All took {seconds:.0f} s; slider: {before_text!r} -> {after_text!r}")
    eps_after, psnr_after = _eps_and_psnr(after_text)
    assert eps_after > eps_before, (before_text, after_text)
    assert psnr_after < psnr_before, "a larger ε must give a lower PSNR"
    assert after_png != before_png, "the protected images must be redrawn"


def test_an_executed_lesson_opens_in_the_book_with_its_figures_drawn(tmp_path):
    """``make book`` from the shipped lessons (nothing executed), then lesson 05 in Chromium: its plotly figures are
    drawn from their JSON by the one plotly.js the site ships, and a widget shows its static view."""
    from playwright.sync_api import sync_playwright

    lessons = ROOT / "lessons"
    if not list(lessons.glob("05_*.ipynb")):
        pytest.skip("lessons/ holds no executed lesson 05 (make lessons)")
    pytest.importorskip("myst_nb", reason='the book extra is not installed (pip install -e ".[book]")')
    out = tmp_path / "book"
    t0 = time.time()
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"), "--lessons", str(lessons), "--out",
                    str(out)], check=True, cwd=ROOT)
    built = time.time() - t0
    page_path = out / "05_countermeasures.html"
    assert page_path.is_file()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(page_path.as_uri())
            page.wait_for_selector(".plotly .main-svg", timeout=30_000)
            figures = page.locator(".js-plotly-plot").count()
            bars = page.locator(".js-plotly-plot .barlayer .point").count()
            static = page.get_by_text("static view of an interactive widget").count()
            page.screenshot(path=str(tmp_path / "book-05.png"), full_page=True)
        finally:
            browser.close()
    print(f"[browser] book built in {built:.1f} s; lesson 05: {figures} plotly figures drawn, {bars} bars, "
          f"{static} widget static views")
    assert built < 60, "make book must not execute anything"
    assert figures >= 2 and bars > 0, "the lesson's plotly figures must be drawn from their JSON"
    assert static >= 1, "a widget must show its static view"
