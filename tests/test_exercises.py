"""Every exercise check against a correct solution, a wrong one and an untouched stub; checks never raise.
Also: each notebook has a coding exercise with its check cell, and no prediction is answered before it is asked."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ucs_lite import exercises as E
from ucs_lite.defenses import transform_images

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _stub(*args):
    """What an untouched exercise cell defines: a body of `...`."""
    ...


def _raises_stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------------------------------- solutions


def removed_ok(clean, protected, chance):
    return (clean - protected) / (clean - chance)


def removed_wrong(clean, protected, chance):
    return (clean - protected) / clean


def ceiling_ok(groups, labels):
    return sum(np.bincount(labels[groups == g]).max() for g in np.unique(groups)) / len(labels)


def ceiling_wrong(groups, labels):
    return len(np.unique(groups)) / len(np.unique(labels))


def _entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def pc_ok(table):
    table = np.asarray(table, float)
    purity = table.max(axis=1).sum() / table.sum()
    h_k = _entropy(table.sum(axis=1))
    h_k_given_c = sum(table[:, c].sum() / table.sum() * _entropy(table[:, c]) for c in range(table.shape[1]))
    return purity, (1.0 if h_k == 0 else 1 - h_k_given_c / h_k)


def pc_wrong(table):  # homogeneity instead of completeness
    table = np.asarray(table, float)
    purity = table.max(axis=1).sum() / table.sum()
    h_c = _entropy(table.sum(axis=0))
    h_c_given_k = sum(table[k].sum() / table.sum() * _entropy(table[k]) for k in range(table.shape[0]))
    return purity, 1 - h_c_given_k / h_c


def patterns_ok(groups, size, eps, seed):
    rng = np.random.default_rng(seed)
    return eps * np.sign(rng.standard_normal((groups, 3, *size)))


def patterns_wrong(groups, size, eps, seed):  # twice the budget
    return 2 * patterns_ok(groups, size, eps, seed)


def judge_ok(clean, peaks, chance):
    return min((clean - p) / (clean - chance) for p in peaks)


def judge_wrong(clean, peaks, chance):  # the best seed
    return max((clean - p) / (clean - chance) for p in peaks)


def survival_ok(clean, protected, spec):
    d = protected.astype(np.float32) - clean.astype(np.float32)
    out = transform_images(protected, spec).astype(np.float32) - transform_images(clean, spec).astype(np.float32)
    return float(np.mean((out * d).reshape(len(d), -1).sum(1) / (d ** 2).reshape(len(d), -1).sum(1)))


def survival_wrong(clean, protected, spec):  # forgets to transform the clean image
    d = protected.astype(np.float32) - clean.astype(np.float32)
    out = transform_images(protected, spec).astype(np.float32) - clean.astype(np.float32)
    return float(np.mean((out * d).reshape(len(d), -1).sum(1) / (d ** 2).reshape(len(d), -1).sum(1)))


CASES = [(E.check_removed, removed_ok, removed_wrong), (E.check_shortcut_ceiling, ceiling_ok, ceiling_wrong),
         (E.check_purity_completeness, pc_ok, pc_wrong), (E.check_pattern_family, patterns_ok, patterns_wrong),
         (E.check_worst_removed, judge_ok, judge_wrong), (E.check_survival, survival_ok, survival_wrong)]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("check,ok,wrong", CASES, ids=IDS)
def test_check_correct_wrong_untouched(check, ok, wrong, capsys):
    assert check(ok).startswith(E.CORRECT)
    assert capsys.readouterr().out.strip().startswith(E.CORRECT)  # it prints its verdict, too
    bad = check(wrong, quiet=True)
    assert bad.startswith("not yet:") and len(bad) > 30, bad  # says what is wrong
    assert check(_stub, quiet=True) == E.NOT_ATTEMPTED
    assert check(_raises_stub, quiet=True) == E.NOT_ATTEMPTED
    assert check(None, quiet=True) == E.NOT_ATTEMPTED


@pytest.mark.parametrize("check", [c[0] for c in CASES], ids=IDS)
def test_check_never_raises(check):
    def broken(*args):
        return {}["key"]

    def garbage(*args):
        return "a string"

    assert check(broken, quiet=True).startswith("your function raised KeyError")
    out = check(garbage, quiet=True)
    assert out not in (E.CORRECT, E.NOT_ATTEMPTED) and not out.startswith(E.CORRECT)


def test_hints_name_the_usual_mistakes():
    assert "best seed" in E.check_worst_removed(judge_wrong, quiet=True)
    assert "homogeneity" in E.check_purity_completeness(pc_wrong, quiet=True)
    assert "above ε" in E.check_pattern_family(patterns_wrong, quiet=True)


def test_widgets_precompute_and_react():
    pd = pytest.importorskip("pandas")
    sweep = pd.DataFrame([{"p": p, "labels": "fine", "purity": 0.3 + p / 100, "completeness": 0.8 - p / 100,
                           "nmi": 0.5 - abs(p - 10) / 100} for p in (2, 5, 10, 20, 50)])
    w = E.p_slider(sweep)
    assert w.best == {"purity": 50, "completeness": 2, "nmi": 10}
    before = w.info.value
    w.slider.value = 50
    assert "p = 50" in w.info.value and w.info.value != before
    assert "static view" in w._repr_mimebundle_()["text/html"]

    rng = np.random.default_rng(0)
    clean = rng.integers(40, 216, size=(8, 32, 32, 3)).astype(np.uint8)
    noise = np.kron(rng.choice([-16, 16], size=(8, 8, 8, 1)), np.ones((1, 4, 4, 3))).astype(np.int16)
    prot = np.clip(clean.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    j = E.jpeg_quality_slider(clean, {"blocks": prot}, qualities=(10, 90), stored={"stored": {10: 0.5}})
    assert j.shares["blocks"][90] > j.shares["blocks"][10]  # a milder JPEG keeps more of δ
    assert "stored 10k study" in j.info.value
    j.slider.value = 90
    assert "quality 90" in j.info.value and "stored 10k study" not in j.info.value


# ---------------------------------------------------------------------------------------- the notebooks


def _cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"], c.get("metadata", {}))
            for c in nb["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_a_coding_exercise_with_a_check_and_a_hidden_answer(path):
    cells = _cells(path)
    checks = [i for i, (t, s, _) in enumerate(cells) if t == "code" and re.search(r"\bcheck_\w+\(", s)]
    assert checks, f"{path.name}: no check cell (ucs_lite.exercises.check_*)"
    # the exercise stub the check reads comes before it, and a hidden answer cell after it
    assert any(t == "code" and "..." in s and i < checks[0] for i, (t, s, _) in enumerate(cells)), path.name
    hidden = [i for i, (t, s, m) in enumerate(cells) if m.get("jupyter", {}).get("source_hidden") and i > checks[0]]
    assert hidden, f"{path.name}: the answer to the coding exercise is not in a collapsed cell"


PREDICT = re.compile(r"\*\*Predict before you run\.?\*\*")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_predict_then_run(path):
    """Every prediction prompt is followed, before the next markdown cell, by a code cell (the measurement),
    and the markdown above a prompt (from the previous code cell on) gives no measured number away: no
    generated marker and no decimal number between the last code cell and the prompt."""
    cells = _cells(path)
    prompts = [i for i, (t, s, _) in enumerate(cells) if t == "markdown" and PREDICT.search(s)]
    assert prompts, f"{path.name}: no prediction prompt"
    for i in prompts:
        assert i + 1 < len(cells) and cells[i + 1][0] == "code", f"{path.name} cell {i}: no measuring cell follows"
        j = i
        while j > 0 and cells[j - 1][0] == "markdown":
            j -= 1
        before = "\n".join(s for _, s, _ in cells[j:i]) + "\n" + PREDICT.split(cells[i][1])[0]
        assert "<!-- generated:" not in before, f"{path.name} cell {i}: a stored number sits right above the prediction"
    # objectives say what students will be able to do, not the result: no measured number in "What you will learn"
    intro = cells[0][1]
    if "**What you will learn**" in intro:
        learn = intro.split("**What you will learn**", 1)[1].split("**Time", 1)[0]
        assert not re.search(r"\b0\.\d{2,}\b", learn), f"{path.name}: a measured number in the objectives"


GIVEAWAYS = ("protected far more", "1 image in 5", "has the best worst case", "lost to JPEG 10", "is not the\n   one that protects")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_placeholder_or_known_giveaway_in_markdown(path):
    """No literal '{p}'-style placeholder in markdown (it is not an f-string), and none of the phrases issue 34
    found answering a prediction in the intro, before the first prediction is asked."""
    cells = _cells(path)
    first_prompt = next(i for i, (t, s, _) in enumerate(cells) if t == "markdown" and PREDICT.search(s))
    for i, (kind, src, _) in enumerate(cells):
        if kind != "markdown":
            continue
        prose = re.sub(r"`[^`]*`", "", src)
        assert not re.search(r"\{[A-Za-z_][A-Za-z0-9_]*\}", prose), (path.name, src[:200])
        if i <= first_prompt:  # the intro and what precedes the first prediction
            text = PREDICT.split(src)[0] if i == first_prompt else src
            for phrase in GIVEAWAYS:
                assert phrase not in text, (path.name, phrase)


def test_notebook_markers_match_the_stored_results():
    """Every generated marker in the notebooks' markdown holds what tools/docs_tables.py would write (what
    `make check-docs` checks once the engine scans notebooks)."""
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import docs_tables as D
    D.load_plugins()
    results = D.Results()
    stale = []
    for path in NOTEBOOKS:
        for kind, src, _ in _cells(path):
            if kind != "markdown":
                continue
            for m in D.MARKER.finditer(src):
                gen = D.REGISTRY[m.group("name")]
                if gen.inline and m.group("body") != gen.fn(results):
                    stale.append((path.name, m.group("name"), m.group("body"), gen.fn(results)))
    assert not stale, stale
