"""Issue 15: the chance-normalised protection figure and multi-granularity noise (random-multi)."""
import math

import numpy as np
import pandas as pd
import pytest

from ucs_lite.metrics import removed, worst_removed
from ucs_lite.noise import apply, craft
from ucs_lite.noise.multi import compose_levels, craft_random_multi, default_levels, hierarchy_levels, multi_levels
from ucs_lite.noise.patterns import random_patterns


def test_removed_values():
    assert removed(0.5, 0.5, 0.1) == 0.0
    assert removed(0.5, 0.1, 0.1) == 1.0
    assert removed(0.5, 0.3, 0.1) == pytest.approx(0.5)
    assert removed(0.5, 0.6, 0.1) == pytest.approx(-0.25)  # the noise helped the attacker
    assert math.isnan(removed(0.1, 0.05, 0.1))  # clean at chance: nothing to remove
    assert math.isnan(removed(float("nan"), 0.2, 0.1))


def test_worst_removed_is_min_over_seeds():
    assert worst_removed([0.5, 0.6], [0.1, 0.4], 0.1) == pytest.approx(0.4)  # (0.6-0.4)/0.5 < 1
    assert math.isnan(worst_removed(0.5, [0.3, 0.2, float("nan")], 0.1))  # a missing seed: worst unknown (issue 22)
    assert math.isnan(worst_removed([0.1], [0.1], 0.1))


def test_worst_case_carries_worst_removed():
    from ucs_lite.experiment import worst_case

    df = pd.DataFrame({"method": ["uc"] * 4, "built_from": ["—"] * 4, "labels": ["fine"] * 4,
                       "defense": ["none", "none", "jpeg:10", "jpeg:10"], "seed": [0, 1, 0, 1],
                       "test_acc_peak": [0.2, 0.25, 0.3, 0.22], "test_acc_final": [0.2, 0.2, 0.3, 0.2],
                       "removed_peak": [0.8, 0.7, 0.5, 0.75], "removed_final": [0.8, 0.8, 0.5, 0.8]})
    w = worst_case(df)
    assert len(w) == 1 and w.loc[0, "worst_defense"] == "jpeg:10"
    assert w.loc[0, "worst_removed_peak"] == pytest.approx(0.5)
    assert "worst_removed_peak" not in worst_case(df.drop(columns=["removed_peak", "removed_final"]))


def test_compare_has_removed_columns(sample, monkeypatch):
    from ucs_lite import experiment
    from ucs_lite.data import Bundle

    acc = {"clean": 0.6, "random-class": 0.2}

    def fake_eval(b, view, cfg, progress=True, refresh=False):
        a = acc[b.meta().get("method", "clean")] + 0.01 * cfg.seed
        return {"labels": view, "n_classes": 10, "chance": 0.1, "test_acc_final": a, "test_acc_peak": a,
                "test_acc_valsel": a, "seconds": 0.0}

    monkeypatch.setattr(experiment.cache, "evaluate", fake_eval)
    small = Bundle(sample.train.balanced_subset(40, seed=0), sample.test.balanced_subset(20, seed=0))
    df = experiment.compare(small, ["clean", "random-class"], ["fine"], seeds=[0, 1], progress=False,
                            device="cpu")
    rc = df[df.method == "random-class"].sort_values("seed")
    assert np.allclose(rc.removed_peak, [0.8, (0.61 - 0.21) / 0.51])
    assert np.allclose(df[df.method == "clean"].removed_peak, 0.0)


def _codes(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 3, n), rng.integers(0, 7, n)]


@pytest.mark.parametrize("compose", ["sum", "spatial", "channel"])
def test_random_multi_bound_exact_shapes_and_seeded(compose):
    eps = 8 / 255
    lev = _codes()
    a = craft_random_multi(lev, (16, 16), eps, seed=3, compose=compose)
    b = craft_random_multi(lev, (16, 16), eps, seed=3, compose=compose)
    assert np.array_equal(a.delta, b.delta) and np.array_equal(a.assignment, b.assignment)
    assert not np.array_equal(a.delta, craft_random_multi(lev, (16, 16), eps, seed=4, compose=compose).delta)
    assert a.delta.shape[1:] == (3, 16, 16) and a.assignment.shape == (60,)
    codes = np.array(a.meta["codes"])
    assert a.groups == len(np.unique(np.stack(lev, 1), axis=0)) == len(codes)
    assert np.array_equal(codes[a.assignment], np.stack(lev, 1))  # every image keeps its code at each level
    # exact bound: reached, never exceeded
    assert np.abs(a.delta).max() == pytest.approx(eps, abs=1e-7) and np.abs(a.delta).max() <= eps + 1e-7
    x = np.random.default_rng(0).integers(0, 256, (60, 16, 16, 3), dtype=np.uint8)
    assert np.abs(apply(x, a).astype(int) - x).max() <= 8 + 1


def test_sum_keeps_each_level_readable():
    """With ``sum`` each level's pattern is recoverable: images that share the fine code but differ in the
    coarse one differ exactly by the coarse patterns' difference (and vice versa)."""
    eps = 16 / 255
    lev = [np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])]
    pert = craft_random_multi(lev, (8, 8), eps, seed=0, compose="sum")
    d = pert.delta[pert.assignment]
    p0 = random_patterns(2, (8, 8), eps, 0)
    p1 = random_patterns(2, (8, 8), eps, 1000)
    assert np.allclose(d[1] - d[0], 0.5 * (p0[1] - p0[0]), atol=1e-6)
    assert np.allclose(d[2] - d[0], 0.5 * (p1[1] - p1[0]), atol=1e-6)
    assert set(np.round(np.unique(d) / eps, 5)) <= {-1.0, 0.0, 1.0}


def test_compose_checks():
    pats = [random_patterns(2, (4, 4), 0.1, s) for s in range(4)]
    codes = np.zeros((1, 4), np.int64)
    with pytest.raises(ValueError, match="at most 3"):
        compose_levels(pats, codes, "channel")
    with pytest.raises(ValueError, match="unknown composition"):
        compose_levels(pats, codes, "stack")
    with pytest.raises(ValueError, match="summing to 1"):
        compose_levels(pats[:2], codes[:, :2], "sum", weights=[0.7, 0.7])
    spatial = compose_levels(pats[:2], codes[:, :2], "spatial")
    assert np.array_equal(spatial[0, :, :2], pats[0][0, :, :2]) and np.array_equal(spatial[0, :, 2:], pats[1][0, :, 2:])


def test_levels_independent_and_nested():
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(c, 0.3, (20, 5)) for c in range(6)]).astype(np.float32)
    a = multi_levels(feats, (2, 6), seed=0)
    assert [len(np.unique(x)) for x in a] == [2, 6] and all(x.shape == (120,) for x in a)
    h = hierarchy_levels(feats, (6, 2), seed=0)
    assert [len(np.unique(x)) for x in h] == [6, 2]
    for k in np.unique(h[0]):  # nested: every fine cluster lies in one coarse cluster
        assert len(np.unique(h[1][h[0] == k])) == 1
    with pytest.raises(ValueError, match="distinct integers"):
        multi_levels(feats, (2, 2))
    with pytest.raises(ValueError, match="distinct integers"):
        multi_levels(feats, (2, 500))
    assert default_levels(10, 10_000) == (10, 100) and default_levels(10, 50) == (10, 50)


def test_random_multi_through_craft(sample):
    from ucs_lite.data import Bundle

    small = Bundle(sample.train.balanced_subset(80, seed=0), sample.test.balanced_subset(10, seed=0))
    kw = dict(eps=16 / 255, seed=0, surrogate="tiny", p=3, device="cpu", progress=False)
    pert = craft("random-multi", small.train, clusters=(3, 12), hierarchy=True, **kw)
    codes = np.array(pert.meta["codes"])
    assert pert.meta["levels"] == [3, 12] and pert.groups == 12  # nested: tuples = finest clusters
    for k in range(12):
        assert len(np.unique(codes[codes[:, 1] == k, 0])) == 1
    default = craft("random-multi", small.train, **kw)
    assert default.meta["clusters"] == [3, 30]


def test_removed_matrix_takes_the_worst_seed_in_the_given_order():
    from ucs_lite import viz

    rows = [{"noise": "a", "view": "fine", "removed_peak": 0.5}, {"noise": "a", "view": "fine", "removed_peak": 0.3},
            {"noise": "b", "view": "coarse", "removed_peak": 0.9}, {"noise": "a", "view": "coarse", "removed_peak": 0.1}]
    fig = viz.removed_matrix(rows, row_order=["b", "a"], col_order=["fine", "coarse"])
    z = np.asarray(fig.data[0].z, float)
    assert np.isnan(z[0, 0]) and z[0, 1] == 0.9 and z[1, 0] == 0.3 and z[1, 1] == 0.1


def test_removed_bars_draws_the_worst_seed_per_noise_and_view():
    from ucs_lite import viz

    rows = [{"noise": "a", "view": "fine", "removed_peak": 0.6}, {"noise": "a", "view": "fine", "removed_peak": 0.4},
            {"noise": "b", "view": "fine", "removed_peak": 0.2}, {"noise": "c", "view": "fine", "removed_peak": None}]
    fig = viz.removed_bars(rows, order=["b", "a"])
    (bars,) = fig.data
    assert list(bars.x) == ["b", "a"] and list(bars.y) == [0.2, 0.4]
