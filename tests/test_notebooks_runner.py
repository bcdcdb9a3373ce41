"""run_notebooks (papermill + summary), the notebook helpers and the viz module. Kernels start in a few
seconds; the notebooks themselves run under ``pytest --nbval-lax notebooks/``."""
import json
import re

from pathlib import Path

import nbformat
import numpy as np
import pytest

from ucs_lite import notebooks as nbmod
from ucs_lite import viz

ROOT = Path(__file__).resolve().parent.parent


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
        assert declared["device"]["default"] == '"auto"' and declared["profile"]["default"] == '"auto"', p.name
        assert "overrides" in declared and "strict_checks" in declared, p.name
        assert all(not c.outputs and c.execution_count is None for c in code), f"{p.name} has outputs"
        assert "colab.research.google.com" in nb.cells[0].source, p.name
        assert "UCS_LITE_SOURCE" in code[1].source and "pip" in code[1].source, p.name


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_repository_notebooks_teach_and_check_in_one_place():
    """Objectives, predict-before-you-run questions, a summary, 3-5 exercises with collapsible answers, and the
    instructors' checks in one nb.finish cell at the end; the knobs are passed explicitly."""
    for p in nbmod.find_notebooks():
        nb = nbformat.read(p, as_version=4)
        text = _markdown(nb)
        heading = next((h for h in ("**What you will be able to do**", "**What you will learn**")
                        if h in nb.cells[0].source), None)
        assert heading, f"{p.name}: no objectives heading in the first cell"
        objectives = [l for l in nb.cells[0].source.split(heading)[1].split("\n\n")[1].splitlines()
                      if l[:2] in ("1.", "2.", "3.", "4.")]
        assert len(objectives) == 3, (p.name, objectives)
        assert "**Predict before you run.**" in text, p.name
        assert "\n## Summary" in "\n" + text and "\n## Exercises" in "\n" + text, p.name
        exercises = text.split("## Exercises")[1].split("\n## ")[0]
        # 3-5 exercises: numbered "**1 ·" headings (tests/test_exercises.py checks their contents) or, in the older
        # layout, one collapsed answer each
        numbered = len(re.findall(r"\*\*\d ·", exercises)) or exercises.count("<details><summary>Answer</summary>")
        assert 3 <= numbered <= 5 and "<details><summary>Answer</summary>" in exercises, p.name
        heads = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
        after = heads[heads.index("## For instructors: checks") + 1:]
        assert after in ([], ["## References"]), (p.name, after)  # the checks are the last section (before sources)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        finishing = [i for i, c in enumerate(code) if "nb.finish(" in c]
        assert len(finishing) == 1 and all("checks_table()" in c for c in code[finishing[0] + 1:] or [code[-1]]) \
            and "checks_table()" in code[-1], p.name  # nb.finish once, then only the checks table
        assert not any("viz.record(" in c or "measured = (" in c for c in code), p.name
        assert "nb.resolve(profile, overrides," in "".join(code), p.name
    nb05 = nbformat.read(nbmod.NOTEBOOK_DIR / "05_countermeasures.ipynb", as_version=4)
    robust = _markdown(nb05).split("Countermeasure-robust patterns")[1].split("\n## ")[0]
    assert "jpeg-cluster" in robust and "docs/countermeasures.md" in robust
    assert 'nb.stored_benchmark("countermeasures")' in "".join(c.source for c in nb05.cells if c.cell_type == "code")
    nb00 = _markdown(nbformat.read(nbmod.NOTEBOOK_DIR / "00_quickstart.ipynb", as_version=4))
    for term in ("peak vs final", "chance", "removed", "PSNR", "SSIM", "purity", "NMI", "completeness", "shortcut"):
        assert f"**{term}**" in nb00, term


def test_label_free_story_is_gen_cluster_beside_uc():
    import papermill as pm

    methods = pm.inspect_notebook(str(nbmod.NOTEBOOK_DIR / "04_label_agnostic_evaluation.ipynb"))["methods"]["default"]
    assert '"gen-cluster"' in methods and '"uc"' in methods
    # 05 (countermeasures) trains gen-cluster beside the JPEG-robust tile; uc is one parameter away (a lesson's time)
    methods = pm.inspect_notebook(str(nbmod.NOTEBOOK_DIR / "05_countermeasures.ipynb"))["methods"]["default"]
    assert '"gen-cluster"' in methods and '"jpeg-cluster"' in methods
    for name in ("00_quickstart", "03_crafting_cluster_noise"):
        src = "".join(c.source for c in nbformat.read(nbmod.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4).cells)
        assert '"gen-cluster"' in src and '"uc"' in src, name


def test_resolve_profiles():
    cfg = nbmod.resolve("cpu-quick", epochs=None, data="shared")
    assert cfg["epochs"] == nbmod.PROFILES["cpu-quick"]["epochs"] and cfg["data"] == "shared"
    assert {k: cfg[k] for k in nbmod.PROFILES["cpu-quick"] if k != "data"} == \
        {k: v for k, v in nbmod.PROFILES["cpu-quick"].items() if k != "data"}
    assert cfg["profile"] == "cpu-quick" and cfg["device"] == "cpu" and cfg["precision"] == "cpu"
    assert nbmod.resolve("gpu-paper", model=None)["model"] == "resnet18"
    cfg = nbmod.resolve("cpu-quick", {"epochs": 2}, p=20, methods=["clean", "uc"])
    assert cfg["epochs"] == 2 and cfg["p"] == 20 and cfg["methods"] == ["clean", "uc"]
    with pytest.raises(ValueError, match="unknown profile"):
        nbmod.resolve("tpu", epochs=1)
    with pytest.raises(ValueError, match="not profile values"):
        nbmod.resolve("cpu-quick", {"epoch": 2})


def test_auto_profile_follows_the_device(monkeypatch):
    monkeypatch.setattr(nbmod.STATE, "device", "cuda:0")
    monkeypatch.setattr(nbmod.STATE, "gpu", "Tesla T4")
    assert nbmod.pick_profile("auto") == "gpu-class"
    monkeypatch.setattr(nbmod.STATE, "device", "cpu")
    monkeypatch.setattr(nbmod.STATE, "gpu", None)
    assert nbmod.pick_profile("auto") == "cpu-quick" and nbmod.resolve("auto")["profile"] == "cpu-quick"
    assert nbmod.pick_profile("gpu-paper") == "gpu-paper"


def test_claims_apply_compares_every_knob(monkeypatch):
    monkeypatch.setattr(nbmod.STATE, "device", "cpu")
    measured = nbmod.measured_setup(p=10, seed=nbmod.one_of(*range(5)), methods=["clean", "uc"])
    cfg = nbmod.resolve("cpu-quick", {}, p=10, seed=3, methods=["clean", "uc"])
    assert nbmod.claims_apply(cfg, measured) == (True, [])
    assert nbmod.claims_apply(nbmod.resolve("cpu-quick", {"seeds": [4]}, p=10, seed=3, methods=["clean", "uc"]),
                              measured)[0]
    for change in ({"seed": 5}, {"p": 20}, {"methods": ["uc"]}, {"epochs": 2}, {"data": "shared"},
                   {"device": "cuda"}, {"precision": "cuda-bfloat16"}, {"profile": "gpu-class"},
                   {"seeds": [0, 1]}, {"unmeasured_knob": 1}):
        enforce, why = nbmod.claims_apply({**cfg, **change}, measured)
        assert not enforce and len(why) == 1 and why[0].startswith(next(iter(change))), (change, why)
    assert nbmod.claims_apply({**cfg, "p": 20}, measured, strict=True)[0]
    assert not nbmod.claims_apply(cfg, measured, strict=False)[0]
    assert not nbmod.claims_apply(nbmod.resolve("gpu-class", p=10, seed=3, methods=["clean", "uc"]), measured)[0]


def test_finish_enforces_only_at_the_measured_configuration(monkeypatch, capsys):
    """In strict mode ($UCS_LITE_STRICT=1, CI's nbval run) as before student mode existed (tests/test_student_mode.py
    has the student side)."""
    monkeypatch.setenv("UCS_LITE_STRICT", "1")
    monkeypatch.setattr(nbmod.STATE, "device", "cpu")
    measured = nbmod.measured_setup(p=10)
    cfg = nbmod.resolve("cpu-quick", p=10)
    c = nbmod.Claims()
    c.at_least(0.1, 0.2, "fails where measured")
    with pytest.raises(AssertionError, match="fails where measured"):
        nbmod.finish(c, cfg, measured, numbers={"x": 1})
    assert viz.recorded()["x"] == 1
    c = nbmod.Claims()
    c.at_least(0.1, 0.2, "fails elsewhere")
    assert nbmod.finish(c, {**cfg, "epochs": 2}, measured) == "0/1 hold"
    out = capsys.readouterr().out
    assert "epochs=2 (measured at 12)" in out and "reported, not enforced" in out
    c = nbmod.Claims()
    c.at_least(0.3, 0.2, "holds")
    c.at_most(0.5, 0.4, "a reported claim may fail", reported=True)
    assert nbmod.finish(c, cfg, measured) == "1/1 hold"  # reported claims never fail the notebook
    assert "never enforced" in capsys.readouterr().out
    assert viz.recorded()["reported_margins"] == {"a reported claim may fail": -0.1}


def test_stored_benchmarks_ship_with_the_package(monkeypatch, tmp_path):
    """Every stored result a notebook draws is in ucs_lite/assets/results/ (what a wheel carries), identical to
    benchmarks/results/, and nb.stored_benchmark reads it when the checkout's benchmarks/ dir is absent."""
    import re

    names = set()
    for p in nbmod.find_notebooks():
        src = "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
        names |= set(re.findall(r'stored_benchmark\("([^"]+)"\)', src))
    assert names >= {"granularity", "granularity_cifar10", "purity", "countermeasures"}
    monkeypatch.setattr(nbmod.state, "CHECKOUT_RESULTS", tmp_path / "no-checkout" / "benchmarks" / "results")
    for name in sorted(names):
        shipped = nbmod.RESULTS_ASSETS / f"{name}.json"
        assert shipped.read_bytes() == (ROOT / "benchmarks" / "results" / f"{name}.json").read_bytes(), \
            f"{shipped} differs from benchmarks/results/{name}.json: copy it again"
        assert nbmod.stored_benchmark(name) is not None, name
    assert nbmod.stored_benchmark("no_such_result") is None
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"assets/results/*.json"' in pyproject


def test_run_notebooks_folds_profile_values_into_overrides(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    _write_nb(d / "00_knobs.ipynb", [
        ("p = 10\noverrides = {}", ["parameters"]),
        ("from ucs_lite import viz\nviz.record('overrides', overrides)\nviz.record('p', p)", None),
    ])
    s = nbmod.run_notebooks(None, params={"epochs": 2, "p": 4, "n_images": 9}, out_root=tmp_path / "runs",
                            notebook_dir=d, progress=False)
    r = s["notebooks"][0]
    assert r["ok"] and r["numbers"] == {"overrides": {"epochs": 2}, "p": 4}
    assert r["ignored_params"] == ["n_images"]


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


def test_notebooks_outside_a_checkout_come_from_the_package(tmp_path, monkeypatch):
    """Without a checkout's notebooks/ the runner uses the copies a wheel carries (ucs_lite/lessons_src/, put
    there by setup.py's build_py); a folder without notebooks is one clear error."""
    from ucs_lite.notebooks import runner

    packaged = tmp_path / "lessons_src"
    packaged.mkdir()
    _write_nb(packaged / "02_clip_clustering.ipynb", [("p = 10", ["parameters"])])
    monkeypatch.setattr(runner, "CHECKOUT_NOTEBOOKS", tmp_path / "no-checkout" / "notebooks")
    monkeypatch.setattr(runner, "PACKAGED_NOTEBOOKS", packaged)
    assert runner.default_notebook_dir() == packaged
    assert [p.stem for p in nbmod.find_notebooks(["02"])] == ["02_clip_clustering"]
    with pytest.raises(FileNotFoundError, match="no notebooks .* --notebook-dir"):
        nbmod.find_notebooks(None, tmp_path / "empty")
    pyproject = (ROOT / "pyproject.toml").read_text()
    deps = pyproject.split("dependencies = [")[1].split("]")[0]
    assert all(f'"{d}' in deps for d in ("papermill", "ipykernel", "nbformat")), "the wheel alone must run notebooks"
    assert '"lessons_src/*.ipynb"' in pyproject and "lessons_src" in (ROOT / "setup.py").read_text()
    assert "include notebooks/*.ipynb" in (ROOT / "MANIFEST.in").read_text()


def test_an_uninspectable_notebook_fails_with_its_name_and_reason(tmp_path):
    """papermill's inspect error is no longer swallowed into {} (which passed every parameter): the notebook is
    recorded as failed, naming it and why, and the others still run."""
    d = tmp_path / "nbs"
    d.mkdir()
    (d / "00_broken_json.ipynb").write_text("{ this is not a notebook")
    _write_nb(d / "01_fine.ipynb", [("epochs = 5", ["parameters"]), ("x = epochs", None)])
    with pytest.raises(nbmod.NotebookInspectError, match="00_broken_json.ipynb"):
        nbmod.declared_parameters(d / "00_broken_json.ipynb")
    s = nbmod.run_notebooks(None, params={"epochs": 1}, out_root=tmp_path / "runs", notebook_dir=d, progress=False)
    by = {r["name"]: r for r in s["notebooks"]}
    assert not by["00_broken_json"]["ok"] and "could not inspect the parameters of notebook 00_broken_json" in \
        by["00_broken_json"]["error"] and by["00_broken_json"]["params"] == {}
    assert by["01_fine"]["ok"] and by["01_fine"]["params"] == {"epochs": 1}


def test_cli_notebooks_takes_a_notebook_dir(tmp_path, monkeypatch, capsys):
    from ucs_lite.cli import main

    d = tmp_path / "nbs"
    d.mkdir()
    _write_nb(d / "00_tiny.ipynb", [("epochs = 5", ["parameters"]),
                                    ("from ucs_lite.notebooks import record\nrecord('e', epochs)", None)])
    assert main(["notebooks", "00", "-p", "epochs", "2", "--notebook-dir", str(d),
                 "--out-root", str(tmp_path / "runs")]) == 0
    assert json.loads(capsys.readouterr().out)["notebooks"][0]["numbers"] == {"e": 2}
    assert main(["notebooks", "--notebook-dir", str(tmp_path / "nothing-here")]) == 2
    assert "no notebooks" in capsys.readouterr().err
