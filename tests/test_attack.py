import numpy as np
import pytest
import torch

from ucs_lite.attack import chance_rate, evaluate, random_crop_flip, resolve_view
from ucs_lite.data import Bundle, ImageSet
from ucs_lite.defenses import apply_defense, parse_defense
from ucs_lite.noise import apply
from ucs_lite.noise.random import craft_random_class


def _synth(n_per: int, seed: int, size: int = 16) -> ImageSet:
    """4 fine classes in 2 coarse groups. The group is an easy real cue (brightness ±0.15); the member
    within a group a weaker one (a fixed random texture per class, amplitude 0.08, noise σ 0.2)."""
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(123).uniform(-1, 1, (4, size, size, 3))
    y = np.repeat(np.arange(4), n_per)
    x = 0.5 + 0.15 * (2 * (y // 2) - 1)[:, None, None, None] + 0.08 * protos[y] + rng.normal(0, 0.2, (len(y), size, size, 3))
    return ImageSet(np.clip(x * 255, 0, 255).astype(np.uint8), {"fine": y, "coarse": y // 2},
                    {"fine": list("abcd"), "coarse": ["ab", "cd"]})


def test_label_views_have_right_class_counts(sample):
    assert sample.train.n_classes("fine") == 10
    assert sample.train.n_classes("coarse") == 2
    assert sample.train.n_classes("regroup:3:0") == 3
    y1, _ = sample.train.view("regroup:5:7")
    y2, _ = sample.train.view("regroup:5:7")
    assert np.array_equal(y1, y2) and len(np.unique(y1)) == 5


def test_same_view_comes_from_the_protectors_meta(sample):
    import json

    assert resolve_view(sample, "same") == "fine"
    b = Bundle(sample.train, sample.test, {"meta": np.array(json.dumps({"labels": "coarse"}))})
    assert resolve_view(b, "same") == "coarse"
    assert resolve_view(b, "regroup:2:0") == "regroup:2:0"


def test_chance_rate():
    assert chance_rate(np.array([0, 0, 0, 1]), 2) == 0.75
    assert chance_rate(np.arange(10), 10) == pytest.approx(0.1)


def test_random_crop_flip_is_a_shifted_window():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, g, pad=2)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        found = False
        for dy in range(5):
            for dx in range(5):
                win = padded[i, :, dy:dy + 8, dx:dx + 8]
                if torch.equal(win, out[i]) or torch.equal(win.flip(-1), out[i]):
                    found = True
        assert found


def test_training_lowers_loss_and_result_schema(sample):
    b = Bundle(sample.train.balanced_subset(300, seed=0), sample.test.balanced_subset(100, seed=0))
    r = evaluate(b, "coarse", epochs=3, progress=False, device="cpu")
    for k in ("test_acc_final", "test_acc_peak", "per_epoch", "labels", "n_classes", "chance", "seconds", "config"):
        assert k in r
    assert r["n_classes"] == 2 and r["chance"] == pytest.approx(0.6)
    losses = [e["train_loss"] for e in r["per_epoch"]]
    assert losses[-1] < losses[0]
    assert r["test_acc_peak"] == max(e["test_acc"] for e in r["per_epoch"])


def test_training_is_seeded(sample):
    b = Bundle(sample.train.balanced_subset(100, seed=0), sample.test.balanced_subset(50, seed=0))
    r1 = evaluate(b, "fine", epochs=1, seed=3, progress=False, device="cpu")
    r2 = evaluate(b, "fine", epochs=1, seed=3, progress=False, device="cpu")
    assert r1["per_epoch"] == r2["per_epoch"]


def test_coarse_built_shortcut_does_not_stop_fine_learning():
    """The label-consistency failure in miniature: a class-wise shortcut built from the *fine* labels stops
    a fine-label attacker; the same kind of shortcut built from the *coarse* labels does much less, because
    the within-group distinctions still have to be learned from the real features."""
    tr, te = _synth(300, 0), _synth(100, 1)
    acc = {}
    for built in ("none", "fine", "coarse"):
        if built == "none":
            b = Bundle(tr, te)
        else:
            pert = craft_random_class(tr.labels[built], (16, 16), 32 / 255, 0, form="pixel")
            b = Bundle(ImageSet(apply(tr.images, pert), tr.labels, tr.class_names), te)
        acc[built] = evaluate(b, "fine", epochs=3, augment=False, batch_size=64, progress=False,
                              device="cpu")["test_acc_final"]
    assert acc["fine"] < acc["none"] - 0.15, acc
    assert acc["coarse"] > acc["fine"] + 0.1, acc


def test_defenses_parse_and_apply(sample):
    assert parse_defense("jpeg:10+cutout") == [("jpeg", 10.0), ("cutout", None)]
    assert parse_defense("none") == []
    for bad in ("jpeg", "jpeg:0", "blur:-1", "adv-train:100", "nope", "mixup+adv-train:4"):
        with pytest.raises(ValueError):
            parse_defense(bad)
    small = Bundle(sample.train.subset(np.arange(20)), sample.test.subset(np.arange(10)))
    g = apply_defense(small, "grayscale")
    assert np.all(g.train.images[..., 0] == g.train.images[..., 1])
    assert np.all(g.test.images[..., 0] == g.test.images[..., 2])
    j = apply_defense(small, "jpeg:10")
    assert not np.array_equal(j.train.images, small.train.images)
    assert np.array_equal(j.test.images, small.test.images)  # the test set is never touched by jpeg


def test_noise_survival_separates_achromatic_from_colour_noise(sample):
    from ucs_lite.defenses import noise_survival
    from ucs_lite.noise.patterns import random_patterns

    x = sample.train.images[:64]

    def protect(gray: bool) -> np.ndarray:
        d = random_patterns(1, x.shape[1:3], 16 / 255, 0, form="lowfreq", gray=gray)[0].transpose(1, 2, 0)
        return np.clip(np.round(x + d * 255.0), 0, 255).astype(np.uint8)

    gray, colour = protect(True), protect(False)
    assert noise_survival(x, colour, "none") == pytest.approx(1.0)
    assert noise_survival(x, gray, "grayscale") > 0.98  # grey(x + δ) = grey(x) + δ when δ is achromatic
    assert noise_survival(x, colour, "grayscale") < 0.6
    assert noise_survival(x, gray, "jpeg:10") > noise_survival(x, colour, "jpeg:10") + 0.2  # chroma subsampling
    with pytest.raises(ValueError):
        noise_survival(x, x, "jpeg:10")
    with pytest.raises(ValueError):
        noise_survival(x, gray[:10], "none")


@pytest.mark.parametrize("defense", ["cutout", "mixup", "strong-aug", "adv-train:4", "blur:1"])
def test_each_defense_trains(sample, defense):
    b = Bundle(sample.train.subset(np.arange(0, 1000, 10)), sample.test.subset(np.arange(0, 500, 10)))
    r = evaluate(b, "coarse", epochs=1, defense=defense, progress=False, device="cpu")
    assert 0.0 <= r["test_acc_final"] <= 1.0 and np.isfinite(r["per_epoch"][0]["train_loss"])


def test_linear_probe_attacker(sample):
    b = Bundle(sample.train.balanced_subset(200, seed=0), sample.test.balanced_subset(100, seed=0))
    r = evaluate(b, "coarse", model="linear-probe", probe_surrogate="tiny", progress=False, device="cpu")
    assert len(r["per_epoch"]) == 1 and 0.0 <= r["test_acc_final"] <= 1.0
    assert r["per_epoch"][0]["train_acc"] >= 0.6  # it fits its training features


def test_protect_cache_keys_by_meaning(sample, tmp_path):
    from ucs_lite.experiment import protect_cached

    b = Bundle(sample.train.subset(np.arange(40)), sample.test.subset(np.arange(10)))
    a = protect_cached(b, "random-class", cache_dir=tmp_path, eps=16 / 255, labels="fine", form="lowfreq", dist="sign")
    assert len(list((tmp_path / "protected").glob("*.npz"))) == 1
    same = protect_cached(b, "random-class", cache_dir=tmp_path, eps=16 / 255, labels="fine")  # defaults left out
    assert len(list((tmp_path / "protected").glob("*.npz"))) == 1
    assert np.array_equal(a.train.images, same.train.images)
    other = protect_cached(b, "random-class", cache_dir=tmp_path, eps=16 / 255, labels="fine", form="pixel")
    assert len(list((tmp_path / "protected").glob("*.npz"))) == 2
    assert not np.array_equal(a.train.images, other.train.images)
    with pytest.raises(ValueError, match="unknown method"):
        protect_cached(b, "nope", cache_dir=tmp_path)


def test_changed_method_definition_is_not_served_from_cache(sample, tmp_path, monkeypatch):
    from ucs_lite.experiment import protect_cached
    from ucs_lite.noise import registry

    b = Bundle(sample.train.subset(np.arange(40)), sample.test.subset(np.arange(10)))
    protect_cached(b, "random-class", cache_dir=tmp_path, labels="fine")
    monkeypatch.setitem(registry.DEFINITION, "random-class", 2)  # as if its defaults had changed
    protect_cached(b, "random-class", cache_dir=tmp_path, labels="fine")
    assert len(list((tmp_path / "protected").glob("*.npz"))) == 2
