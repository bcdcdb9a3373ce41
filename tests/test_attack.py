import numpy as np
import pytest
import torch

from ucs_lite.attack import chance_rate, evaluate, resolve_view
from ucs_lite.defenses import random_crop_flip
from ucs_lite.data import Bundle, ImageSet
from ucs_lite.defenses import apply_defense, batch_defense, parse_defense
from ucs_lite.noise import apply
from ucs_lite.noise.patterns import craft_random_class


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


@pytest.mark.slow
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
    """Even on the random-init ``tiny`` encoder's features the probe must clearly beat a constant guess
    (measured: coarse 0.78 vs majority 0.60, fine 0.31 vs 0.10); a majority predictor would not pass."""
    b = Bundle(sample.train.balanced_subset(200, seed=0), sample.test.balanced_subset(100, seed=0))
    for view, margin in (("coarse", 0.1), ("fine", 0.1)):
        r = evaluate(b, view, model="linear-probe", probe_surrogate="tiny", progress=False, device="cpu")
        assert len(r["per_epoch"]) == 1
        assert r["test_acc_final"] >= r["chance"] + margin, (view, r["test_acc_final"], r["chance"])
        assert r["per_epoch"][0]["train_acc"] >= r["chance"] + margin  # it fits its training features


def _kept(small: Bundle, delta: np.ndarray, spec: str) -> float:
    """Share of an added pattern ``delta`` (int, broadcast to the training images) that survives
    ``apply_defense(spec)``: ⟨D(x + δ) − D(x), δ⟩ / ‖δ‖², measured on the training images it returns."""
    x = small.train.images
    noisy = np.clip(x.astype(int) + delta, 0, 255).astype(np.uint8)
    d = (noisy.astype(float) - x)
    out = lambda imgs: apply_defense(Bundle(ImageSet(imgs, small.train.labels), small.test), spec).train.images  # noqa: E731
    return float(((out(noisy).astype(float) - out(x)) * d).sum() / (d * d).sum())


def test_data_defenses_change_the_training_images_as_they_should(sample):
    small = Bundle(sample.train.subset(np.arange(40)), sample.test.subset(np.arange(10)))
    x = small.train.images
    rng = np.random.default_rng(0)
    fine_noise = rng.choice([-8, 8], size=x.shape)  # the highest frequencies: a sign per pixel
    offset = rng.choice([-8, 8], size=(len(x), 1, 1, 1))  # the lowest: one brightness shift per image
    assert _kept(small, fine_noise, "none") == pytest.approx(1.0, abs=0.02)
    for spec in ("jpeg:10", "blur:1"):  # measured: 7% / 17% of pixel noise kept, ~100% of the offset
        assert _kept(small, fine_noise, spec) < 0.3, spec
        assert _kept(small, offset, spec) > 0.9, spec
        assert np.array_equal(apply_defense(small, spec).test.images, small.test.images), spec  # clean test set
    g = apply_defense(small, "grayscale")
    for split in (g.train.images, g.test.images):  # grey to train on, grey to test on
        assert np.array_equal(split[..., 0], split[..., 1]) and np.array_equal(split[..., 0], split[..., 2])
    lum = x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.abs(g.train.images[..., 0].astype(float) - lum).max() <= 0.5 + 1e-3  # its luminance, rounded
    assert apply_defense(small, "none") is small


class _Recorder(torch.nn.Module):
    """A linear classifier that keeps every input it is called with."""

    def __init__(self, shape, k: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(int(np.prod(shape)), k)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.lin(x.flatten(1))


def _batch(n: int = 8, size: int = 16):
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).round() / 255  # uint8-grid images ...
    return (x - 0.5) / 0.25 + 0.0, torch.arange(n) % 3  # ... normalised as the attacker feeds them


def test_batch_defenses_change_what_the_attacker_sees(sample):
    x, y = _batch()
    def seen(spec, seed=0):
        net = _Recorder(x.shape[1:])
        loss, out = batch_defense(spec, torch.Generator().manual_seed(seed))(net, x, y)
        assert torch.isfinite(loss) and out.shape == (len(x), 3)
        return net.seen, loss
    s, _ = seen("none")
    assert len(s) == 1 and torch.equal(s[0], x)
    # cutout: one filled square per image set to 0 (grey), the rest untouched
    (c,), _ = seen("cutout")
    half = 16 // 4
    for i in range(len(x)):
        hole = (c[i] != x[i]).any(0)
        assert torch.all(c[i][:, hole] == 0) and torch.equal(c[i][:, ~hole], x[i][:, ~hole])
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert hole.sum() == h * w and half <= h <= 2 * half - 1 and half <= w <= 2 * half - 1
        assert rows.max() - rows.min() + 1 == h and cols.max() - cols.min() + 1 == w  # one solid block
    # mixup: every image is λ·x_i + (1 − λ)·x_j, one λ for the whole batch
    (m,), _ = seen("mixup")
    assert not torch.allclose(m, x)
    shared = None
    for i in range(len(x)):
        if torch.allclose(m[i], x[i], atol=1e-4):
            continue  # paired with itself
        fits = set()
        for j in range(len(x)):
            d = x[i] - x[j]
            if j != i and (d * d).sum() > 0:
                lam = float(((m[i] - x[j]) * d).sum() / (d * d).sum())
                if 0 <= lam <= 1 and torch.allclose(m[i], lam * x[i] + (1 - lam) * x[j], atol=1e-4):
                    fits.add(round(lam, 3))
        assert fits, f"image {i} is not a blend of two batch images"
        shared = fits if shared is None else shared & fits
    assert shared, "the blends do not share one λ"
    # adv-train:4: 3 PGD steps, then the step trains on x + δ with ‖δ‖∞ ≤ 4/255 (in normalised units /0.25)
    a, loss_adv = seen("adv-train:4")
    assert len(a) == 4
    d = a[-1] - x
    assert d.abs().max() <= 4 / 255 / 0.25 + 1e-5 and d.abs().max() > 0.5 * 4 / 255 / 0.25
    net = _Recorder(x.shape[1:])
    assert float(loss_adv.detach()) > float(torch.nn.functional.cross_entropy(net(x), y).detach())  # δ raises the loss
    # strong-aug: TrivialAugment on the uint8 images (results stay on the 0–255 grid), reproducible by seed
    (t1,), _ = seen("strong-aug", seed=1)
    (t2,), _ = seen("strong-aug", seed=1)
    (t3,), _ = seen("strong-aug", seed=2)
    assert torch.equal(t1, t2) and not torch.equal(t1, t3)
    u8 = (t1 * 0.25 + 0.5) * 255
    assert torch.allclose(u8, u8.round(), atol=1e-3) and not torch.equal(t1, x)
