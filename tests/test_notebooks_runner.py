"""run_notebooks (papermill + summary), the notebook helpers and the viz module. Kernels start in a few
seconds; the notebooks themselves run under ``pytest --nbval-lax notebooks/``."""
import json

import nbformat
import numpy as np
import pytest

from ucs_lite import notebooks as nbmod
from ucs_lite import viz


def _write_nb(path, cells):
    nb = nbformat.v4.new_notebook()
    for src, tags in cells:
        c = nbformat.v4.new_code_cell(src)
        if tags:
            c.metadata["tags"] = tags
        nb.cells.append(c)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def nb_dir(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    _write_nb(d / "00_tiny.ipynb", [
        ('epochs = 5\nlabel = "default"', ["parameters"]),
        ("from ucs_lite import viz\nviz.record('epochs_seen', epochs)\nviz.record('label', label)\n"
         "viz.record('acc', 0.123456)", None),
    ])
    _write_nb(d / "01_broken.ipynb", [
        ("epochs = 5", ["parameters"]),
        ("from ucs_lite import viz\nviz.record('before_error', 1)\nraise ValueError('boom at epoch %d' % epochs)", None),
    ])
    return d


def test_run_notebooks_override_executed_copy_and_summary(nb_dir, tmp_path):
    out_root = tmp_path / "runs"
    s = nbmod.run_notebooks(["00"], params={"epochs": 2, "unknown_param": 1}, out_root=out_root,
                            notebook_dir=nb_dir, progress=False)
    assert [r["name"] for r in s["notebooks"]] == ["00_tiny"]
    r = s["notebooks"][0]
    assert r["ok"] and r["error"] is None
    assert r["numbers"] == {"epochs_seen": 2, "label": "default", "acc": 0.123456}
    assert r["params"] == {"epochs": 2} and r["ignored_params"] == ["unknown_param"]
    out_dir = tmp_path / "runs" / s["started"]
    assert out_dir.is_dir() and str(out_dir) == s["out_dir"]
    executed = nbformat.read(out_dir / "00_tiny.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code")
    on_disk = json.loads((out_dir / "summary.json").read_text())
    assert on_disk["notebooks"][0]["numbers"]["epochs_seen"] == 2
    md = (out_dir / "summary.md").read_text()
    assert "| 00_tiny | yes |" in md and "epochs_seen = 2" in md and "acc = 0.123" in md


def test_run_notebooks_records_failures_and_continues(nb_dir, tmp_path):
    s = nbmod.run_notebooks(None, params={"epochs": 3}, out_root=tmp_path / "runs", notebook_dir=nb_dir,
                            progress=False)
    by = {r["name"]: r for r in s["notebooks"]}
    assert set(by) == {"00_tiny", "01_broken"}
    assert by["00_tiny"]["ok"] and not by["01_broken"]["ok"]
    assert "boom at epoch 3" in by["01_broken"]["error"]
    assert by["01_broken"]["numbers"] == {"before_error": 1}
    assert "**no**" in (tmp_path / "runs" / s["started"] / "summary.md").read_text()


def test_find_notebooks_names_and_errors(nb_dir):
    assert [p.stem for p in nbmod.find_notebooks(None, nb_dir)] == ["00_tiny", "01_broken"]
    assert nbmod.find_notebooks(["01_broken.ipynb"], nb_dir)[0].stem == "01_broken"
    with pytest.raises(FileNotFoundError, match="no match"):
        nbmod.find_notebooks(["99"], nb_dir)
    with pytest.raises(FileNotFoundError, match="ambiguous"):
        nbmod.find_notebooks(["0"], nb_dir)


def test_repository_notebooks_are_parameterised_and_stripped():
    import papermill as pm

    files = nbmod.find_notebooks()
    assert [p.stem for p in files] == list(nbmod.NOTEBOOKS)
    for p in files:
        nb = nbformat.read(p, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), p.name
        declared = pm.inspect_notebook(str(p))
        assert declared["device"]["default"] == '"auto"' and declared["profile"]["default"] == '"cpu-quick"', p.name
        assert all(not c.outputs and c.execution_count is None for c in code), f"{p.name} has outputs"
        assert "colab.research.google.com" in nb.cells[0].source, p.name
        assert "UCS_LITE_SOURCE" in code[1].source and "pip" in code[1].source, p.name


def test_resolve_profiles():
    cfg = nbmod.resolve("cpu-quick", epochs=None, data="shared")
    assert cfg == {"epochs": nbmod.PROFILES["cpu-quick"]["epochs"], "data": "shared"}
    assert nbmod.resolve("gpu-paper", model=None)["model"] == "resnet18"
    with pytest.raises(ValueError, match="unknown profile"):
        nbmod.resolve("tpu", epochs=1)


def test_get_surrogate_falls_back_and_says_so(capsys):
    s, note = nbmod.get_surrogate("clip:RN50/does-not-exist.pt", device="cpu", fallback="tiny")
    assert s.name == "tiny" and "FALLBACK" in note and "clip:RN50/does-not-exist.pt" in note
    out = capsys.readouterr().out
    assert "FALLBACK" in out and "for tests only" in out


def test_claims_enforced_only_at_the_measured_size(capsys):
    c = nbmod.Claims(enforce=False)
    c.check(True, "holds", 1.0)
    c.check(False, "fails", "0.1 vs 0.2")
    assert c.report() == "1/2 hold" and c.failed == ["fails"]
    out = capsys.readouterr().out
    assert "✓ holds  [1.0]" in out and "✗ fails" in out and "not enforced" in out
    strict = nbmod.Claims(enforce=True)
    strict.check(False, "the noise protects")
    with pytest.raises(AssertionError, match="the noise protects"):
        strict.report()
    ok = nbmod.Claims(enforce=True)
    ok.check(1, "fine")
    assert ok.report() == "1/1 hold"


def test_record_writes_json(tmp_path, monkeypatch):
    target = tmp_path / "numbers.json"
    monkeypatch.setenv(viz.RECORD_ENV, str(target))
    assert viz.record("a", np.float32(0.5)) == 0.5
    viz.record("b", [np.int64(1), 2])
    assert json.loads(target.read_text()) == {"a": 0.5, "b": [1, 2]}
    assert viz.recorded()["b"] == [1, 2]


@pytest.mark.slow
def test_viz_figures_and_widgets():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    assert viz.mosaic(imgs, ncols=5, pad=1).shape == (3 * 9 + 1, 5 * 9 + 1, 3)
    eps = 16 / 255
    delta = (np.sign(rng.standard_normal((3, 3, 4, 4))) * eps).astype(np.float32)
    assign = np.arange(12) % 3
    prot = viz.protect_with_eps(imgs, delta, assign, eps, eps)
    assert np.abs(prot.astype(int) - imgs.astype(int)).max() <= 17
    assert np.array_equal(viz.protect_with_eps(imgs, delta, assign, eps, 0.0), imgs)
    d_img = viz.delta_to_image(delta, eps)
    assert d_img.dtype == np.uint8 and set(np.unique(d_img)) <= {0, 255}
    feats = rng.standard_normal((40, 6)).astype(np.float32)
    assert viz.project_2d(feats, "pca").shape == (40, 2)
    assert viz.project_2d(feats, "tsne").shape == (40, 2)
    clusters = np.arange(40) % 4
    labels = np.arange(40) % 2
    for fig in (viz.projection_scatter(viz.project_2d(feats), clusters, labels),
                viz.cluster_grid(np.repeat(imgs, 4, 0)[:40], clusters, labels, ["a", "b"], per_cluster=3),
                viz.cluster_label_heatmap(clusters, labels, ["a", "b"]),
                viz.delta_grid(delta, eps), viz.loss_curve(np.linspace(1, 0, 20)),
                viz.accuracy_curves({"clean": {"per_epoch": [{"epoch": 1, "test_acc": 0.3}], "chance": 0.1}})):
        assert fig.data or fig.layout.images or fig.layout.shapes
    w = viz.eps_slider(imgs[:3], delta, assign[:3], eps)
    png16 = w.image.value
    w.slider.value = 8
    assert "ε = 8/255" in w.info.value and w.image.value != png16 and w.image.value[:4] == b"\x89PNG"
    b = viz.cluster_browser(imgs, assign, prot, delta, eps, labels=np.arange(12) % 2, class_names=["a", "b"])
    first = b.image.value
    b.dropdown.value = 2
    assert "cluster 2" in b.info.value and b.image.value != first


def test_accuracy_bars_from_compare_table():
    import pandas as pd

    df = pd.DataFrame([
        {"method": m, "labels": v, "seed": s, "test_acc_final": a, "test_acc_peak": a + 0.05, "chance": c,
         "clean_final": 0.5, "clean_peak": 0.55}
        for m, a in (("clean", 0.5), ("uc", 0.3)) for v, c in (("fine", 0.1), ("coarse", 0.6)) for s in (0, 1)])
    fig = viz.accuracy_bars(df)
    assert len(fig.data) == 4  # final + peak for two facets
