"""Protect a folder of any size: streamed, bounded memory, resumable, and sharded over workers (issue 37).

``ucs-lite protect-stream --input-dir IN --output-dir OUT [--workers N]`` (``--workers N``: N local processes
started by :mod:`ucs_lite.launch`; on several machines ``torchrun ... -m ucs_lite.stream``) runs folder mode's label-free cluster noise in six stages, each of which writes what it made to disk before the
next one starts, so that memory does not grow with the number of images N and a killed run continues where it
stopped when the same command is run again:

1. **list** (rank 0): walk ``IN`` (sorted, nested, hidden entries skipped) and write ``OUT/.ucs_stream/files.tsv``
   (input and output relative path per line) with its line offsets (``files.idx.npy``, int64 N+1).
2. **features** (sharded): images are read in chunks of ``chunk_size`` (chunk c holds images
   [c·chunk_size, (c+1)·chunk_size)), shrunk to ``work_size``², encoded by the surrogate in batches of ``batch_size``
   aligned to the chunk, and written to ``features.npy`` (float32 N×D) with a per-chunk marker. The features of a
   chunk are also cached under the one cache root (``features/stream/<key>.npy``, keyed by
   :func:`ucs_lite.cluster.feature_key` and the chunk's pixels), so another run on the same images reuses them.
3. **cluster** (rank 0): mean / std of the features streamed chunk by chunk, K-means initialised by a full
   (``n_init=10``) K-means on a seeded sample of at most ``kmeans_init`` features, then scikit-learn's
   ``MiniBatchKMeans.partial_fit`` on shuffled mini-batches (chunks in a seeded order, eight at a time, rows mixed)
   for ``kmeans_epochs`` passes (fixed ``random_state``);
   ``assign.npy`` (int64 N, −1 for unreadable files) and the raw-feature centroids.
4. **delta** (rank 0): one δ per cluster at ``work_size``². ``gen-cluster`` and ``random-cluster`` build δ from the
   seed alone (their members do not enter it); ``uc`` / ``uc-robust`` optimise δ on a bounded, seeded sample of at
   most ``sample_per_cluster`` members of each cluster.
5. **apply** (sharded): each image is read at full size, its cluster's δ (texture-masked as the strength says) is
   resized onto it (:func:`ucs_lite.protect.apply_native`), the PNG is written atomically and a line is appended
   to the manifest (``.ucs_stream/manifest/part-*.jsonl``: index, input, output, cluster, sha256). A file in the
   manifest is never written again.
6. **finish** (rank 0): the manifest parts merged in index order into ``OUT/ucs_lite_manifest.jsonl`` and a summary
   with per-stage seconds and images per second (``OUT/ucs_lite_stream_summary.json``).

Features, assignments and validity flags are read and written by row ranges (``pread`` / ``pwrite`` on ``.npy``
files) rather than through a memory map, whose touched pages would count in the process's resident memory and grow
with N. What does grow with N: the validity flags read whole at the cluster stage (1 byte per image plus 8 per image
for the sampled indices) and the done-flags of the apply stage (1 byte per image).

Sharding (``torch.distributed``, gloo backend, ``env://`` rendezvous; the workers started by :mod:`ucs_lite.launch`
on one machine, a launcher that imports no torch, or by ``torchrun`` on one or several machines): rank r takes chunks r, r + W, r + 2W, …
of the feature and apply stages; K-means and δ run on rank 0, the others wait at a barrier and read its files.
Because chunk and batch boundaries depend on the image index only, every batch holds the same images whatever the
number of workers, and the outputs are identical to one process's (measured: tests/test_stream.py, docs/scale.md).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import heapq
import io
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import numpy as np

from . import __version__
from .data import IMAGE_SUFFIXES, SkippedInput, read_image, resize_uint8
from .errors import DataError, InputError
from .files import atomic_write_bytes, cache_dir, png_bytes
from .methods import DEFAULT_FOLDER_METHOD, DEFAULT_SURROGATE, FOLDER_METHODS
from .strengths import DEFAULT_STRENGTH, STRENGTHS, resolve_strength

__all__ = ["StreamConfig", "Dist", "protect_stream", "init_dist", "add_stream_arguments", "main", "STREAM_METHODS",
           "PATTERN_METHODS", "SAMPLED_METHODS", "STATE_DIR", "MANIFEST", "SUMMARY", "read_manifest"]

#: δ built from the seed alone: these stream with no sample of any cluster's images.
PATTERN_METHODS = ("gen-cluster", "random-cluster")
#: δ optimised through the surrogate on each cluster's images: crafted on a bounded sample of each cluster.
SAMPLED_METHODS = ("uc", "uc-robust")
STREAM_METHODS = PATTERN_METHODS + SAMPLED_METHODS
STATE_DIR = ".ucs_stream"
MANIFEST = "ucs_lite_manifest.jsonl"
SUMMARY = "ucs_lite_stream_summary.json"
#: test hook: a process exits abruptly (exit code 75, nothing cleaned up) after writing this many protected images
STOP_AFTER_ENV = "UCS_LITE_STREAM_STOP_AFTER"
STOP_EXIT_CODE = 75


# ------------------------------------------------------------------------------------------------ configuration

@dataclass
class StreamConfig:
    """What a streamed run does. Every field but the folders changes the outputs and is checked on resume.

    ``eps`` in [0, 1] units (None: the strength's); ``resolution``: the side the surrogate encodes at (None: its
    own, 224 px for EfficientNet-Lite0); ``work_size``: the side images are shrunk to for features and δ.
    """

    input_dir: str
    output_dir: str
    method: str = DEFAULT_FOLDER_METHOD
    p: int = 10
    eps: float | None = None
    seed: int = 0
    surrogate: str = DEFAULT_SURROGATE
    resolution: int | None = None
    work_size: int = 64
    strength: str = DEFAULT_STRENGTH
    chunk_size: int = 1024
    batch_size: int = 64
    kmeans_epochs: int = 3
    kmeans_init: int = 10_000
    sample_per_cluster: int = 256
    options: dict = field(default_factory=dict)

    def identity(self, precision: str) -> dict:
        """The settings that decide the outputs (folders left out), with the ucs_lite version and the precision the
        surrogate runs in: a resumed run must match them."""
        d = dataclasses.asdict(self)
        for k in ("input_dir", "output_dir"):
            d.pop(k)
        return {**d, "precision": precision, "version": __version__}


def check_config(cfg: StreamConfig) -> None:
    """One-line ValueError for a setting no run can use (before any image is read)."""
    if cfg.method not in STREAM_METHODS:
        why = ("folder mode does not craft it" if cfg.method not in FOLDER_METHODS else "")
        raise InputError(f"--method {cfg.method} cannot be streamed{' (' + why + ')' if why else ''}; use one of "
                         f"{', '.join(STREAM_METHODS)}")
    if cfg.strength not in STRENGTHS:
        raise InputError(f"--strength {cfg.strength}: choose one of {', '.join(STRENGTHS)}")
    for name in ("p", "work_size", "chunk_size", "batch_size", "kmeans_epochs", "kmeans_init", "sample_per_cluster"):
        if int(getattr(cfg, name)) < 1:
            raise InputError(f"{name} = {getattr(cfg, name)} must be at least 1")
    if cfg.kmeans_init < cfg.p:
        raise InputError(f"kmeans_init = {cfg.kmeans_init} must be at least p = {cfg.p}")


def craft_options(cfg: StreamConfig) -> dict:
    """The method's options as folder mode crafts them: the method's defaults and presets, then the strength's shape
    (:func:`ucs_lite.protect._strength_options`), then the user's ``options`` (checked)."""
    from .noise.registry import check_options, option_defaults
    from .protect import _strength_options

    check_options(cfg.method, cfg.options)
    return {**option_defaults(cfg.method), **_strength_options(cfg.method, resolve_strength(cfg.strength)),
            **cfg.options}


# ------------------------------------------------------------------------------------------------ workers

@dataclass
class Dist:
    """This process's place among the workers: ``rank`` in [0, ``world``), ``local_world`` workers on this machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every worker (no-op for one process)."""
        if self.world > 1:
            import torch.distributed as td

            td.barrier()

    def sum(self, values: list[int]) -> list[int]:
        """Element-wise sum of small integer counts over all workers."""
        if self.world == 1:
            return list(values)
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.int64)
        td.all_reduce(t)
        return [int(v) for v in t]

    def close(self) -> None:
        """Wait for every worker, then leave the process group (a worker that exits while gloo still holds
        connections aborts)."""
        if self.world > 1:
            import torch.distributed as td

            if td.is_initialized():
                td.barrier()
                td.destroy_process_group()

    def mine(self, n_chunks: int) -> range:
        """The chunks this worker handles: rank, rank + world, …"""
        return range(self.rank, n_chunks, self.world)


def init_dist() -> Dist:
    """Join the process group the launcher (:mod:`ucs_lite.launch` or torchrun) described in the environment
    (``WORLD_SIZE`` > 1: gloo backend, 24 h barrier timeout, since rank 0 clusters alone while the others wait); one
    process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = (int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if world <= 1:
        return Dist(0, 1, *local)
    import torch.distributed as td

    if not (td.is_available() and td.is_gloo_available()):
        raise InputError("this torch build has no torch.distributed gloo backend; run with --workers 1")
    if not td.is_initialized():
        td.init_process_group("gloo", timeout=timedelta(hours=24))
    return Dist(td.get_rank(), td.get_world_size(), *local)


# ------------------------------------------------------------------------------------------------ the surrogate

#: surrogates whose weights their name fixes (the pip package's file; a seeded init): on a CPU the feature stage runs
#: a TorchScript copy of their backbone (:func:`feature_surrogate`), so that a worker does not import timm and,
#: through it, torchvision (about 0.2 GB of resident memory per process; docs/scale.md)
TRACEABLE = ("imagenet:efficientnet_lite0", "efficientnet_lite0", "tiny")


def traced_path(name: str, resolution: int | None) -> Path:
    """Where the TorchScript copy of surrogate ``name``'s backbone at ``resolution`` (None: its own) is kept: under
    the cache root's ``surrogates/traced/``, named by the torch and ucs_lite versions."""
    import re

    import torch

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return (cache_dir() / "surrogates" / "traced"
            / f"{slug}-{resolution or 'default'}px-torch{torch.__version__}-ucs{__version__}.pt".replace("+", "_"))


def make_traced(name: str, resolution: int | None) -> Path:
    """Build surrogate ``name`` (on the CPU), trace its backbone at its resolution (channels-last input, as
    :meth:`~ucs_lite.surrogates.Surrogate.encode` feeds it) and save it atomically at :func:`traced_path` with
    what :func:`load_traced` needs (name, resolution, dimension, normalisation). Returns the path."""
    import torch

    from .surrogates import create_surrogate

    s = create_surrogate(name, device="cpu", resolution=resolution)
    x = torch.zeros(2, 3, s.resolution, s.resolution).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning: padding fixed at this resolution, as intended; FutureWarning
        traced = torch.jit.trace(s.backbone, x, check_trace=False)
        meta = {"name": s.name, "resolution": s.resolution, "dim": s.dim, "for_tests_only": s.for_tests_only,
                "mean": s.mean.flatten().tolist(), "std": s.std.flatten().tolist()}
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={"meta.json": json.dumps(meta)})
    path = traced_path(name, resolution)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_traced(path: Path, device):
    """A :class:`~ucs_lite.surrogates.Surrogate` around the TorchScript backbone saved by :func:`make_traced`."""
    import torch

    from .surrogates import Surrogate

    extra = {"meta.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export, whose
        backbone = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)  # loader imports far more
    meta = json.loads(extra["meta.json"])
    s = Surrogate(backbone, meta["name"], meta["resolution"], tuple(meta["mean"]), tuple(meta["std"]), meta["dim"],
                  for_tests_only=meta["for_tests_only"])
    s.engine = "torchscript"
    return s.to(device).to(memory_format=torch.channels_last)


def uses_traced(name: str, device) -> bool:
    """Whether the feature stage runs surrogate ``name`` as a TorchScript copy on ``device`` (:data:`TRACEABLE`,
    CPU: the GPU path keeps the eager model and its autocast)."""
    return device.type == "cpu" and name in TRACEABLE


def prepare_surrogate(cfg: StreamConfig, device) -> None:
    """Make the TorchScript copy of the run's surrogate when the feature stage will use one and it is missing."""
    if uses_traced(cfg.surrogate, device) and not traced_path(cfg.surrogate, cfg.resolution).is_file():
        make_traced(cfg.surrogate, cfg.resolution)


def feature_surrogate(name: str, device, resolution: int | None):
    """The surrogate the feature stage encodes with: where :func:`uses_traced`, the TorchScript copy of its backbone
    (made first when missing; run with TorchScript's graph optimisations off, it executes the eager model's
    operations in the same order: features equal bit for bit on this machine, tests/test_stream.py); otherwise the
    surrogate itself (:func:`ucs_lite.surrogates.create_surrogate`). Its ``engine`` says which."""
    from .surrogates import create_surrogate

    if not uses_traced(name, device):
        s = create_surrogate(name, device=device, resolution=resolution)
        s.engine = "eager"
        return s
    path = traced_path(name, resolution)
    if not path.is_file():
        make_traced(name, resolution)
    try:
        return load_traced(path, device)
    except (RuntimeError, KeyError, ValueError):  # unreadable: made again
        make_traced(name, resolution)
        return load_traced(path, device)


# ------------------------------------------------------------------------------------------------ row files

class RowFile:
    """A ``.npy`` array of shape (N, *row) read and written by row ranges with ``pread`` / ``pwrite``: several
    processes may write disjoint rows; nothing is memory-mapped, so reading all of it does not grow the resident
    memory."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: str, create: bool = False) -> None:
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self.row_items = int(np.prod(self.shape[1:], dtype=np.int64)) if len(self.shape) > 1 else 1
        if create and not self._matches():
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
            np.lib.format.open_memmap(tmp, mode="w+", dtype=self.dtype, shape=self.shape).flush()  # sparse file
            os.replace(tmp, self.path)
        if not self._matches():
            raise DataError(f"{self.path}: not an array of {self.shape} {self.dtype}; delete {self.path.parent} "
                            "to start over")
        self.offset = np.load(self.path, mmap_mode="r").offset

    def _matches(self) -> bool:
        if not self.path.is_file():
            return False
        try:
            a = np.load(self.path, mmap_mode="r")
        except (ValueError, OSError):
            return False
        return a.shape == self.shape and a.dtype == self.dtype

    def _span(self, start: int) -> int:
        return self.offset + start * self.row_items * self.dtype.itemsize

    def write(self, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` (k, *row) at row ``start``."""
        data = np.ascontiguousarray(rows, dtype=self.dtype).tobytes()
        fd = os.open(self.path, os.O_WRONLY)
        try:
            done = 0
            while done < len(data):
                done += os.pwrite(fd, data[done:], self._span(start) + done)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a new array (stop - start, *row)."""
        n = (stop - start) * self.row_items * self.dtype.itemsize
        with open(self.path, "rb") as f:
            f.seek(self._span(start))
            buf = f.read(n)
        return np.frombuffer(buf, dtype=self.dtype).reshape((stop - start,) + self.shape[1:]).copy()


# ------------------------------------------------------------------------------------------------ stage 1: list

def _walk_images(src: Path) -> Iterator[tuple[list[Path], list[tuple[Path, str]]]]:
    """Per folder under ``src`` (sorted, depth first, hidden entries skipped): (its image files, sorted; its other
    files with the reason they are skipped)."""
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        images, other = [], []
        for name in sorted(f for f in files if not f.startswith(".")):
            p = Path(root) / name
            if "\t" in name or "\n" in name:
                other.append((p, "its name holds a tab or a line break; rename it to protect it"))
            elif p.suffix.lower() not in IMAGE_SUFFIXES:
                other.append((p, f"not an image type ucs-lite reads ({', '.join(IMAGE_SUFFIXES)}); "
                                 "convert it to PNG or JPEG to protect it"))
            elif not p.is_file():
                other.append((p, "not a regular file (a broken link?); point it at an image or remove it"))
            else:
                images.append(p)
        yield images, other


def list_folder(src: Path, state: Path) -> tuple[int, int]:
    """Stage 1: write ``state/files.tsv`` (``input<TAB>output`` relative paths, in walk order) and
    ``state/files.idx.npy`` (int64 N+1 line offsets), warning once per skipped file (also kept in
    ``state/skipped.jsonl``). Returns (N images, skipped files). Output names follow folder mode
    (:func:`ucs_lite.protect._output_names`: ``.png``, the suffix kept where two inputs would collide)."""
    from array import array

    from .protect import _output_names

    offsets = array("q", [0])
    n_skipped = 0
    tmp_list, tmp_skip = state / ".files.tsv.tmp", state / ".skipped.jsonl.tmp"
    with open(tmp_list, "wb") as out, open(tmp_skip, "w") as skip:
        for images, other in _walk_images(src):
            for p, why in other:
                warnings.warn(f"skipped {p}: {why}", SkippedInput, stacklevel=2)
                skip.write(json.dumps({"file": str(p.relative_to(src)), "error": why}) + "\n")
                n_skipped += 1
            names = _output_names(images, src) if images else {}
            for p in images:
                line = f"{p.relative_to(src)}\t{names[p]}\n".encode()
                out.write(line)
                offsets.append(offsets[-1] + len(line))
    np.save(state / ".files.idx.tmp.npy", np.frombuffer(offsets, dtype=np.int64))
    os.replace(tmp_skip, state / "skipped.jsonl")
    os.replace(state / ".files.idx.tmp.npy", state / "files.idx.npy")
    os.replace(tmp_list, state / "files.tsv")  # last: its presence marks the stage done
    return len(offsets) - 1, n_skipped


@dataclass
class FileList:
    """Random access to ``files.tsv`` by image index (one small read per chunk)."""

    state: Path

    def __post_init__(self) -> None:
        self.offsets = np.load(self.state / "files.idx.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def entries(self, start: int, stop: int) -> list[tuple[str, str]]:
        """(input, output) relative paths of images [start, stop)."""
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        with open(self.state / "files.tsv", "rb") as f:
            f.seek(a)
            text = f.read(b - a).decode()
        return [tuple(line.split("\t", 1)) for line in text.splitlines()]  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ stage 2: features

def _stat_key(src: Path, entries: list[tuple[str, str]]) -> str:
    """Hash of the chunk's input names, sizes and modification times (what a resumed run checks before reusing the
    chunk's features without reading it again)."""
    h = hashlib.sha256()
    for rel, _ in entries:
        try:
            st = os.stat(src / rel)
            h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{rel}|missing\n".encode())
    return h.hexdigest()[:24]


def read_small(src: Path, entries: list[tuple[str, str]], work_size: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Images of a chunk shrunk to ``work_size``² (as folder mode: JPEG draft decode, bicubic): (uint8 M×s×s×3 of the
    readable ones, bool validity per entry, skipped entries ``{"file", "error"}``, each warned)."""
    small, valid, skipped = [], np.zeros(len(entries), bool), []
    for j, (rel, _) in enumerate(entries):
        try:
            img = read_image(src / rel, draft=work_size)
        except DataError as e:
            warnings.warn(f"skipped {e}", SkippedInput, stacklevel=2)
            skipped.append({"file": rel, "error": str(e)})
            continue
        small.append(resize_uint8(img, work_size))
        valid[j] = True
    arr = np.stack(small) if small else np.zeros((0, work_size, work_size, 3), np.uint8)
    return arr, valid, skipped


def encode_chunk(surrogate, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Surrogate features float32 M×D of uint8 M×H×W×3 images, in batches of ``batch_size`` from the chunk's first
    image (so a batch holds the same images whatever the number of workers)."""
    import torch

    out = np.zeros((len(images), surrogate.dim), np.float32)
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(images[s:s + batch_size]).permute(0, 3, 1, 2).float().div_(255.0)
            out[s:s + len(x)] = surrogate.encode(x).cpu().numpy()
    return out


def chunk_features(surrogate, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, bool]:
    """(features float32 M×D of a chunk's uint8 images, whether they came from the cache). Cached under the cache
    root's ``features/stream/`` keyed by :func:`ucs_lite.cluster.feature_key`, the batch size and the pixels."""
    from .cluster import feature_key

    h = hashlib.sha256(repr(sorted({**feature_key(surrogate, images), "batch": batch_size,
                                    "engine": getattr(surrogate, "engine", "eager")}.items())).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    path = cache_dir() / "features" / "stream" / f"{h.hexdigest()[:24]}.npy"
    if path.is_file():
        try:
            f = np.load(path, allow_pickle=False)
            if f.shape == (len(images), surrogate.dim):
                return f, True
        except (ValueError, OSError):
            pass  # unreadable entry: computed again and replaced
    f = encode_chunk(surrogate, images, batch_size)
    buf = io.BytesIO()
    np.save(buf, f)
    atomic_write_bytes(path, buf.getvalue())
    return f, False


def features_stage(cfg: StreamConfig, src: Path, state: Path, files: FileList, surrogate, dist: Dist,
                   progress: bool) -> dict:
    """Stage 2 on this worker's chunks; returns {"computed", "cached", "reused", "skipped"} image counts (this
    worker). A chunk whose marker (``state/chunks/<c>.json``) matches its inputs' names, sizes and times is
    reused without reading it."""
    from tqdm.auto import tqdm

    n, c_size = len(files), cfg.chunk_size
    feats = RowFile(state / "features.npy", (n, surrogate.dim), "float32")
    valid_f = RowFile(state / "valid.npy", (n,), "int8")
    counts = {"computed": 0, "cached": 0, "reused": 0, "skipped": 0}
    for c in tqdm(dist.mine(-(-n // c_size)), desc=f"features [{surrogate.name} @{surrogate.resolution}px]",
                  disable=not progress, unit="chunk"):
        start, stop = c * c_size, min(n, (c + 1) * c_size)
        entries = files.entries(start, stop)
        marker = state / "chunks" / f"{c:07d}.json"
        key = _stat_key(src, entries)
        if marker.is_file() and json.loads(marker.read_text()).get("stat") == key:
            counts["reused"] += stop - start
            continue
        small, valid, skipped = read_small(src, entries, cfg.work_size)
        f, cached = chunk_features(surrogate, small, cfg.batch_size) if len(small) else (small[:0], False)
        rows = np.zeros((stop - start, surrogate.dim), np.float32)
        rows[valid] = f
        feats.write(start, rows)
        valid_f.write(start, valid.astype(np.int8))
        atomic_write_bytes(marker, json.dumps({"stat": key, "skipped": skipped}).encode())
        counts["cached" if cached else "computed"] += int(valid.sum())
        counts["skipped"] += len(skipped)
    return counts


# ------------------------------------------------------------------------------------------------ stage 3: cluster

def _prepare(raw: np.ndarray, mode: str, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """K-means input of raw features M×D (float64): ``standardize`` ((x − mean)/std) then L2, ``l2`` or ``none`` —
    the transforms of :func:`ucs_lite.cluster.preprocess_features`, with statistics streamed over all chunks."""
    f = raw.astype(np.float64)
    if mode == "none":
        return f
    if mode == "standardize":
        f = (f - mean) / std
    elif mode != "l2":
        raise InputError(f"feature_mode {mode!r} cannot be streamed (its statistics need every feature at once); "
                         "use standardize, l2 or none")
    return f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)


def _valid_rows(feats: RowFile, valid: RowFile, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw features of the readable images among [start, stop), their bool mask)."""
    ok = valid.read(start, stop).astype(bool)
    return feats.read(start, stop)[ok], ok


def _mixed_batches(feats: RowFile, valid: RowFile, chunk: int, mix: int, rng: np.random.Generator
                   ) -> Iterator[np.ndarray]:
    """One pass over the readable rows in mini-batches of about ``chunk`` rows drawn from a shuffle buffer: the
    chunks in a seeded random order, ``mix`` of them at a time, their rows shuffled together. Files are listed folder
    by folder, so one chunk often holds one kind of image (an ImageNet class); mini-batch K-means needs batches
    that look like the whole set. Memory: ``mix`` chunks of raw features."""
    n = feats.shape[0]
    order = rng.permutation(-(-n // chunk))
    for g in range(0, len(order), mix):
        group = [(c * chunk, min(n, (c + 1) * chunk)) for c in order[g:g + mix]]
        oks = [valid.read(a, b).astype(bool) for a, b in group]
        total = sum(int(ok.sum()) for ok in oks)
        # buf = concatenate(rows)[perm], built in place: row j of the concatenation goes to where[j] (perm's inverse),
        # one chunk at a time, so that only the buffer and one chunk are held (the same rows in the same order)
        perm = rng.permutation(total)
        where = np.empty_like(perm)
        where[perm] = np.arange(total)
        buf = np.empty((total, feats.shape[1]), np.float32)
        at = 0
        for (a, b), ok in zip(group, oks):
            rows = feats.read(a, b)[ok]
            buf[where[at:at + len(rows)]] = rows
            at += len(rows)
        del rows, where, perm
        for s in range(0, len(buf), chunk):
            yield buf[s:s + chunk]


def _distinct_rows(x: np.ndarray, enough: int) -> int:
    """The number of distinct rows of ``x`` (counted up to ``enough``; 0.0 and −0.0 alike), without the sorted copy
    ``np.unique(x, axis=0)`` makes."""
    seen: set[bytes] = set()
    for row in x:
        seen.add(hashlib.blake2b((row + 0.0).tobytes(), digest_size=16).digest())
        if len(seen) >= enough:
            break
    return len(seen)


def stream_kmeans(feats: RowFile, valid: RowFile, p: int, seed: int, mode: str, chunk: int, epochs: int,
                  init_size: int, mix: int = 8, progress: bool = False) -> dict:
    """K-means of the readable rows of ``feats`` (N×D float32 on disk) without holding them: mean / std streamed
    (float64), a full K-means (``n_init=10``, ``random_state=seed``) on a seeded sample of at most ``init_size`` rows
    as the start, then ``MiniBatchKMeans.partial_fit`` (no random reassignment of centres) on shuffled mini-batches
    of about ``chunk`` rows (:func:`_mixed_batches`, buffers of ``mix`` chunks) for ``epochs`` passes. Deterministic
    for a given seed and chunking. Returns {"model", "mean", "std", "n_valid"}."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from tqdm.auto import tqdm

    n, d = feats.shape
    s1, s2, m = np.zeros(d), np.zeros(d), 0
    for s in range(0, n, chunk):
        f, _ = _valid_rows(feats, valid, s, min(n, s + chunk))
        s1 += f.sum(0, dtype=np.float64)
        s2 += (f.astype(np.float64) ** 2).sum(0)
        m += len(f)
    if m < p:
        raise DataError(f"only {m} readable image(s): cannot make p = {p} clusters; use --clusters {max(1, m)} or less")
    mean = s1 / m
    std = np.sqrt(np.maximum(s2 / m - mean ** 2, 0)) + 1e-8
    rng = np.random.default_rng(seed)
    valid_idx = np.flatnonzero(valid.read(0, n).astype(bool))
    pick = np.sort(valid_idx[np.sort(rng.choice(m, size=min(m, init_size), replace=False))])
    del valid_idx
    sample = np.concatenate([feats.read(s, min(n, s + chunk))[pick[(pick >= s) & (pick < s + chunk)] - s]
                             for s in range(0, n, chunk)])
    del pick
    x0 = _prepare(sample, mode, mean, std)
    del sample
    if _distinct_rows(x0, p) < p:
        raise DataError(f"fewer than p = {p} distinct images (by surrogate features) in the K-means sample; "
                        "use fewer --clusters")
    init = KMeans(n_clusters=p, n_init=10, random_state=seed).fit(x0).cluster_centers_
    del x0
    km = MiniBatchKMeans(n_clusters=p, init=init, n_init=1, random_state=seed, batch_size=chunk,
                         reassignment_ratio=0.0)
    for _ in tqdm(range(epochs), desc="mini-batch K-means", disable=not progress, unit="pass"):
        for batch in _mixed_batches(feats, valid, chunk, mix, rng):
            if len(batch):
                km.partial_fit(_prepare(batch, mode, mean, std))
    return {"model": km, "mean": mean, "std": std, "n_valid": m}


def cluster_stage(cfg: StreamConfig, state: Path, n: int, dim: int, mode: str, progress: bool) -> dict:
    """Stage 3 (rank 0): :func:`stream_kmeans`, then every image's cluster into ``assign.npy`` (−1: unreadable) and
    the raw-feature centroid and size of each cluster into ``clusters.npz``. Returns its summary."""
    feats = RowFile(state / "features.npy", (n, dim), "float32")
    valid = RowFile(state / "valid.npy", (n,), "int8")
    fit = stream_kmeans(feats, valid, cfg.p, cfg.seed, mode, cfg.chunk_size, cfg.kmeans_epochs, cfg.kmeans_init,
                        progress=progress)
    assign = RowFile(state / ".assign.tmp.npy", (n,), "int64", create=True)
    sums, sizes = np.zeros((cfg.p, dim)), np.zeros(cfg.p, np.int64)
    for s in range(0, n, cfg.chunk_size):
        f, ok = _valid_rows(feats, valid, s, min(n, s + cfg.chunk_size))
        lab = np.full(len(ok), -1, np.int64)
        if len(f):
            lab[ok] = fit["model"].predict(_prepare(f, mode, fit["mean"], fit["std"]))
            np.add.at(sums, lab[ok], f.astype(np.float64))
            sizes += np.bincount(lab[ok], minlength=cfg.p)
        assign.write(s, lab)
    centroids = (sums / np.maximum(sizes, 1)[:, None]).astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, centroids=centroids, fit_centroids=fit["model"].cluster_centers_, mean=fit["mean"], std=fit["std"],
             sizes=sizes)
    atomic_write_bytes(state / "clusters.npz", buf.getvalue())
    os.replace(state / ".assign.tmp.npy", state / "assign.npy")
    return {"n_valid": fit["n_valid"], "sizes": sizes.tolist(), "feature_mode": mode}


# ------------------------------------------------------------------------------------------------ stage 4: delta

def sample_members(assign: RowFile, p: int, per_cluster: int, seed: int, chunk: int) -> list[np.ndarray]:
    """A seeded sample of at most ``per_cluster`` image indices of each cluster, held in O(p · per_cluster) memory:
    every image gets a priority from ``default_rng([seed, chunk index])`` and each cluster keeps its lowest ones
    (the same sample whatever the number of workers)."""
    best = [(np.zeros(0), np.zeros(0, np.int64)) for _ in range(p)]
    n = assign.shape[0]
    for s in range(0, n, chunk):
        lab = assign.read(s, min(n, s + chunk))
        pri = np.random.default_rng([seed, s // chunk]).random(len(lab))
        for k in np.unique(lab[lab >= 0]):
            j = np.flatnonzero(lab == k)
            pr, ix = np.concatenate([best[k][0], pri[j]]), np.concatenate([best[k][1], j + s])
            keep = np.argsort(pr, kind="stable")[:per_cluster]
            best[k] = (pr[keep], ix[keep])
    return [np.sort(ix) for _, ix in best]


def delta_stage(cfg: StreamConfig, src: Path, state: Path, files: FileList, surrogate, progress: bool) -> dict:
    """Stage 4 (rank 0): δ per cluster (float32 p×3×s×s, s = ``work_size``, within ±ε) saved as a
    :class:`~ucs_lite.noise.Perturbation` in ``state/delta.npz`` (its assignment left empty: it is ``assign.npy``).
    Pattern methods (:data:`PATTERN_METHODS`) draw δ from the seed as folder mode does; sampled methods
    (:data:`SAMPLED_METHODS`) craft it on :func:`sample_members` with the streamed clustering."""
    from .noise import Perturbation
    from .protect import _achromatic

    construction = resolve_strength(cfg.strength)
    eps = construction.eps if cfg.eps is None else cfg.eps
    opts = craft_options(cfg)
    mode = opts.pop("feature_mode", "standardize")
    size = (cfg.work_size, cfg.work_size)
    meta: dict = {"strength": cfg.strength, "feature_mode": mode}
    if cfg.method in PATTERN_METHODS:
        from .noise.patterns import random_patterns

        delta = random_patterns(cfg.p, size, eps, cfg.seed, form=opts.get("form", "lowfreq"),
                                dist=opts.get("dist", "sign"), lowfreq_res=opts.get("lowfreq_res", 8),
                                gray=opts.get("gray", False))
    else:
        if getattr(surrogate, "engine", "eager") != "eager":  # crafting differentiates through the model itself
            # (the feature stage ran a TorchScript copy, since released)
            from .surrogates import create_surrogate

            surrogate = create_surrogate(cfg.surrogate, device=surrogate.device, resolution=cfg.resolution)
        delta, meta = _crafted_delta(cfg, src, state, files, surrogate, eps, mode, opts, progress, meta)
    pert = Perturbation(delta, np.zeros(0, np.int64), cfg.method, eps, cfg.seed, surrogate.name, meta=meta)
    if construction.colour == "luma":
        pert = _achromatic(pert)
    pert.save(state / "delta.npz")
    return {"eps_255": eps * 255, "shape": list(pert.delta.shape)}


def _crafted_delta(cfg: StreamConfig, src: Path, state: Path, files: FileList, surrogate, eps: float, mode: str,
                   opts: dict, progress: bool, meta: dict) -> tuple[np.ndarray, dict]:
    """``uc`` / ``uc-robust``'s δ crafted (:func:`ucs_lite.noise.uc.craft_uc`) on at most ``sample_per_cluster``
    sampled members of each cluster (uint8 at ``work_size``², read again), towards the streamed raw centroids."""
    from .cluster import Clustering
    from .data import ImageSet
    from .noise.uc import craft_uc

    n = len(files)
    assign = RowFile(state / "assign.npy", (n,), "int64")
    members = sample_members(assign, cfg.p, cfg.sample_per_cluster, cfg.seed, cfg.chunk_size)
    if any(len(m) == 0 for m in members):
        raise DataError(f"a cluster is empty after streamed K-means; use fewer than --clusters {cfg.p}")
    idx = np.concatenate(members)
    labels = np.concatenate([np.full(len(m), k, np.int64) for k, m in enumerate(members)])
    imgs = []
    for i in idx:
        rel = files.entries(int(i), int(i) + 1)[0][0]
        imgs.append(resize_uint8(read_image(src / rel, draft=cfg.work_size), cfg.work_size))
    with np.load(state / "clusters.npz") as z:
        clustering = Clustering(labels, z["centroids"], mode, cfg.seed, z["fit_centroids"],
                                {"mean": z["mean"], "std": z["std"]})
    opts = {k: v for k, v in opts.items() if k not in ("surrogate",)}
    pert = craft_uc(ImageSet(np.stack(imgs), {}, {}), surrogate, p=cfg.p, eps=eps, seed=cfg.seed,
                    clustering=clustering, progress=progress, **opts)
    return pert.delta, {**meta, "sample_per_cluster": [len(m) for m in members],
                        "craft": {k: v for k, v in pert.meta.items() if k != "loss_curve"}}


# ------------------------------------------------------------------------------------------------ stage 5: apply

def _manifest_parts(state: Path) -> list[Path]:
    return sorted((state / "manifest").glob("part-*.jsonl"))


def _read_jsonl(path: Path) -> Iterator[dict]:
    """Complete lines of a JSONL file (a last line cut by a kill is ignored)."""
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                yield json.loads(line)


def done_flags(state: Path, n: int) -> np.ndarray:
    """bool (N,): images already written and recorded in a manifest part."""
    done = np.zeros(n, bool)
    for part in _manifest_parts(state):
        for rec in _read_jsonl(part):
            done[rec["i"]] = True
    return done


def protect_one(img: np.ndarray, delta: np.ndarray, mask_floor: float | None, eps: float) -> np.ndarray:
    """One image (uint8 H×W×3, any size) plus its cluster's δ (float32 3×s×s within ±ε), texture-masked when
    ``mask_floor`` is not None, resized bilinearly onto it: uint8 H×W×3, checked within ε."""
    from .metrics import check_linf
    from .noise.photo import masked_delta
    from .protect import apply_native

    d = delta if mask_floor is None else masked_delta(img, delta, mask_floor)
    out = apply_native(img, d)
    check_linf(img[None], out[None], eps)
    return out


def apply_stage(cfg: StreamConfig, src: Path, dst: Path, state: Path, files: FileList, dist: Dist, overwrite: bool,
                progress: bool) -> dict:
    """Stage 5 on this worker's chunks: every readable image not yet in the manifest is protected, written as PNG
    (atomically) and appended to this process's manifest part. An output already on disk but not in the manifest
    (a kill between the rename and the manifest line) is recorded if it is byte-identical to what this run makes,
    and is an error otherwise (unless ``overwrite``). Returns {"written", "recorded", "already", "skipped"}."""
    from tqdm.auto import tqdm

    from .noise import Perturbation

    n = len(files)
    pert = Perturbation.load(state / "delta.npz")
    mask_floor = resolve_strength(cfg.strength).mask_floor
    assign = RowFile(state / "assign.npy", (n,), "int64")
    done = done_flags(state, n)
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    part = state / "manifest" / f"part-{time.time_ns():020d}-{dist.rank:04d}-{os.getpid()}.jsonl"
    part.parent.mkdir(parents=True, exist_ok=True)
    counts = {"written": 0, "recorded": 0, "already": 0, "skipped": 0}
    with open(part, "a") as log:
        for c in tqdm(dist.mine(-(-n // cfg.chunk_size)), desc="protect + write PNG", disable=not progress,
                      unit="chunk"):
            start, stop = c * cfg.chunk_size, min(n, (c + 1) * cfg.chunk_size)
            labels = assign.read(start, stop)
            for j, (rel_in, rel_out) in enumerate(files.entries(start, stop)):
                i = start + j
                if labels[j] < 0:
                    continue
                if done[i]:
                    counts["already"] += 1
                    continue
                try:
                    img = read_image(src / rel_in)
                except DataError as e:  # changed or removed since the feature stage
                    warnings.warn(f"skipped {e}", SkippedInput, stacklevel=2)
                    counts["skipped"] += 1
                    continue
                data = png_bytes(protect_one(img, pert.delta[labels[j]], mask_floor, pert.eps), compress_level=3)
                digest = hashlib.sha256(data).hexdigest()
                target = dst / rel_out
                if target.is_file() and not overwrite:
                    if hashlib.sha256(target.read_bytes()).hexdigest() != digest:
                        raise DataError(f"{target}: exists and differs from what this run makes (were the inputs "
                                        "changed?); delete it, or rerun with --overwrite")
                    counts["recorded"] += 1
                else:
                    atomic_write_bytes(target, data)
                    counts["written"] += 1
                log.write(json.dumps({"i": i, "input": rel_in, "output": rel_out, "cluster": int(labels[j]),
                                      "sha256": digest}) + "\n")
                log.flush()
                if stop_after and counts["written"] >= stop_after:
                    os.fsync(log.fileno())
                    os._exit(STOP_EXIT_CODE)  # test hook: an abrupt stop, as a kill would leave it
            os.fsync(log.fileno())
    return counts


# ------------------------------------------------------------------------------------------------ stage 6: finish

def merge_manifest(state: Path, dst: Path) -> int:
    """Merge the manifest parts (each in index order) into ``dst/ucs_lite_manifest.jsonl`` in index order, streamed
    to a temporary file and renamed. Returns the number of entries."""
    tmp = dst / f".{MANIFEST}.tmp-{os.getpid()}"
    count, last = 0, -1
    streams = [_read_jsonl(p) for p in _manifest_parts(state)]
    with open(tmp, "w") as out:
        for rec in heapq.merge(*streams, key=lambda r: r["i"]):
            if rec["i"] == last:
                continue
            last = rec["i"]
            out.write(json.dumps(rec) + "\n")
            count += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, dst / MANIFEST)
    return count


def read_manifest(output_dir: str | os.PathLike) -> list[dict]:
    """The final manifest of a finished run (index order): ``{"i", "input", "output", "cluster", "sha256"}`` each."""
    return list(_read_jsonl(Path(output_dir) / MANIFEST))


# ------------------------------------------------------------------------------------------------ the run

def _check_dirs(cfg: StreamConfig, overwrite: bool, main: bool = True) -> tuple[Path, Path, Path]:
    """(input, output, state) folders; a one-line DataError for a missing input, an output inside the input (or
    holding it), or (checked by rank 0 only, ``main``) a non-empty output that is not an earlier run of this command
    (unless ``overwrite``)."""
    from .protect import _check_folders

    src, dst = _check_folders(cfg.input_dir, cfg.output_dir, overwrite=True)
    state = dst / STATE_DIR
    if main and dst.is_dir() and any(dst.iterdir()) and not (state / "config.json").is_file() and not overwrite:
        raise DataError(f"{cfg.output_dir}: output folder is not empty and holds no earlier protect-stream run; "
                        "choose another or pass --overwrite")
    return src, dst, state


def _start_state(cfg: StreamConfig, state: Path, identity: dict) -> bool:
    """Rank 0: write (or check) ``state/config.json``. A state made with other settings is a one-line DataError.
    Returns whether an earlier run is being resumed."""
    path = state / "config.json"
    if path.is_file():
        before = json.loads(path.read_text())
        if before != json.loads(json.dumps(identity)):
            diff = sorted(k for k in set(before) | set(identity) if before.get(k) != json.loads(json.dumps(identity)).get(k))
            raise DataError(f"{cfg.output_dir}: holds a run started with other settings ({', '.join(diff)}); rerun "
                            f"it with the same settings to resume, or choose another --output-dir")
        return True
    state.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(identity, indent=1).encode())
    return False


@dataclass
class _SurrogateInfo:
    """What the stages after the feature stage read of a TorchScript surrogate (the model itself is released)."""

    name: str
    resolution: int
    dim: int
    for_tests_only: bool
    device: object
    engine: str = "released"


def release_memory() -> None:
    """Give freed heap memory back to the system (``malloc_trim``, glibc only): what a stage freed would otherwise
    stay in the process's resident memory while the others wait for it."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _Stages:
    """Seconds and image counts per stage, measured on rank 0 from the stage's start to the barrier after it."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.t = time.time()

    def done(self, name: str, images: int, **extra) -> None:
        now = time.time()
        sec = now - self.t
        self.rows[name] = {"seconds": round(sec, 3), "images": int(images),
                           "images_per_s": round(images / sec, 2) if sec > 0 and images else None, **extra}
        self.t = now


def protect_stream(cfg: StreamConfig, device: str = "auto", overwrite: bool = False, progress: bool = True,
                   dist: Dist | None = None) -> dict:
    """Run (or resume) the streamed protection of ``cfg.input_dir`` into ``cfg.output_dir`` on this process's share
    of the work (see the module docstring for the stages). Returns the summary (rank 0: also written to
    ``OUT/ucs_lite_stream_summary.json``; other ranks return their own counts)."""
    from .precision import precision_label
    from .surrogates import resolve_device

    check_config(cfg)
    opts = craft_options(cfg)  # one-line errors for bad options before any work
    dist = dist or init_dist()
    dev = resolve_device(device)
    if dev.type == "cuda" and dist.world > 1:
        import torch

        dev = torch.device("cuda", dist.local_rank)
    if dist.local_rank == 0:  # one process per machine makes the TorchScript copy (ucs_lite.launch made it already)
        prepare_surrogate(cfg, dev)
    dist.barrier()
    surrogate = feature_surrogate(cfg.surrogate, dev, cfg.resolution)
    identity = cfg.identity(precision_label(surrogate.device))
    src, dst, state = _check_dirs(cfg, overwrite, dist.main)
    stages = _Stages()
    t0 = time.time()
    resumed = False
    if dist.main:
        resumed = _start_state(cfg, state, identity)
        if not (state / "files.tsv").is_file():
            list_folder(src, state)
        files = FileList(state)
        if len(files) == 0:
            raise DataError(f"{cfg.input_dir}: no images found; ucs-lite reads {', '.join(IMAGE_SUFFIXES)}")
        RowFile(state / "features.npy", (len(files), surrogate.dim), "float32", create=True)
        RowFile(state / "valid.npy", (len(files), ), "int8", create=True)
    dist.barrier()
    files = FileList(state)
    n = len(files)
    stages.done("list", n)
    fc = features_stage(cfg, src, state, files, surrogate, dist, progress and dist.main)
    if getattr(surrogate, "engine", "eager") == "torchscript":  # not needed after this stage: keep what names it
        surrogate = _SurrogateInfo(surrogate.name, surrogate.resolution, surrogate.dim, surrogate.for_tests_only,
                                   surrogate.device)
    release_memory()
    dist.barrier()
    totals = dict(zip(fc, dist.sum(list(fc.values()))))
    stages.done("features", totals["computed"], **totals)
    mode = opts.get("feature_mode", "standardize")
    info: dict = {}
    if dist.main and not (state / "assign.npy").is_file():
        info = cluster_stage(cfg, state, n, surrogate.dim, mode, progress)
        release_memory()
    dist.barrier()
    stages.done("cluster", info.get("n_valid", 0))
    if dist.main and not (state / "delta.npz").is_file():
        info |= delta_stage(cfg, src, state, files, surrogate, progress)
    dist.barrier()
    stages.done("delta", 0)
    ac = apply_stage(cfg, src, dst, state, files, dist, overwrite, progress and dist.main)
    dist.barrier()
    atotals = dict(zip(ac, dist.sum(list(ac.values()))))
    stages.done("apply", atotals["written"] + atotals["recorded"], **atotals)
    if not dist.main:
        return {"rank": dist.rank, "features": fc, "apply": ac}
    return _finish(cfg, src, dst, state, n, stages, resumed, dist, surrogate, identity, dev, t0)


def _finish(cfg: StreamConfig, src: Path, dst: Path, state: Path, n: int, stages: _Stages, resumed: bool, dist: Dist,
            surrogate, identity: dict, dev, t0: float) -> dict:
    """Stage 6 (rank 0): the merged manifest and the summary JSON (returned)."""
    from .provenance import provenance

    written = merge_manifest(state, dst)
    stages.done("finish", written)
    with np.load(state / "clusters.npz") as z:
        sizes = z["sizes"].tolist()
    skipped = sum(1 for _ in _read_jsonl(state / "skipped.jsonl")) if (state / "skipped.jsonl").is_file() else 0
    for m in sorted((state / "chunks").glob("*.json")):
        skipped += len(json.loads(m.read_text()).get("skipped", []))
    summary = {"input_dir": str(src), "output_dir": str(dst), "method": cfg.method, "images": n,
               "written": written, "skipped": skipped, "cluster_sizes": sizes, "resumed": resumed,
               "workers": dist.world, "threads_per_worker": _threads(), "surrogate": surrogate.name,
               "surrogate_resolution": surrogate.resolution, "stages": stages.rows,
               "seconds": round(time.time() - t0, 3), "manifest": MANIFEST, "version": __version__,
               **provenance(identity, cfg.seed, dev), "config": identity}
    if surrogate.for_tests_only:
        summary["warning"] = "made with the random-init 'tiny' surrogate: for tests only"
    atomic_write_bytes(dst / SUMMARY, json.dumps(summary, indent=2, default=float).encode())
    return summary


def _threads() -> int:
    import torch

    return torch.get_num_threads()


# ------------------------------------------------------------------------------------------------ command line

def add_stream_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``ucs-lite protect-stream`` (also ``python -m ucs_lite.stream`` under torchrun)."""
    p.add_argument("--input-dir", required=True, help="folder of images (nested; any number)")
    p.add_argument("--output-dir", required=True,
                   help="where the PNGs, the manifest and the run's state (.ucs_stream/) go; rerun to resume")
    p.add_argument("--method", default=DEFAULT_FOLDER_METHOD, choices=STREAM_METHODS)
    p.add_argument("--clusters", type=int, default=10, help="p, the number of K-means clusters")
    p.add_argument("--eps", type=float, default=None, help="L∞ bound in 0–255 units (default: the --strength's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--surrogate", default=DEFAULT_SURROGATE)
    p.add_argument("--resolution", type=int, default=None,
                   help="side the surrogate encodes at (default its own: 224 for EfficientNet-Lite0)")
    p.add_argument("--work-size", type=int, default=64, help="side images are shrunk to for features and δ")
    p.add_argument("--strength", default=DEFAULT_STRENGTH, choices=list(STRENGTHS))
    p.add_argument("--chunk-size", type=int, default=1024, help="images per chunk (the unit of sharding and resume)")
    p.add_argument("--batch-size", type=int, default=64, help="images per surrogate batch")
    p.add_argument("--kmeans-epochs", type=int, default=3, help="mini-batch K-means passes over the features")
    p.add_argument("--sample-per-cluster", type=int, default=256, help="(uc, uc-robust) images per cluster δ sees")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="method option (as protect's --opt)")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes (started by ucs_lite.launch, or torchrun with --launcher torchrun); "
                        "on several machines run torchrun yourself")
    p.add_argument("--launcher", default="local", choices=["local", "torchrun"],
                   help="what starts the --workers processes on this machine: local (ucs_lite.launch, a launcher "
                        "that imports no torch; default) or torchrun (torch.distributed.run --standalone)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: cores / workers)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty output folder; replace outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)  # ucs_lite.launch: before workers


def config_from_args(a: argparse.Namespace) -> StreamConfig:
    """A :class:`StreamConfig` from parsed :func:`add_stream_arguments` flags (``--opt`` values parsed as JSON,
    else kept as text)."""
    options = {}
    for kv in a.opt or []:
        key, sep, val = kv.partition("=")
        if not sep:
            raise InputError(f"--opt {kv}: write KEY=VALUE")
        try:
            options[key] = json.loads(val)
        except ValueError:
            options[key] = val
    eps = None if a.eps is None else a.eps / 255.0
    if eps is not None and not 0 < eps <= 64 / 255:
        raise InputError(f"--eps {a.eps}: use 0 < ε ≤ 64")
    return StreamConfig(a.input_dir, a.output_dir, method=a.method, p=a.clusters, eps=eps, seed=a.seed,
                        surrogate=a.surrogate, resolution=a.resolution, work_size=a.work_size, strength=a.strength,
                        chunk_size=a.chunk_size, batch_size=a.batch_size, kmeans_epochs=a.kmeans_epochs,
                        sample_per_cluster=a.sample_per_cluster, options=options)


def launch_workers(argv: list[str], workers: int, replace_process: bool = False) -> int:
    """Run this module on ``workers`` local processes with torchrun (``python -m torch.distributed.run
    --standalone``); returns its exit code. ``replace_process``: become torchrun (``os.execv``) instead of waiting
    for it, so that no idle parent holds memory (what ``python -m ucs_lite.stream --workers N`` does)."""
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc-per-node", str(workers), "-m", "ucs_lite.stream", *argv]
    if replace_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, cmd)
    return subprocess.call(cmd)


def argv_of(a: argparse.Namespace) -> list[str]:
    """The :func:`add_stream_arguments` flags of a parsed namespace, as a command line again (``--workers`` left
    out): what each worker process is started with."""
    flags = {"input_dir": "--input-dir", "output_dir": "--output-dir", "method": "--method", "clusters": "--clusters",
             "eps": "--eps", "seed": "--seed", "surrogate": "--surrogate", "resolution": "--resolution",
             "work_size": "--work-size", "strength": "--strength", "chunk_size": "--chunk-size",
             "batch_size": "--batch-size", "kmeans_epochs": "--kmeans-epochs",
             "sample_per_cluster": "--sample-per-cluster", "threads": "--threads", "device": "--device"}
    out: list[str] = []
    for key, flag in flags.items():
        value = getattr(a, key, None)
        if value is not None:
            out += [flag, str(value)]
    for kv in a.opt or []:
        out += ["--opt", kv]
    return out + [f for f, on in (("--overwrite", a.overwrite), ("--quiet", a.quiet)) if on]


def run_from_args(a: argparse.Namespace, replace_process: bool = False) -> int:
    """Run parsed :func:`add_stream_arguments` flags: start ``--workers`` local processes (unless already a worker:
    ``WORLD_SIZE`` set) with :mod:`ucs_lite.launch` (``--launcher local``; ``replace_process``: this process
    becomes the launcher, a fresh interpreter holding only the standard library, instead of waiting beside it) or
    torchrun (``--launcher torchrun``, :func:`launch_workers`); as a worker or a single process, set the torch
    threads (default: cores / local workers), run :func:`protect_stream` and print its summary (rank 0) as one JSON
    line."""
    cfg = config_from_args(a)
    check_config(cfg)
    if getattr(a, "prepare_only", False):  # what ucs_lite.launch runs once before it starts the workers
        from .surrogates import resolve_device

        craft_options(cfg)
        prepare_surrogate(cfg, resolve_device(a.device))
        return 0
    if a.workers > 1 and "WORLD_SIZE" not in os.environ:
        craft_options(cfg)  # option errors before any process starts
        threads = a.threads or max(1, (os.cpu_count() or 1) // a.workers)
        worker_argv = argv_of(argparse.Namespace(**{**vars(a), "threads": threads}))
        if getattr(a, "launcher", "local") == "torchrun":
            return launch_workers(worker_argv, a.workers, replace_process)
        from .launch import exec_launcher, launch_local

        if replace_process:
            exec_launcher(worker_argv, a.workers, threads)
        return launch_local(worker_argv, a.workers, threads)
    import torch

    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(a.threads or max(1, (os.cpu_count() or 1) // local_world))
    dist = init_dist()
    summary = protect_stream(cfg, device=a.device, overwrite=a.overwrite, progress=not a.quiet, dist=dist)
    dist.close()
    if dist.main:
        print(json.dumps({k: summary[k] for k in ("output_dir", "images", "written", "skipped", "workers", "seconds")}
                         | {"stages": {k: v["seconds"] for k, v in summary["stages"].items()}}))
    return 0


@contextlib.contextmanager
def _one_line_warnings():
    """ucs_lite's warnings as one ``ucs-lite: warning: ...`` line each on stderr (as the ``ucs-lite`` command prints
    them; this module sits below the command line and does not import it)."""
    from .data import UcsWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UcsWarning):
            print(f"ucs-lite: warning: {' '.join(str(message).split())}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UcsWarning)
        warnings.showwarning = show
        yield


def main(argv: list[str] | None = None) -> int:
    """``python -m ucs_lite.stream`` (what torchrun runs on each worker): the flags of ``ucs-lite protect-stream``;
    exit 0 done, 2 bad input (one ``ucs-lite: error:`` line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m ucs_lite.stream", description=__doc__.splitlines()[0])
    add_stream_arguments(parser)
    a = parser.parse_args(argv)
    try:
        with _one_line_warnings():
            return run_from_args(a, replace_process=__name__ == "__main__")
    except (DataError, ValueError, OSError) as e:
        print(f"ucs-lite: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
