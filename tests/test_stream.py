"""ucs_lite.stream (issue 37): a folder protected in chunks, resumed after an abrupt stop and sharded over two
torchrun workers gives the same bytes as one uninterrupted process; streamed K-means; one-line errors.

Small on purpose: 48 images of 40×48 px in three colour groups (nested folders, JPEG and PNG), the random-init
``tiny`` surrogate, chunks of 16 images; ``random-cluster`` (its δ, like ``gen-cluster``'s, is drawn from the seed
alone and takes a tenth of the time)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ucs_lite.data import SkippedInput
from ucs_lite.errors import DataError
from ucs_lite.stream import (MANIFEST, STATE_DIR, STOP_AFTER_ENV, STOP_EXIT_CODE, RowFile, StreamConfig,
                             protect_stream, read_manifest, stream_kmeans)

ROOT = Path(__file__).resolve().parent.parent
N_IMAGES = 48
ARGS = ["--surrogate", "tiny", "--method", "random-cluster", "--clusters", "3", "--chunk-size", "16",
        "--batch-size", "8", "--quiet"]


def make_folder(root: Path, n: int = N_IMAGES) -> Path:
    """``n`` images (40×48, three colour groups by i % 3) under ``root/g<k>/``, every other one PNG, plus a text
    file and a corrupt JPEG that must be skipped with a warning."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / f"g{i % 3}" / ("deep" if i % 4 == 0 else "")
        d.mkdir(parents=True, exist_ok=True)
        base = np.array([90 * (i % 3), 60, 220 - 90 * (i % 3)], np.int64)
        img = np.clip(base + rng.integers(0, 40, (40, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(d / f"im{i:03d}.{'png' if i % 2 else 'jpg'}")
    (root / "notes.txt").write_text("not an image")
    (root / "g0" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return root


def config(inp: Path, out: Path, **kw) -> StreamConfig:
    """The in-process equivalent of :data:`ARGS`."""
    return StreamConfig(str(inp), str(out), method="random-cluster", p=3, surrogate="tiny", chunk_size=16,
                        batch_size=8, **kw)


def run_cli(inp: Path, out: Path, cache: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m ucs_lite.stream`` (what torchrun starts on each worker) as a separate process."""
    e = {**os.environ, "UCS_LITE_CACHE": str(cache), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "ucs_lite.stream", "--input-dir", str(inp), "--output-dir", str(out),
                           *ARGS, *extra], env=e, cwd=ROOT, capture_output=True, text=True, timeout=300)


def file_digests(out: Path) -> dict[str, str]:
    """sha256 of every protected PNG under ``out`` (state folder and manifest left out), by relative path."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*.png")) if STATE_DIR not in p.parts}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("stream_in"))


@pytest.fixture(scope="module")
def baseline(folder, tmp_path_factory) -> tuple[Path, dict]:
    """One uninterrupted in-process run (from an empty cache): (output folder, summary)."""
    out = tmp_path_factory.mktemp("stream_base") / "out"
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mp.setenv("UCS_LITE_CACHE", str(tmp_path_factory.mktemp("cache_base")))
        summary = protect_stream(config(folder, out), device="cpu", progress=False)
    summary["_warnings"] = [str(w.message) for w in caught if issubclass(w.category, SkippedInput)]
    return out, summary


def test_every_readable_image_is_protected_once_within_eps(folder, baseline):
    out, summary = baseline
    assert summary["images"] == N_IMAGES + 1 and summary["written"] == N_IMAGES and summary["skipped"] == 2
    assert any("notes.txt" in w for w in summary["_warnings"]) and any("broken.jpg" in w for w in summary["_warnings"])
    manifest = read_manifest(out)
    assert [r["i"] for r in manifest] == sorted(r["i"] for r in manifest) and len(manifest) == N_IMAGES
    from ucs_lite.data import read_image

    for rec in manifest:
        data = (out / rec["output"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rec["sha256"]
        clean, prot = read_image(folder / rec["input"]).astype(int), read_image(out / rec["output"]).astype(int)
        assert prot.shape == clean.shape and 0 < np.abs(prot - clean).max() <= 16 + 1
    # three very different colour groups: each group lands in one cluster, the clusters differ
    by_group: dict[str, set] = {}
    for rec in manifest:
        by_group.setdefault(rec["input"].split("/")[0], set()).add(rec["cluster"])
    assert all(len(c) == 1 for c in by_group.values()) and len({c.pop() for c in by_group.values()}) == 3
    assert set(summary["stages"]) == {"list", "features", "cluster", "delta", "apply", "finish"}
    assert summary["stages"]["features"]["computed"] == N_IMAGES


def test_killed_run_resumes_bit_identical_and_never_rewrites(folder, baseline, tmp_path):
    out = tmp_path / "out"
    cache = tmp_path / "cache"
    stopped = run_cli(folder, out, cache, env={STOP_AFTER_ENV: "10"})
    assert stopped.returncode == STOP_EXIT_CODE, stopped.stderr[-2000:]
    first = {p: (out / p).stat().st_mtime_ns for p in file_digests(out)}
    assert len(first) == 10 and not (out / MANIFEST).exists()
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setenv("UCS_LITE_CACHE", str(cache))
        summary = protect_stream(config(folder, out), device="cpu", progress=False)
    assert summary["resumed"] and summary["stages"]["apply"]["already"] == 10
    assert summary["stages"]["features"]["reused"] == N_IMAGES + 1 and summary["stages"]["features"]["computed"] == 0
    assert {p: (out / p).stat().st_mtime_ns for p in first} == first  # finished files were not written again
    assert (out / MANIFEST).read_bytes() == (baseline[0] / MANIFEST).read_bytes()
    assert file_digests(out) == file_digests(baseline[0])


def test_resume_with_other_settings_is_refused(folder, baseline):
    with pytest.raises(DataError, match=r"other settings \(seed\)"):
        protect_stream(config(folder, baseline[0], seed=1), device="cpu", progress=False)


def test_non_empty_output_and_output_inside_input_are_refused(folder, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.png").write_bytes(b"x")
    with pytest.raises(DataError, match="not empty"):
        protect_stream(config(folder, tmp_path / "used"), device="cpu", progress=False)
    with pytest.raises(DataError, match="inside the input"):
        protect_stream(config(folder, folder / "out"), device="cpu", progress=False)


def test_methods_that_cannot_stream_are_one_line_errors(folder, tmp_path):
    from ucs_lite.cli import main

    for method in ("eot-cluster", "random-class"):  # argparse refuses the choice: exit 2
        assert main(["protect-stream", "--input-dir", str(folder), "--output-dir", str(tmp_path / "o"),
                     "--method", method]) == 2
    with pytest.raises(ValueError, match="cannot be streamed"):
        protect_stream(StreamConfig(str(folder), str(tmp_path / "o"), method="jpeg-cluster"), device="cpu")


def test_streamed_kmeans_recovers_separated_blobs_across_chunks(tmp_path):
    """Four well-separated blobs in random order, streamed in chunks of 50 with two unreadable rows: the clusters
    are the blobs (NMI 1), whatever the chunking."""
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 400)
    centres = rng.normal(0, 10, (4, 16))
    x = (centres[truth] + rng.normal(0, 0.5, (400, 16))).astype(np.float32)
    feats = RowFile(tmp_path / "f.npy", (400, 16), "float32", create=True)
    valid = RowFile(tmp_path / "v.npy", (400,), "int8", create=True)
    feats.write(0, x)
    ok = np.ones(400, np.int8)
    ok[[3, 200]] = 0
    valid.write(0, ok)
    assert np.array_equal(feats.read(10, 20), x[10:20])
    fit = stream_kmeans(feats, valid, p=4, seed=0, mode="standardize", chunk=50, epochs=2, init_size=100)
    lab = fit["model"].predict(((x - fit["mean"]) / fit["std"]) / np.linalg.norm((x - fit["mean"]) / fit["std"],
                                                                                axis=1, keepdims=True))
    assert fit["n_valid"] == 398
    assert normalized_mutual_info_score(truth, lab) == pytest.approx(1.0)


def _gloo_missing() -> str | None:
    try:
        import torch.distributed as td
    except ImportError:
        return "torch.distributed is not importable"
    if not td.is_available() or not td.is_gloo_available():
        return "this torch build has no torch.distributed gloo backend"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_gloo_missing() is not None, reason=str(_gloo_missing()))
@pytest.mark.parametrize("launcher", ["local", "torchrun"])
def test_two_workers_give_the_same_bytes(folder, baseline, tmp_path, launcher):
    """Two workers started by the built-in launcher (ucs_lite.launch, the default) or by torchrun: every byte as one
    process's."""
    out = tmp_path / "out"
    r = run_cli(folder, out, tmp_path / "cache", "--workers", "2", "--launcher", launcher)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "ucs_lite_stream_summary.json").read_text())
    assert summary["workers"] == 2 and summary["threads_per_worker"] >= 1
    assert (out / MANIFEST).read_bytes() == (baseline[0] / MANIFEST).read_bytes()
    assert file_digests(out) == file_digests(baseline[0])


@pytest.mark.slow
@pytest.mark.skipif(_gloo_missing() is not None, reason=str(_gloo_missing()))
def test_local_launcher_stops_the_others_when_a_worker_fails_and_the_rerun_resumes(folder, baseline, tmp_path):
    """A worker that stops abruptly in the apply stage (the test hook) makes the launcher stop the other worker and
    return its exit code; the same command then resumes to the same bytes as one process. The launcher process
    imports neither torch nor numpy."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    stopped = run_cli(folder, out, cache, "--workers", "2", env={STOP_AFTER_ENV: "5"})
    assert stopped.returncode == STOP_EXIT_CODE, stopped.stderr[-3000:]
    assert not (out / MANIFEST).exists()
    r = run_cli(folder, out, cache, "--workers", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / MANIFEST).read_bytes() == (baseline[0] / MANIFEST).read_bytes()
    assert file_digests(out) == file_digests(baseline[0])
    probe = subprocess.run([sys.executable, "-c", "import sys, ucs_lite.launch; "
                            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


def test_local_launcher_environment():
    from ucs_lite.launch import worker_env

    env = worker_env(1, 2, 12345, threads=3, base={"MALLOC_ARENA_MAX": "8"})
    assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"], env["LOCAL_WORLD_SIZE"]) == ("1", "1", "2", "2")
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["OMP_NUM_THREADS"]) == ("127.0.0.1", "12345", "3")
    assert env["MALLOC_ARENA_MAX"] == "8"  # the user's setting wins


def test_uc_is_crafted_on_a_bounded_sample_of_each_cluster(folder, tmp_path, monkeypatch):
    from ucs_lite.noise import Perturbation

    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path / "cache"))
    cfg = StreamConfig(str(folder), str(tmp_path / "out"), method="uc", p=3, surrogate="tiny", chunk_size=16,
                       batch_size=8, work_size=32, sample_per_cluster=5, options={"steps": 2, "batch_per_cluster": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = protect_stream(cfg, device="cpu", progress=False)
    assert summary["written"] == N_IMAGES
    pert = Perturbation.load(tmp_path / "out" / STATE_DIR / "delta.npz")
    assert pert.meta["sample_per_cluster"] == [5, 5, 5] and pert.meta["craft"]["steps"] == 2
    assert pert.delta.shape == (3, 3, 32, 32) and np.abs(pert.delta).max() <= pert.eps + 1e-6


@pytest.mark.parametrize("name, resolution", [("tiny", None),
                                              pytest.param("imagenet:efficientnet_lite0", 64, marks=pytest.mark.slow)])
def test_torchscript_copy_of_the_surrogate_gives_the_same_features_bit_for_bit(name, resolution, tmp_path,
                                                                              monkeypatch):
    """The feature stage's TorchScript copy (no timm in the workers) against the eager surrogate, batch splits
    included: equal bit for bit, or a stream's clusters could differ from folder mode's for no reason."""
    import torch

    from ucs_lite.stream import encode_chunk, feature_surrogate, traced_path
    from ucs_lite.surrogates import create_surrogate

    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path))
    traced = feature_surrogate(name, torch.device("cpu"), resolution)
    assert traced.engine == "torchscript" and traced_path(name, resolution).is_file()
    eager = create_surrogate(name, device="cpu", resolution=resolution)
    images = np.random.default_rng(0).integers(0, 256, (21, 48, 48, 3), dtype=np.uint8)
    want = encode_chunk(eager, images, 8)
    assert np.array_equal(encode_chunk(traced, images, 8), want)
    again = feature_surrogate(name, torch.device("cpu"), resolution)  # loaded from the file this time
    for _ in range(3):  # TorchScript's profiling executor specialises a graph after its first runs
        assert np.array_equal(encode_chunk(again, images, 8), want)
