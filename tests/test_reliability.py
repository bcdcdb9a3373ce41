"""Reliability (issue 7): bad input gives one clear line and touches nothing; outputs are atomic; an
interrupted UC run resumes to the same δ; same seed → same bits; run JSON records its provenance.

Every CLI case asserts the exit code, the message (it names the file and the fix) and that the input
tree is byte-identical afterwards. Runs use the random-init ``tiny`` surrogate and small images.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ucs_lite.cli import main
from ucs_lite.data import SAMPLE_PATH, read_image

EPS255 = 16  # whole: protected pixels stay within exactly ±16 levels of the clean ones
# the cheapest UC run that still exercises everything: tiny surrogate, 2 steps, 4 images per cluster
FAST = ["--method", "uc", "--surrogate", "tiny", "--device", "cpu", "--quiet", "--opt", "steps=2", "--opt",
        "batch_per_cluster=4"]


pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ helpers

def tree_state(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (or the file itself): relative path -> sha256 / 'dir' / link target."""
    root = Path(root)
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    """Exit 2 and exactly one stderr line ``ucs-lite: error: ...`` holding every needle."""
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ucs-lite: error: "), err
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def make_npz(path: Path, n: int = 24, size: int = 16, seed: int = 0, **override) -> Path:
    rng = np.random.default_rng(seed)
    d = {"x_train": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), "y_train": np.arange(n) % 3,
         "x_test": rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8), "y_test": np.arange(8) % 3,
         "class_names": np.array(["a", "b", "c"])}
    d.update(override)
    np.savez(path, **{k: v for k, v in d.items() if v is not None})
    return path


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save_modes(folder: Path) -> dict[str, tuple[int, int]]:
    """One image per troublesome mode; returns name -> displayed (height, width)."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb(20, 30, 1)).save(folder / "rgb.png")
    Image.fromarray(rgb(24, 18, 2)).save(folder / "photo.jpg", quality=92)
    Image.fromarray(rgb(17, 23, 3)[..., 0]).save(folder / "gray.png")
    rgba = np.concatenate([rgb(16, 16, 4), np.random.default_rng(5).integers(0, 256, (16, 16, 1), np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb(12, 20, 6)).convert("P").save(folder / "palette.png")
    pal = Image.fromarray(rgb(10, 10, 7)).convert("P")
    pal.info["transparency"] = 0
    pal.save(folder / "palette_transparent.png", transparency=0)
    deep = np.random.default_rng(8).integers(0, 65536, (21, 33)).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep16.png")  # 16-bit greyscale
    Image.fromarray(rgb(1, 1, 9)).save(folder / "one_pixel.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° to display": stored 40 wide × 20 tall, shown 20 wide × 40 tall
    Image.fromarray(rgb(20, 40, 10)).save(folder / "rotated.jpg", exif=exif, quality=92)
    (folder / "sub").mkdir(exist_ok=True)
    Image.fromarray(rgb(33, 25, 11)).save(folder / "sub" / "nested.png")
    return {"rgb.png": (20, 30), "photo.jpg": (24, 18), "gray.png": (17, 23), "rgba.png": (16, 16),
            "palette.png": (12, 20), "palette_transparent.png": (10, 10), "deep16.png": (21, 33),
            "one_pixel.png": (1, 1), "rotated.jpg": (40, 20), "sub/nested.png": (33, 25)}


def out_name(name: str) -> str:
    return str(Path(name).with_suffix(".png"))


# ------------------------------------------------------------------ image folders

def test_folder_of_odd_modes_native_sizes_lossless(tmp_path, capsys):
    src, dst = tmp_path / "photos", tmp_path / "out"
    shapes = save_modes(src)
    before = tree_state(src)
    code, out, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 3, *FAST)
    assert code == 0, err
    assert not err.strip() or all(ln.startswith("ucs-lite: warning:") for ln in err.splitlines() if ln.strip())
    for name, (h, w) in shapes.items():
        prot = Image.open(dst / out_name(name))
        assert prot.format == "PNG" and prot.mode == "RGB" and prot.size == (w, h), name  # EXIF rotation applied
        diff = np.abs(np.asarray(prot).astype(int) - read_image(src / name).astype(int))
        assert diff.max() <= EPS255, name
    summary = json.loads((dst / "ucs_lite_summary.json").read_text())
    assert summary["written"] == len(shapes) and summary["skipped"] == []
    assert set(summary["versions"]) == {"ucs_lite", "torch", "numpy", "scikit-learn", "python"}
    assert summary["seed"] == 0 and summary["device"] == "cpu" and len(summary["config_hash"]) == 16
    assert json.loads(out)["written"] == len(shapes)
    assert tree_state(src) == before


def test_folder_bad_files_are_warned_skipped_and_summarised(tmp_path, capsys):
    src, dst = tmp_path / "photos", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rgb(16, 16, i)).save(src / f"good{i}.png")
    good = (src / "good0.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (src / "empty.png").write_bytes(b"")
    (src / "text_named.png").write_text("just text")
    (src / "notes.txt").write_text("holiday list")
    (src / "dangling.png").symlink_to(tmp_path / "gone.png")
    before = tree_state(src)
    code, out, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2, *FAST)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert all(ln.startswith("ucs-lite: warning: ") for ln in lines), err  # one line each, no tracebacks
    bad = ["truncated.png", "corrupt.jpg", "empty.png", "text_named.png", "notes.txt", "dangling.png"]
    for name in bad:
        hit = [ln for ln in lines[:-1] if f"{src / name}:" in ln]
        assert len(hit) == 1, (name, err)
        assert any(fix in hit[0] for fix in ("re-export", "convert it", "remove it")), hit[0]
    assert "6 file(s) skipped, 3 protected" in lines[-1] and all(n in lines[-1] for n in bad)
    assert sorted(p.name for p in dst.glob("*.png")) == ["good0.png", "good1.png", "good2.png"]
    summary = json.loads((dst / "ucs_lite_summary.json").read_text())
    assert sorted(s["file"] for s in summary["skipped"]) == sorted(bad)
    assert json.loads(out)["skipped"] == 6
    assert tree_state(src) == before


def test_permission_denied_file_is_skipped(tmp_path, capsys, monkeypatch):
    """An unreadable file (simulated: tests may run as root, where chmod does not stop reads)."""
    import PIL.Image

    src, dst = tmp_path / "photos", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rgb(8, 8, i)).save(src / f"p{i}.png")
    locked = src / "p1.png"
    real_open = PIL.Image.open

    def guarded(fp, *a, **k):
        if isinstance(fp, (str, Path)) and Path(fp) == locked:  # (in-memory JPEG round trips pass through)
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *a, **k)

    monkeypatch.setattr(PIL.Image, "open", guarded)
    before = tree_state(src)
    code, _, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2, *FAST)
    assert code == 0, err
    line = [ln for ln in err.splitlines() if str(locked) in ln][0]
    assert line.startswith("ucs-lite: warning: skipped") and "permission denied" in line and "chmod" in line
    assert not (dst / "p1.png").exists() and (dst / "p0.png").exists()
    assert tree_state(src) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_file_and_folder(tmp_path, capsys):
    src, dst = tmp_path / "photos", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rgb(8, 8, i)).save(src / f"p{i}.png")
    before = tree_state(src)
    (src / "p2.png").chmod(0)
    try:
        code, _, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 2, *FAST)
        assert code == 0 and "permission denied" in err and not (dst / "p2.png").exists()
    finally:
        (src / "p2.png").chmod(0o644)
    src.chmod(0)
    try:
        code, _, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", tmp_path / "out2", *FAST)
        assert_one_line_error(code, err, str(src))
    finally:
        src.chmod(0o755)
    assert tree_state(src) == before


@pytest.mark.parametrize("case", ["empty", "only_other_files", "all_unreadable", "missing"])
def test_folder_that_cannot_proceed(tmp_path, capsys, case):
    src = tmp_path / "photos"
    if case != "missing":
        src.mkdir()
    if case == "only_other_files":
        (src / "readme.txt").write_text("x")
    if case == "all_unreadable":
        (src / "a.png").write_bytes(b"nope")
        (src / "b.jpg").write_bytes(b"")
    before = tree_state(src) if src.exists() else None
    code, _, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", tmp_path / "out", *FAST)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and lines[-1].startswith("ucs-lite: error: ") and str(src) in lines[-1], err
    assert all(ln.startswith("ucs-lite: warning: skipped") for ln in lines[:-1]), err
    expected = {"empty": "no images found", "only_other_files": "no images found (1 other file(s) ignored)",
                "all_unreadable": "none of the 2 image files could be read", "missing": "input folder not found"}
    assert expected[case] in lines[-1]
    assert not (tmp_path / "out").exists()
    if before is not None:
        assert tree_state(src) == before


def test_output_folder_inside_input_or_not_empty(tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(rgb(8, 8)).save(src / "a.png")
    before = tree_state(src)
    code, _, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", src / "protected", *FAST)
    assert_one_line_error(code, err, str(src / "protected"), "inside an input folder", "choose another")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", busy, *FAST)
    assert_one_line_error(code, err, str(busy), "not empty", "--overwrite")
    assert (busy / "keep.txt").read_text() == "mine" and len(list(busy.iterdir())) == 1
    assert tree_state(src) == before


def test_p_larger_than_distinct_images_in_folder_is_lowered(tmp_path, capsys):
    src, dst = tmp_path / "photos", tmp_path / "out"
    src.mkdir()
    for i in range(2):
        Image.fromarray(rgb(8, 8, i)).save(src / f"a{i}.png")
    Image.fromarray(rgb(8, 8, 0)).save(src / "copy_of_a0.png")  # a duplicate: 2 distinct images
    before = tree_state(src)
    code, out, err = cli(capsys, "protect", "--input-dir", src, "--output-dir", dst, "--clusters", 10, *FAST)
    assert code == 0, err
    assert "ucs-lite: warning: p = 10 clusters but only 2 distinct image(s)" in err and "using p = 2" in err
    assert json.loads(out)["p"] == 2 and len(list(dst.glob("*.png"))) == 3
    assert tree_state(src) == before


def test_data_folder_skips_bad_files_too(tmp_path, capsys):
    src = tmp_path / "photos"
    for c in ("cats", "dogs"):
        for i in range(3):
            (src / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb(12, 12, i + 10 * (c == "dogs"))).save(src / c / f"{i}.png")
    (src / "dogs" / "bad.png").write_bytes(b"broken")
    before = tree_state(src)
    code, out, err = cli(capsys, "protect", "--data", src, "--method", "random-class", "--out", tmp_path / "o.npz",
                         "--quiet")
    assert code == 0, err
    assert f"ucs-lite: warning: skipped {src / 'dogs' / 'bad.png'}: not a readable image" in err
    assert tree_state(src) == before


@pytest.mark.slow
def test_very_large_image_native_size_bounded_memory(tmp_path):
    """A 6000×4000 photo: crafted at 64 px, written at 6000×4000; peak memory grows by a few uint8 copies
    of the image, not by full-size float copies of image and noise (measured in a fresh process)."""
    src, dst = tmp_path / "big", tmp_path / "out"
    src.mkdir()
    small = Image.fromarray(rgb(40, 60, 3)).resize((6000, 4000), Image.BILINEAR)
    small.save(src / "huge.jpg", quality=85)
    del small
    warm_src = tmp_path / "warm"
    warm_src.mkdir()
    Image.fromarray(rgb(64, 64)).save(warm_src / "w.png")
    before = tree_state(src)
    script = f"""
import resource, torch, warnings
torch.set_num_threads(1)
from ucs_lite.protect import protect_folder
kw = dict(p=1, surrogate="tiny", device="cpu", progress=False, method="uc", steps=2, batch_per_cluster=2)
protect_folder({str(warm_src)!r}, {str(tmp_path / 'warm_out')!r}, **kw)   # libraries loaded, threads started
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = protect_folder({str(src)!r}, {str(dst)!r}, **kw)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(base, peak, s["written"])
"""
    # a fixed mmap threshold hands freed large buffers back to the OS at once, so the peak RSS measures
    # live memory rather than what glibc happened to keep (it varies by ~100 MB from run to run otherwise)
    env = {**os.environ, "UCS_LITE_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": "1048576"}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    base, peak, written = map(int, r.stdout.split()[-3:])
    grew_mb = (peak - base) / 1024  # ru_maxrss is in KiB on Linux
    assert written == 1
    # the image is 72 MB as uint8; float32 copies of it and of its δ alone would add 576 MB
    assert grew_mb < 400, f"peak memory grew by {grew_mb:.0f} MB for one 6000×4000 image"
    with Image.open(dst / "huge.png") as im:
        assert im.size == (6000, 4000) and im.mode == "RGB"
        prot = np.asarray(im)
    clean = read_image(src / "huge.jpg")
    assert np.abs(prot[::7, ::7].astype(int) - clean[::7, ::7]).max() <= EPS255
    assert tree_state(src) == before


# ------------------------------------------------------------------ npz bundles and arguments

NPZ_CASES = {
    "missing_keys": (dict(x_test=None, y_test=None), ["missing keys ['x_test', 'y_test']", "a bundle needs"]),
    "float_images": (dict(x_train=np.zeros((24, 16, 16, 3), np.float32)), ["x_train must be uint8", "astype('uint8')"]),
    "wrong_shape": (dict(x_train=np.zeros((24, 16, 16), np.uint8)), ["x_train must be uint8 N×H×W×3"]),
    "length_mismatch": (dict(y_train=np.arange(25) % 3), ["have shape (25,)", "expected (24,) to match x_train"]),
    "float_labels": (dict(y_train=np.zeros(24, np.float32)),
                     ["y_train must hold integer class ids", "astype('int64')"]),
    "negative_labels": (dict(y_test=-np.ones(8, np.int64)), ["y_test has negative class ids", "0..n-1"]),
    "no_train_images": (dict(x_train=np.zeros((0, 16, 16, 3), np.uint8), y_train=np.zeros(0, np.int64)),
                        ["x_train holds no images"]),
}


@pytest.mark.parametrize("case", sorted(NPZ_CASES))
def test_malformed_npz(tmp_path, capsys, case):
    override, needles = NPZ_CASES[case]
    data = make_npz(tmp_path / f"{case}.npz", **override)
    before = tree_state(tmp_path)
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", *FAST)
    assert_one_line_error(code, err, str(data), *needles)
    assert tree_state(tmp_path) == before  # nothing written, input untouched


def test_unreadable_or_missing_npz(tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 truncated zip")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1), x_test=np.zeros(1),
             y_test=np.zeros(1))
    before = tree_state(tmp_path)
    for path in (junk, pickled):
        code, _, err = cli(capsys, "protect", "--data", path, "--out", tmp_path / "o.npz", *FAST)
        assert_one_line_error(code, err, str(path), "not a readable .npz file", "numpy.savez")
    code, _, err = cli(capsys, "protect", "--data", tmp_path / "nothing.npz", "--out", tmp_path / "o.npz", *FAST)
    assert_one_line_error(code, err, "nothing.npz: no such file or folder", "give an .npz bundle")
    code, _, err = cli(capsys, "evaluate", "--data", tmp_path / "nothing.npz", "--quiet")
    assert_one_line_error(code, err, "nothing.npz: no such file or folder")
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("eps", ["0", "-3", "64.5", "65", "nan", "abc"])
def test_eps_out_of_range(tmp_path, capsys, eps):
    data = make_npz(tmp_path / "in.npz")
    before = tree_state(tmp_path)
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--eps", eps, *FAST)
    assert_one_line_error(code, err, "argument --eps", eps, "--eps 16" if eps == "abc" else "0 < --eps ≤ 64")
    assert tree_state(tmp_path) == before


def test_eps_out_of_range_api(tmp_path):
    from ucs_lite.data import load_npz
    from ucs_lite.protect import protect_bundle, protect_folder

    b = load_npz(make_npz(tmp_path / "in.npz"))
    for eps in (0, -1 / 255, 65 / 255):
        with pytest.raises(ValueError, match="out of range: use 0 < ε ≤ 64/255"):
            protect_bundle(b, "random-class", eps=eps)
        with pytest.raises(ValueError, match="out of range"):
            protect_folder(tmp_path, tmp_path / "o", eps=eps, surrogate="tiny")
    assert not (tmp_path / "o").exists()


def test_too_many_clusters(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz", n=24)
    twins = make_npz(tmp_path / "twins.npz", x_train=np.full((24, 16, 16, 3), 7, np.uint8))
    before = tree_state(tmp_path)
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--clusters", 100, *FAST)
    assert_one_line_error(code, err, "p = 100 clusters is more than the 24 training images", "use p ≤ 24",
                          "--clusters")
    code, _, err = cli(capsys, "protect", "--data", twins, "--out", tmp_path / "o.npz", "--clusters", 3, *FAST)
    assert_one_line_error(code, err, "only 1 distinct images", "use p ≤ 1", "--clusters")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--clusters", 0, *FAST)
    assert_one_line_error(code, err, "argument --clusters", "≥ 1")
    # label-based methods do not use p: a large --clusters is no error for them
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "ok.npz", "--method", "random-class",
                       "--clusters", 100, "--quiet")
    assert code == 0, err
    (tmp_path / "ok.npz").unlink()
    assert tree_state(tmp_path) == before


def test_images_too_small_for_the_cnns(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz", size=4)
    before = tree_state(tmp_path)
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--method", "em-class",
                       "--quiet")
    assert_one_line_error(code, err, "em-class", "at least 8×8 px, got 4×4", "use uc or random-class")
    code, _, err = cli(capsys, "evaluate", "--data", data, "--epochs", 1, "--quiet", "--device", "cpu")
    assert_one_line_error(code, err, "small-cnn", "at least 8×8 px", "--model resnet18")
    assert tree_state(tmp_path) == before


def test_unknown_surrogate_method_and_device(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz")
    before = tree_state(tmp_path)
    out = tmp_path / "o.npz"
    code, _, err = cli(capsys, "protect", "--data", data, "--out", out, "--quiet", "--surrogate", "resnet9000")
    assert_one_line_error(code, err, "unknown surrogate 'resnet9000'", "choose one of", "imagenet:efficientnet_lite0")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", out, "--quiet", "--surrogate", "clip:RN50")
    assert_one_line_error(code, err, "clip:<arch>/<tag or checkpoint>")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", out, "--method", "magic")
    assert_one_line_error(code, err, "argument --method", "invalid choice: 'magic'", "--help")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", out, "--opt", "steps")
    assert_one_line_error(code, err, "--opt expects key=value")
    assert tree_state(tmp_path) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: test_device_cuda_runs_on_a_gpu covers --device cuda")
def test_device_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz")
    before = tree_state(tmp_path)
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--device", "cuda",
                       "--method", "uc", "--surrogate", "tiny", "--quiet")
    assert_one_line_error(code, err, "no GPU here", "--device cpu")
    code, _, err = cli(capsys, "evaluate", "--data", data, "--device", "cuda", "--epochs", 1, "--quiet")
    assert_one_line_error(code, err, "no GPU here", "--device cpu")
    assert tree_state(tmp_path) == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here: test_device_cuda_without_a_gpu_is_one_line "
                                                          "covers --device cuda")
def test_device_cuda_runs_on_a_gpu(tmp_path, capsys):
    from ucs_lite.data import load_npz
    from ucs_lite.precision import precision_label

    data = make_npz(tmp_path / "in.npz")
    prot, res = tmp_path / "o.npz", tmp_path / "r.json"
    code, _, err = cli(capsys, "protect", "--data", data, "--out", prot, "--device", "cuda", "--clusters", 3,
                       "--method", "uc", "--surrogate", "tiny", "--quiet", "--opt", "steps=2", "--opt",
                       "batch_per_cluster=4")
    assert code == 0, err
    meta = load_npz(prot).meta()
    assert meta["device"].startswith("cuda") and meta["max_abs_delta_255"] <= EPS255
    code, _, err = cli(capsys, "evaluate", "--data", prot, "--device", "cuda", "--epochs", 2, "--quiet", "--out", res)
    assert code == 0, err
    r = json.loads(res.read_text())
    assert r["device"].startswith("cuda") and 0 <= r["test_acc_final"] <= 1 and np.isfinite(r["per_epoch"][-1]["train_loss"])
    assert precision_label("cuda").startswith("cuda-")


def test_clip_weights_unreachable_fails_fast(tmp_path, capsys, monkeypatch, empty_hub):
    data = make_npz(tmp_path / "in.npz")
    before = tree_state(tmp_path)
    t = time.time()
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--quiet",
                       "--surrogate", "clip:RN50/openai")
    assert_one_line_error(code, err, "clip:RN50/openai", "local checkpoint", "imagenet:efficientnet_lite0")
    assert time.time() - t < 60
    assert tree_state(tmp_path) == before


def test_outputs_never_replace_inputs_or_existing_files(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz")
    existing = tmp_path / "old.npz"
    existing.write_bytes(b"previous result")
    before = tree_state(tmp_path)
    code, _, err = cli(capsys, "protect", "--data", data, "--out", data, *FAST)
    assert_one_line_error(code, err, str(data), "must not be an input")
    code, _, err = cli(capsys, "protect", "--data", "sample", "--out", SAMPLE_PATH, *FAST)
    assert_one_line_error(code, err, "must not be an input")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", existing, *FAST)
    assert_one_line_error(code, err, str(existing), "exists", "--overwrite")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--save-perturbation", data,
                       *FAST)
    assert_one_line_error(code, err, "--save-perturbation", "must not be an input")
    code, _, err = cli(capsys, "evaluate", "--data", data, "--out", data, "--quiet")
    assert_one_line_error(code, err, "must not be an input")
    t = time.time()  # an unwritable destination is refused before any work, not after the crafting
    code, _, err = cli(capsys, "protect", "--data", data, "--out", "/proc/ucs-lite/o.npz", *FAST)
    assert_one_line_error(code, err, "/proc/ucs-lite/o.npz", "cannot write under", "writable location")
    assert time.time() - t < 5
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path, *FAST)
    assert_one_line_error(code, err, "is a folder", "give a file name")
    assert tree_state(tmp_path) == before


def test_usage_errors_are_one_line(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz")
    code, _, err = cli(capsys, "protect", "--data", data)
    assert_one_line_error(code, err, "give --data IN.npz --out OUT.npz")
    code, _, err = cli(capsys, "protect", "--input-dir", tmp_path)
    assert_one_line_error(code, err, "--input-dir needs --output-dir")
    code, _, err = cli(capsys, "frobnicate")
    assert_one_line_error(code, err, "invalid choice: 'frobnicate'")
    import ucs_lite

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"ucs_lite {ucs_lite.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", ucs_lite.__version__)
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("ucs_lite")
    except PackageNotFoundError:
        installed = None
    if installed is not None:  # the installed metadata (pyproject) and the package agree
        assert installed == ucs_lite.__version__


# ------------------------------------------------------------------ atomic outputs

def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in Path(folder).rglob("*") if ".tmp-" in p.name]


def test_atomic_write_failure_keeps_old_and_leaves_no_temp(tmp_path, monkeypatch):
    from ucs_lite.data import atomic_write_bytes

    target = tmp_path / "result.json"

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # fails after the bytes went to the temporary file
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new" * 1000)
    assert not target.exists() and _leftovers(tmp_path) == []
    monkeypatch.undo()
    target.write_bytes(b"old")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def _fail_rename_to(monkeypatch, name: str) -> None:
    """The final rename onto ``name`` fails (disk full); any writer that bypassed the temporary file
    would already have left a file under the final name."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("target", ["o.npz", "delta.npz", "ck.pt", "r.json"])
def test_every_cli_writer_is_atomic(tmp_path, capsys, monkeypatch, target):
    data = make_npz(tmp_path / "in.npz")
    work = tmp_path / "work"
    work.mkdir()
    before = tree_state(data)
    if target == "r.json":
        bundle = tmp_path / "prot.npz"
        assert main(["protect", "--data", str(data), "--out", str(bundle), "--method", "random-class", "--quiet"]) == 0
        capsys.readouterr()
        _fail_rename_to(monkeypatch, target)
        code, _, err = cli(capsys, "evaluate", "--data", bundle, "--epochs", 1, "--out", work / target, "--quiet",
                           "--device", "cpu")
    else:
        _fail_rename_to(monkeypatch, target)
        code, _, err = cli(capsys, "protect", "--data", data, "--out", work / "o.npz", "--save-perturbation",
                           work / "delta.npz", "--checkpoint", work / "ck.pt", "--checkpoint-every", 1, *FAST)
    assert_one_line_error(code, err, str(work / target), "No space left on device")
    assert not (work / target).exists() and _leftovers(work) == []
    assert tree_state(data) == before


def test_folder_crash_midway_leaves_only_complete_files(tmp_path, monkeypatch):
    import ucs_lite.protect as P

    src, dst = tmp_path / "photos", tmp_path / "out"
    src.mkdir()
    for i in range(5):
        Image.fromarray(rgb(20, 20, i)).save(src / f"p{i}.png")
    before = tree_state(src)
    real, calls = P.apply_native, []

    def crash_on_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing outputs
        return real(*a, **k)

    monkeypatch.setattr(P, "apply_native", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        P.protect_folder(src, dst, p=2, surrogate="tiny", device="cpu", progress=False, method="uc", steps=1)
    written = sorted(p.name for p in dst.iterdir())
    assert written == ["p0.png", "p1.png"]  # complete files only; no summary, no temporaries
    for name in written:
        with Image.open(dst / name) as im:
            im.load()
            assert im.size == (20, 20)
    monkeypatch.undo()
    _fail_rename_to(monkeypatch, "p3.png")  # and a failed write of one PNG
    with pytest.raises(OSError):
        P.protect_folder(src, tmp_path / "out2", p=2, surrogate="tiny", device="cpu", progress=False, method="uc", steps=1)
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert tree_state(src) == before


# ------------------------------------------------------------------ resume after a kill

@pytest.mark.slow
def test_killed_uc_run_resumes_to_the_same_delta(tmp_path):
    steps = 40
    data = make_npz(tmp_path / "in.npz", n=30)
    before = tree_state(data)
    base = [sys.executable, "-m", "ucs_lite.cli", "protect", "--data", str(data), "--method", "uc",
            "--surrogate", "tiny", "--device", "cpu", "--clusters", "3", "--seed", "7", "--quiet", "--opt", f"steps={steps}",
            "--opt", "batch_per_cluster=4"]
    env = {**os.environ, "UCS_LITE_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    ref = subprocess.Popen(base + ["--out", str(tmp_path / "ref.npz"), "--save-perturbation",
                                   str(tmp_path / "ref_delta.npz")],
                           env={**env, "UCS_LITE_CACHE": str(tmp_path / "cache_ref")},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, delta, ck = tmp_path / "o.npz", tmp_path / "delta.npz", tmp_path / "run.ckpt"
    args = base + ["--out", str(out), "--save-perturbation", str(delta), "--checkpoint", str(ck),
                   "--checkpoint-every", "2"]
    env = {**env, "UCS_LITE_CACHE": str(tmp_path / "cache")}
    run = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not ck.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, run.stderr.read().decode()[-2000:]
    state = torch.load(ck, weights_only=True)
    assert 0 < state["step"] < steps  # killed mid-run, from a complete checkpoint
    assert not out.exists() and not delta.exists()  # nothing under a final name
    res = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ref_out, ref_err = ref.communicate(timeout=300)
    assert ref.returncode == 0, ref_err.decode()[-2000:]
    from ucs_lite.data import load_npz
    from ucs_lite.noise import Perturbation

    a, b = Perturbation.load(delta), Perturbation.load(tmp_path / "ref_delta.npz")
    assert a.meta["resumed_from_step"] == state["step"] and b.meta["resumed_from_step"] == 0  # really resumed
    assert a.delta.tobytes() == b.delta.tobytes() and np.array_equal(a.assignment, b.assignment)
    assert a.meta["loss_curve"] == b.meta["loss_curve"]
    pa, pb = load_npz(out), load_npz(tmp_path / "ref.npz")
    assert np.array_equal(pa.train.images, pb.train.images)
    assert pa.meta()["config_hash"] == pb.meta()["config_hash"]  # checkpointing is not part of the config
    assert tree_state(data) == before


def test_resume_argument_errors(tmp_path, capsys):
    data = make_npz(tmp_path / "in.npz")
    ck = tmp_path / "run.ckpt"
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--resume", *FAST)
    assert_one_line_error(code, err, "--resume needs --checkpoint PATH")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--method", "random-class",
                       "--checkpoint", ck, "--quiet")
    assert_one_line_error(code, err, "--checkpoint works with --method uc or uc-robust only")
    ck.write_bytes(b"garbage")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--checkpoint", ck, *FAST)
    assert_one_line_error(code, err, str(ck), "exists", "--resume")
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o.npz", "--checkpoint", ck,
                       "--resume", *FAST)
    assert_one_line_error(code, err, str(ck), "not a readable UC checkpoint", "delete it")
    ck.unlink()
    assert main(["protect", "--data", str(data), "--out", str(tmp_path / "o.npz"), "--checkpoint", str(ck),
                 "--clusters", "3", *FAST]) == 0
    capsys.readouterr()
    code, _, err = cli(capsys, "protect", "--data", data, "--out", tmp_path / "o2.npz", "--checkpoint", ck,
                       "--resume", "--seed", 1, "--clusters", 3, *FAST)
    assert_one_line_error(code, err, str(ck), "another configuration", "delete it")
    assert not (tmp_path / "o2.npz").exists()


# ------------------------------------------------------------------ reproducibility and provenance

METHOD_OPTIONS = {
    "uc": dict(steps=3, batch_per_cluster=4),
    "uc-robust": dict(steps=3, batch_per_cluster=4),
    "random-cluster": {},
    "random-class": {},
    "em-class": dict(rounds=2, train_steps=2, pgd_steps=2, batch_size=16),
    "em-sample": dict(rounds=2, train_steps=2, pgd_steps=2, batch_size=16),
    "eot-cluster": dict(rounds=1, train_steps=2, batch_size=16),
}


@pytest.mark.parametrize("method", sorted(METHOD_OPTIONS))
def test_same_seed_same_bits(tmp_path, method):
    from ucs_lite.data import load_npz
    from ucs_lite.protect import protect_bundle

    bundle = load_npz(make_npz(tmp_path / "in.npz", n=24, size=16))
    runs = []
    for noise in (0, 1):  # whatever the global RNGs hold, the seed decides
        torch.manual_seed(1000 + noise)
        np.random.seed(1000 + noise)
        prot, pert = protect_bundle(bundle, method, seed=3, p=3, surrogate="tiny", device="cpu", progress=False,
                                    **METHOD_OPTIONS[method])
        runs.append((prot, pert))
    (p1, d1), (p2, d2) = runs
    assert d1.delta.tobytes() == d2.delta.tobytes() and np.array_equal(d1.assignment, d2.assignment)
    assert np.array_equal(p1.train.images, p2.train.images)
    m1, m2 = p1.meta(), p2.meta()
    assert m1["config_hash"] == m2["config_hash"] and m1["seed"] == 3 and m1["device"] == "cpu"
    assert set(m1["versions"]) == {"ucs_lite", "torch", "numpy", "scikit-learn", "python"}
    other, _ = protect_bundle(bundle, method, seed=4, p=3, surrogate="tiny", device="cpu", progress=False,
                              **METHOD_OPTIONS[method])
    assert other.meta()["config_hash"] != m1["config_hash"]


def test_run_json_records_provenance(tmp_path, capsys):
    import platform

    import ucs_lite

    data = make_npz(tmp_path / "in.npz")
    prot, res = tmp_path / "prot.npz", tmp_path / "result.json"
    assert main(["protect", "--data", str(data), "--out", str(prot), "--clusters", "3", "--seed", "5", *FAST]) == 0
    assert main(["evaluate", "--data", str(prot), "--epochs", "1", "--seed", "2", "--out", str(res), "--quiet",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    from ucs_lite.data import load_npz

    meta = load_npz(prot).meta()
    result = json.loads(res.read_text())
    for rec, seed in ((meta, 5), (result, 2)):
        import importlib.metadata as md

        assert rec["versions"] == {"ucs_lite": ucs_lite.__version__, "torch": torch.__version__,
                                   "numpy": np.__version__, "scikit-learn": md.version("scikit-learn"),
                                   "python": platform.python_version()}
        assert rec["seed"] == seed and rec["device"] == "cpu" and len(rec["config_hash"]) == 16
    assert meta["config"]["surrogate"] == "tiny" and meta["config"]["options"]["steps"] == 2
    assert {"test_acc_final", "test_acc_peak", "per_epoch", "labels", "n_classes", "chance"} <= set(result)


def test_evaluate_versus_clean_reports_removed(tmp_path, capsys, monkeypatch):
    """``evaluate --clean`` trains the same attacker on the unprotected bundle and reports removed = (clean −
    protected) / (clean − chance) from the two runs; a clean bundle with other test images is refused."""
    from ucs_lite.metrics import removed

    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])

    def learnable(n: int) -> tuple[np.ndarray, np.ndarray]:  # class = dominant colour: a clean attacker learns it
        y = np.arange(n) % 3
        x = np.clip(colours[y][:, None, None, :] + rng.integers(-40, 41, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
        return x, y

    (xtr, ytr), (xte, yte) = learnable(90), learnable(30)
    data = make_npz(tmp_path / "in.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    prot, res = tmp_path / "prot.npz", tmp_path / "result.json"
    assert main(["protect", "--data", str(data), "--out", str(prot), "--method", "random-class", "--quiet"]) == 0
    capsys.readouterr()
    code, out, err = cli(capsys, "evaluate", "--data", prot, "--clean", data, "--epochs", 2, "--out", res, "--quiet",
                         "--device", "cpu")
    assert code == 0, err
    r = json.loads(res.read_text())
    assert json.loads(out)["removed_peak"] == r["removed_peak"]
    code, out2, _ = cli(capsys, "evaluate", "--data", data, "--epochs", 2, "--quiet", "--device", "cpu")
    clean = json.loads(out2)
    assert r["clean_test_acc_peak"] == clean["test_acc_peak"] and r["clean_test_acc_final"] == clean["test_acc_final"]
    assert clean["test_acc_peak"] > r["chance"] + 0.2  # else removed would be NaN and the formula untested
    assert r["removed_peak"] == removed(clean["test_acc_peak"], r["test_acc_peak"], r["chance"])
    assert r["removed_final"] == removed(clean["test_acc_final"], r["test_acc_final"], r["chance"])
    other = make_npz(tmp_path / "other.npz", seed=1)
    code, _, err = cli(capsys, "evaluate", "--data", prot, "--clean", other, "--epochs", 1, "--quiet", "--device", "cpu")
    assert_one_line_error(code, err, "test images differ")
