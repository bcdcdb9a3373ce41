"""Visibility figures, photo noise constructions, folder summary and the offline preview (issue 17)."""
from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from ucs_lite.cli import main
from ucs_lite.data import read_image
from ucs_lite.metrics import visibility
from ucs_lite.noise.photo import (STRENGTHS, Construction, delta_to_size, masked_delta, protect_images,
                                  random_cells, texture_mask)

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--method", "uc", "--surrogate", "tiny", "--device", "cpu", "--quiet", "--opt", "steps=2", "--opt",
        "batch_per_cluster=4"]


def photo(name: str, size: int = 96) -> np.ndarray:
    """One of scikit-image's bundled photos, shrunk (uint8 size×size×3)."""
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).resize((size, size), Image.BILINEAR))


def noisy(img: np.ndarray, amp: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(int) + rng.integers(-amp, amp + 1, img.shape), 0, 255).astype(np.uint8)


def test_visibility_in_strips_equals_scikit_image_on_the_whole_image():
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = photo("astronaut", 120)[:, :100]  # not square
    b = noisy(a, 6)
    v = visibility(a, b, rows=17)  # strips that do not divide the height
    de = deltaE_ciede2000(rgb2lab(a / 255), rgb2lab(b / 255), channel_axis=-1)
    assert v["psnr"] == pytest.approx(peak_signal_noise_ratio(a, b), abs=1e-9)
    assert v["ssim"] == pytest.approx(structural_similarity(a / 255, b / 255, channel_axis=-1, data_range=1.0,
                                                            win_size=7), abs=1e-9)
    assert v["de2000_mean"] == pytest.approx(de.mean(), rel=1e-9)
    assert abs(v["de2000_p95"] - np.percentile(de, 95)) <= 0.011
    assert v["de2000_share_jnd"] == pytest.approx((de > 2.3).mean(), abs=2 / de.size)
    same = visibility(a, a.copy())
    assert same["psnr"] == 100 and same["de2000_mean"] == 0 and same["de2000_share_jnd"] == 0 and same["ssim"] == 1


def test_changed_box_finds_the_changed_region():
    a = photo("coffee", 128)
    b = a.copy()
    b[80:100, 16:40] = noisy(a[80:100, 16:40], 40)
    y0, x0, h, w = visibility(a, b)["changed_box"]
    assert (h, w) == (16, 16) and 64 <= y0 <= 100 and 0 <= x0 <= 40


def test_texture_mask_is_low_on_smooth_and_full_on_busy_regions():
    flat = np.full((64, 64, 3), 120, np.uint8)
    busy = np.repeat(np.where((np.arange(64)[:, None] + np.arange(64)) % 2, 40, 200).astype(np.uint8)[..., None], 3, 2)
    assert np.allclose(texture_mask(flat, 0.25), 0.25)
    assert texture_mask(busy, 0.25).min() > 0.99  # a checkerboard: contrast in every window
    m = texture_mask(photo("chelsea"), 0.1)
    assert m.dtype == np.float32 and m.shape == (96, 96) and 0.1 <= m.min() and m.max() <= 1


@pytest.mark.parametrize("c", [STRENGTHS[k] for k in STRENGTHS] + [Construction(16, 16, "chroma-limited"),
                                                                 Construction(16, 56, "luma")])
def test_constructions_keep_the_bound_and_their_colour(c):
    rng = np.random.default_rng(0)
    x = rng.integers(20, 236, (12, 32, 32, 3), dtype=np.uint8)  # away from 0/255: no clipping
    y = protect_images(x, np.arange(12) % 3, random_cells(3, c, seed=1), c)
    d = y.astype(int) - x
    assert np.abs(d).max() <= c.eps255 + 1
    if c.colour == "luma":
        assert np.abs(d[..., 0] - d[..., 1]).max() <= 1 and np.abs(d[..., 1] - d[..., 2]).max() <= 1
    if c.colour == "rgb":
        assert np.abs(d[..., 0] - d[..., 1]).max() > 20


def test_cells_finer_than_a_pixel_average_out():
    """56 cells across a 32-px image: each pixel the CIFAR attacker sees averages about 3 cells, so δ keeps
    well under half of ε on average (16 cells map to whole 2-px blocks at full ε)."""
    d = random_cells(2, Construction(16, 56, "luma"), seed=0)
    small = delta_to_size(d, (32, 32))
    assert np.abs(small).mean() < 0.5 * 16 / 255
    assert np.abs(delta_to_size(random_cells(2, Construction(16, 16, "luma"), 0), (32, 32))).min() == \
        pytest.approx(16 / 255)


def test_masked_delta_is_bounded_and_follows_the_texture():
    img = np.full((300, 200, 3), 128, np.uint8)
    img[:, 100:] = np.random.default_rng(0).choice([40, 200], (300, 100, 1)).astype(np.uint8)  # right half busy
    d = np.full((3, 16, 16), 12 / 255, np.float32)
    out = masked_delta(img, d, 0.25, max_side=100)
    assert out.shape == (3, 100, 67) and np.abs(out).max() <= 12 / 255 + 1e-7
    assert out[:, :, :20].mean() == pytest.approx(0.25 * 12 / 255, rel=0.05) and out[:, :, -20:].mean() > 0.9 * 12 / 255


def _photo_folder(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for n in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(photo(n, 96)).save(src / f"{n}.png")
    return src


def test_folder_summary_numbers_read_back_and_preview_is_offline(tmp_path, capsys):
    src, dst = _photo_folder(tmp_path), tmp_path / "out"
    assert main([str(a) for a in ["protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2, *FAST]]) == 0
    line = json.loads(capsys.readouterr().out)
    summary = json.loads((dst / "ucs_lite_summary.json").read_text())
    assert summary["strength"] == "balanced" and summary["construction"]["colour"] == "luma"
    assert line["visibility_worst"] == summary["visibility_worst"]
    assert set(summary["visibility"]) == {f"{n}.png" for n in ("astronaut", "coffee", "chelsea", "rocket")}
    for name, v in summary["visibility"].items():  # the numbers are those of the files written
        again = visibility(read_image(src / name), read_image(dst / name))
        for k in ("psnr", "ssim", "de2000_mean", "de2000_p95", "de2000_share_jnd"):
            assert v[k] == pytest.approx(again[k], rel=1e-9, abs=1e-12), (name, k)
    assert summary["visibility_worst"]["de2000_mean"] == max(v["de2000_mean"] for v in summary["visibility"].values())
    page = (dst / "preview.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", page) and "<script" not in page.lower() and "<link" not in page.lower()
    srcs = re.findall(r"<img[^>]*\ssrc='([^']*)'", page)
    assert len(srcs) == 4 * 4 and all(s.startswith("data:image/") for s in srcs)
    for s in srcs:  # every embedded image decodes
        Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).load()
    for name, v in summary["visibility"].items():
        assert name in page and f"{v['de2000_mean']:.2f}" in page


def test_stronger_strengths_are_more_visible(tmp_path, capsys):
    src = _photo_folder(tmp_path)
    worst = {}
    for strength in ("subtle", "balanced", "paper"):
        dst = tmp_path / strength
        assert main([str(a) for a in ["protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2,
                                      "--strength", strength, *FAST]]) == 0
        worst[strength] = json.loads(capsys.readouterr().out)["visibility_worst"]["de2000_mean"]
    assert worst["subtle"] < worst["balanced"] < worst["paper"]
    assert worst["paper"] > 6  # the old default: a colour patchwork


def test_strength_is_for_folders_and_eps_overrides_it(tmp_path, capsys):
    assert main(["protect", "--data", "sample", "--out", str(tmp_path / "x.npz"), "--strength", "subtle"]) == 2
    assert "--strength" in capsys.readouterr().err
    src, dst = _photo_folder(tmp_path), tmp_path / "out"
    assert main([str(a) for a in ["protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2,
                                  "--strength", "strong", "--eps", 4, *FAST]]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["eps_255"] == pytest.approx(4) and s["construction"]["eps255"] == pytest.approx(4)
    diff = max(np.abs(read_image(dst / f).astype(int) - read_image(src / f)).max() for f in ("coffee.png", "rocket.png"))
    assert diff <= 5
