"""The demo's report, the report helpers, claim margins and figures that survive an HTML export."""
import html
import json
import re

import numpy as np
import pytest

from ucs_lite.metrics import removed

from ucs_lite import report as R
from ucs_lite.data import Bundle, save_npz
from ucs_lite.notebooks import Claims, keep_static_views


def test_png_data_uri_roundtrip():
    import base64
    import io

    from PIL import Image

    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    uri = R.png_data_uri(img, scale=2)
    assert uri.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert back.shape == (10, 14, 3) and np.array_equal(back[::2, ::2], img)
    with pytest.raises(ValueError):
        R.png_bytes(img.astype(np.float32))


def test_html_table_formats_and_escapes():
    t = R.html_table([{"a": "<x>", "b": 0.12345, "c": None}], [("a", "A", None), ("b", "B", None), ("c", "C", None)])
    assert "&lt;x&gt;" in t and "0.123" in t and "—" in t


def test_claims_record_margins_and_enforce():
    c = Claims(enforce=False)
    assert c.at_least(0.5, 0.3, "up") and c.at_most(0.2, 0.25, "down")
    assert not c.at_least(0.1, 0.3, "fails")
    assert c.margins == {"up": 0.2, "down": 0.05, "fails": -0.2}
    assert c.failed == ["fails"]
    c.report()  # not enforced: prints only
    with pytest.raises(AssertionError, match="fails"):
        strict = Claims(enforce=True)
        strict.at_least(0.1, 0.3, "fails")
        strict.report()


def test_keep_static_views_drops_live_widget_part(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("w")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
        "text/html": "<img>", "text/plain": "VBox()"}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "y", "version_major": 2, "version_minor": 0},
            "text/plain": "other widget without a static view"})]
    nb.cells = [cell]
    p = tmp_path / "n.ipynb"
    nbformat.write(nb, str(p))
    assert keep_static_views(p) == 1
    outs = nbformat.read(str(p), as_version=4).cells[0].outputs
    assert "application/vnd.jupyter.widget-view+json" not in outs[0]["data"] and "text/html" in outs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in outs[1]["data"]


def test_widgets_carry_a_static_view():
    from ucs_lite import viz

    w = viz.eps_slider(np.zeros((3, 32, 32, 3), np.uint8), np.full((2, 3, 8, 8), 0.01, np.float32),
                       np.array([0, 1, 0]), 16 / 255)
    data = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"].count("data:image/png;base64,") == 1 and "ε = 16/255" in data["text/html"]


def test_renderer_outside_colab_keeps_html():
    import plotly.io as pio

    from ucs_lite.viz import configure_renderer

    before = pio.renderers.default
    try:
        assert configure_renderer() == "plotly_mimetype+notebook"
        bundle = pio.renderers._build_mime_bundle(__import__("plotly.graph_objects").graph_objects.Figure().to_dict())
        assert "text/html" in bundle and "application/vnd.plotly.v1+json" in bundle
    finally:
        pio.renderers.default = before


def test_demo_writes_an_offline_report(sample, tmp_path, one_thread):
    from ucs_lite.demo import run_demo

    small = Bundle(sample.train.balanced_subset(120, seed=0), sample.test.balanced_subset(60, seed=0))
    src = tmp_path / "small.npz"
    save_npz(small, src)
    out = run_demo(data=str(src), out_root=str(tmp_path / "runs"), epochs=1, surrogate="tiny", progress=False)
    res = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in res["rows"]] == ["clean", "random-class@fine", "random-class@coarse", "gen-cluster"]
    assert res["n_train"] == 120 and res["n_test"] == 60
    clean = res["rows"][0]
    for r in res["rows"]:
        assert 0.0 <= r["peak"] <= 1.0 and r["chance"] == pytest.approx(0.1) and r["clean_peak"] == clean["peak"]
        if r["method"] != "clean":
            want = removed(clean["peak"], r["peak"], r["chance"])  # NaN when clean is not above chance by the floor
            assert (np.isnan(want) and np.isnan(r["removed"])) or r["removed"] == pytest.approx(want)
    # sentences are written from the measured numbers
    assert f"{clean['peak']:.1%}" in res["sentences"][0]
    assert f"{res['rows'][1]['peak']:.1%}" in res["sentences"][1]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4  # clean + three protected strips
    assert "Plotly.newPlot" in page  # the accuracy curves, drawn by inlined plotly.js
    assert not re.search(r'<script[^>]+src=', page), "no external scripts: the page must open offline"
    assert not re.search(r'<(img|script|link|iframe)[^>]*(src|href)="https?://', page), "no external resources"
    for s in res["sentences"]:
        assert html.escape(s) in page


def test_demo_verdict_is_this_runs_difference_against_the_measured_spread():
    from ucs_lite.demo import demo_sentences, is_clear

    rows = {"clean": {"test_acc_peak": 0.6, "chance": 0.1}, "random-class@fine": {"test_acc_peak": 0.3, "chance": 0.1},
            "random-class@coarse": {"test_acc_peak": 0.5, "chance": 0.1},
            "gen-cluster": {"test_acc_peak": 0.55, "chance": 0.1}}
    ref = {"demo": {"seeds": "0-2", "differences": {"clean_vs_gen_cluster": {"mean": 0.3, "spread": 0.03}}}}
    # a large stored mean does not make this run's small drop (0.05 < 2 × 0.03? no: 0.05 < 0.06) an effect
    assert "not a clear drop" in demo_sentences(rows, ref)[-1]
    strong = {**rows, "gen-cluster": {"test_acc_peak": 0.3, "chance": 0.1}}
    assert "a clear drop" in demo_sentences(strong, ref)[-1] and "not a clear" not in demo_sentences(strong, ref)[-1]
    assert is_clear(0.07, {"spread": 0.03}) and not is_clear(0.05, {"spread": 0.03})
    assert not is_clear(-0.2, {"spread": 0.0})  # never a negative difference
    assert is_clear(0.04, None) and not is_clear(0.02, None)  # no measured spread: the plain gap
    # a stored difference measured at one seed has no spread (None): judged by the plain gap, and said without one
    one_seed = {"demo": {"seeds": "0-0", "differences": {"clean_vs_gen_cluster": {"mean": 0.3, "spread": None}}}}
    assert is_clear(0.04, {"spread": None}) and not is_clear(0.02, {"spread": None})
    assert "spread at this size" not in demo_sentences(rows, one_seed)[-1]
    plain = demo_sentences(rows)
    assert "60.0%" in plain[0] and "took away 60%" in plain[1]  # 0.3 removed of 0.5 above chance
    assert "loses much of its effect" in plain[2]
    # the wording follows the numbers: no drop, no claim of one
    flat = {**rows, "random-class@fine": {"test_acc_peak": 0.59, "chance": 0.1},
            "random-class@coarse": {"test_acc_peak": 0.6, "chance": 0.1}}
    s = demo_sentences(flat)
    assert "no clear drop" in s[1] and "not clearly above" in s[2]
