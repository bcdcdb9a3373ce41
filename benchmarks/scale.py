"""Streamed protection at scale (issue 37): ≥ 20,000 JPEGs through ``ucs_lite.stream``, timed per stage, with the
peak resident memory summed over every process, a kill-and-resume and two local workers compared bit for bit.

    python benchmarks/scale.py generate            # /tmp/ucs_scale/images: CIFAR-10 10k + 10k upscaled to 64 px, JPEG
    python benchmarks/scale.py run                 # parts a–f below -> benchmarks/results/scale.json

Parts (each from an empty result cache, except the resumes, which keep the killed run's):
  a  every image, one process (torch at 2 threads)
  b  the first half of the images (hard links), one process: peak RSS against a
  c  every image, killed (SIGKILL to the process group) once half the feature chunks are done, resumed, killed again
     once half the PNGs are written, resumed to the end: outputs compared with a
  d  every image, two local workers (started by ucs_lite.launch, 1 thread each): outputs compared with a, speed-up
     per stage
  t  d with torchrun as the launcher (its agent process imports torch): outputs compared with a
  s  every image, one process at 1 thread (the threads condition: outputs compared with a; the fair baseline for d's
     speed-up on a 2-core machine shared with other jobs)
  e  K-means quality: the streamed clusters of a and a full K-means (n_init 10) on the same features, against the
     CIFAR-10 labels (purity, NMI) and against each other
  f  256 larger images (384 px): read + shrink and apply rates per process, for the ImageNet projection
  g  the resident memory of a process step by step: torch, ucs_lite.stream, the surrogate's TorchScript copy,
     sklearn, timm + torchvision and the eager surrogate (where a worker's memory goes)

The surrogate encodes at ``--resolution`` (default 64 px, the images' own size, instead of EfficientNet-Lite0's 224)
so that the four runs fit the machine; the projection to ImageNet uses the time model's 224-px GPU figures.
JSON is rewritten after every part, so whatever finished is stored.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, command_line, commit, write_result

RESULT = "scale.json"
IMAGENET_N = 1_281_167
DEFAULT_ROOT = Path("/tmp/ucs_scale")


# ---------------------------------------------------------------------------------------------- data

def generate(root: Path, size: int = 64, big: int = 256, big_size: int = 384) -> dict:
    """CIFAR-10 train + test of the shared bundle, upscaled (bicubic) to ``size`` px and saved as JPEG (quality 90)
    under ``root/images/<split>/<class>/``; the first half hard-linked under ``root/half``; ``big`` of them at
    ``big_size`` px under ``root/big``; fine labels by relative path in ``root/labels.json``."""
    import numpy as np
    from PIL import Image

    from ucs_lite.data import find_shared_bundle

    z = np.load(find_shared_bundle())
    names = [str(c) for c in z["class_names"]]
    labels: dict[str, int] = {}
    for split in ("train", "test"):
        x, y = z[f"x_{split}"], z[f"y_{split}"]
        for i, (img, lab) in enumerate(zip(x, y)):
            rel = f"{split}/{names[lab]}/{split}_{i:05d}.jpg"
            path = root / "images" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).resize((size, size), Image.BICUBIC).save(path, quality=90)
            labels[rel] = int(lab)
            if i < big and split == "train":
                bpath = root / "big" / rel
                bpath.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).resize((big_size, big_size), Image.BICUBIC).save(bpath, quality=90)
    order = sorted(labels)
    for rel in order[: len(order) // 2]:  # half: the same files (hard links), about half of every class
        dst = root / "half" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.link(root / "images" / rel, dst)
    (root / "labels.json").write_text(json.dumps(labels))
    return {"images": len(labels), "half": len(order) // 2, "big": big, "size": size, "big_size": big_size}


# ---------------------------------------------------------------------------------------------- running

def _proc_status(pid: int) -> dict:
    """Resident memory of a process by kind (MB) from ``/proc/PID/status``: ``anon`` (its own heap and stacks,
    relocated library data), ``file`` (mapped files: the shared libraries' code and read-only data, which RSS counts
    in full in every process that maps them), ``shmem``."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem"):
                out[key[3:].lower()] = round(int(value.split()[0]) / 1024, 1)
    return out


class RssMonitor(threading.Thread):
    """Polls a process and all its descendants every ``every`` seconds: the peak of their summed resident memory (RSS:
    shared library pages counted once per process) and of their summed proportional set size (PSS: shared pages
    divided among the processes that map them, what the processes take from the machine together). At the RSS peak
    it keeps each process's RSS split into anonymous and file-backed pages, its PSS and its command line
    (``at_peak``), and each process's own peak RSS (``per_process``)."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.peak_pss, self.peak_procs = pid, every, 0, 0, 0
        self.t0, self.peak_at_s, self.at_peak, self.own = time.time(), None, [], {}
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = pss = 0
            rows = []
            for p in procs:
                try:
                    mem = p.memory_full_info()
                    kinds = _proc_status(p.pid)
                    cmd = " ".join(a.rsplit("/", 1)[-1] for a in p.cmdline()[:4])
                except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
                    continue
                total += mem.rss
                pss += mem.pss
                rss_mb = round(mem.rss / 2**20, 1)
                rows.append({"pid": p.pid, "command": cmd, "rss_mb": rss_mb, "pss_mb": round(mem.pss / 2**20, 1),
                             **{f"{k}_mb": v for k, v in kinds.items()}})
                own = self.own.setdefault(p.pid, {"command": cmd, "peak_rss_mb": 0.0})
                own["peak_rss_mb"] = max(own["peak_rss_mb"], rss_mb)
            if total > self.peak:
                self.peak, self.peak_procs = total, len(procs)
                self.peak_at_s, self.at_peak = round(time.time() - self.t0, 1), rows
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=2)


def stream_cmd(inp: Path, out: Path, args: argparse.Namespace, workers: int = 1, launcher: str = "local") -> list[str]:
    """The ``python -m ucs_lite.stream`` command line of one run (``launcher``: what starts the workers)."""
    return [sys.executable, "-m", "ucs_lite.stream", "--input-dir", str(inp), "--output-dir", str(out),
            "--resolution", str(args.resolution), "--chunk-size", str(args.chunk_size), "--quiet",
            "--workers", str(workers), "--threads", str(args.threads // workers), "--launcher", launcher]


def run_stream(cmd: list[str], cache: Path, kill_when=None) -> dict:
    """Run ``cmd`` in its own process group with ``UCS_LITE_CACHE=cache``; poll its memory; ``kill_when()`` returning
    True sends SIGKILL to the group. Returns {"rc", "seconds", "peak_rss_mb", "processes", "killed"}."""
    env = {**os.environ, "UCS_LITE_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    mon = RssMonitor(proc.pid)
    mon.start()
    killed = False
    while proc.poll() is None:
        if kill_when is not None and not killed and kill_when():
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.2)
    out = proc.stdout.read() if proc.stdout else ""
    mon.stop()
    return {"rc": proc.returncode, "seconds": round(time.time() - t0, 2), "peak_rss_mb": round(mon.peak / 2**20, 1),
            "peak_pss_mb": round(mon.peak_pss / 2**20, 1), "processes": mon.peak_procs, "killed": killed,
            "peak_at_s": mon.peak_at_s, "at_peak": mon.at_peak, "per_process": list(mon.own.values()),
            "stdout_tail": out.strip().splitlines()[-1:] if out else []}


def summary_of(out: Path) -> dict:
    """The stream summary's stages and counts (the JSON the run wrote)."""
    s = json.loads((out / "ucs_lite_stream_summary.json").read_text())
    return {k: s[k] for k in ("images", "written", "skipped", "workers", "threads_per_worker", "surrogate",
                              "surrogate_resolution", "stages", "seconds", "cluster_sizes")}


def outputs_digest(out: Path) -> dict:
    """sha256 of the manifest and of every output file on disk (read back), in manifest order."""
    lines = (out / "ucs_lite_manifest.jsonl").read_bytes()
    h = hashlib.sha256()
    n = 0
    for line in lines.splitlines():
        rec = json.loads(line)
        h.update(hashlib.sha256((out / rec["output"]).read_bytes()).digest())
        n += 1
    return {"manifest_sha256": hashlib.sha256(lines).hexdigest(), "files_sha256": h.hexdigest(), "files": n}


def fresh_cache(root: Path, name: str) -> Path:
    """An empty result cache folder under ``root``."""
    return Path(tempfile.mkdtemp(prefix=f"cache_{name}_", dir=root))


def _clean(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _lines(state: Path) -> int:
    total = 0
    for p in (state / "manifest").glob("part-*.jsonl"):
        try:
            total += p.read_bytes().count(b"\n")
        except OSError:
            pass
    return total


# ---------------------------------------------------------------------------------------------- parts

def part_full(root: Path, args, name: str, inp: Path, workers: int = 1, threads: int | None = None,
              launcher: str = "local") -> dict:
    """One complete run from an empty cache into ``root/out_<name>`` (``threads``: per process, default
    ``args.threads`` split over the workers)."""
    out = root / f"out_{name}"
    _clean(out)
    cmd = stream_cmd(inp, out, args, workers, launcher)
    if threads is not None:
        cmd[cmd.index("--threads") + 1] = str(threads)
    r = run_stream(cmd, fresh_cache(root, name))
    if r["rc"] != 0:
        raise RuntimeError(f"part {name} failed: {r}")
    return {**r, "summary": summary_of(out), **outputs_digest(out)}


def part_kill_resume(root: Path, args, n_images: int) -> dict:
    """Killed at half the feature chunks, resumed, killed at half the PNGs, resumed to the end."""
    out, cache = root / "out_c", fresh_cache(root, "c")
    _clean(out)
    state = out / ".ucs_stream"
    n_chunks = -(-n_images // args.chunk_size)
    cmd = stream_cmd(root / "images", out, args)
    k1 = run_stream(cmd, cache, lambda: len(list((state / "chunks").glob("*.json"))) >= n_chunks // 2)
    chunks_at_kill = len(list((state / "chunks").glob("*.json")))
    k2 = run_stream(cmd, cache, lambda: _lines(state) >= n_images // 2)
    written_at_kill = _lines(state)
    r = run_stream(cmd, cache)
    if r["rc"] != 0:
        raise RuntimeError(f"part c's last resume failed: {r}")
    return {"kill_1": {**k1, "chunks_done": chunks_at_kill, "chunks": n_chunks},
            "kill_2": {**k2, "written": written_at_kill}, "resume": {**r, "summary": summary_of(out)},
            **outputs_digest(out)}


def part_kmeans_quality(root: Path, p: int = 10, seed: int = 0) -> dict:
    """Streamed assignments of part a and a full K-means on the same features vs the CIFAR-10 fine labels."""
    import numpy as np

    from ucs_lite.cluster import cluster_metrics, fit_clusters

    state = root / "out_a" / ".ucs_stream"
    feats = np.load(state / "features.npy")
    valid = np.load(state / "valid.npy").astype(bool)
    assign = np.load(state / "assign.npy")
    labels_by = json.loads((root / "labels.json").read_text())
    rels = [line.split("\t", 1)[0] for line in (state / "files.tsv").read_text().splitlines()]
    y = np.array([labels_by[r] for r in rels])[valid]
    t0 = time.time()
    full = fit_clusters(feats[valid], p, seed=seed, mode="standardize")
    t_full = time.time() - t0
    from sklearn.metrics import normalized_mutual_info_score

    return {"n": int(valid.sum()), "p": p, "stream": cluster_metrics(assign[valid], y),
            "full_kmeans": cluster_metrics(full.labels, y), "full_kmeans_seconds": round(t_full, 2),
            "nmi_stream_vs_full": float(normalized_mutual_info_score(full.labels, assign[valid]))}


def part_big(root: Path, args) -> dict:
    """Per-process rates at ``big_size`` px: read + shrink to 64 px (what the feature stage's host side does) timed in
    process, and the apply stage of a one-process run (texture mask, δ resized, PNG written)."""
    from ucs_lite.stream import FileList, read_small

    out = root / "out_f"
    _clean(out)
    r = run_stream(stream_cmd(root / "big", out, args), fresh_cache(root, "f"))
    files = FileList(out / ".ucs_stream")
    t0 = time.time()
    small, _, _ = read_small(root / "big", files.entries(0, len(files)), 64)
    t_read = time.time() - t0
    s = summary_of(out)
    return {**r, "images": len(files), "read_shrink_per_s": round(len(files) / t_read, 1),
            "apply_per_s": s["stages"]["apply"]["images_per_s"], "summary": s}


_IMPORT_STEPS = r"""
import json, psutil
def m():
    info = psutil.Process().memory_full_info()
    kinds = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            kinds[key[3:].lower() + "_mb"] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": round(info.rss / 2**20, 1), "pss_mb": round(info.pss / 2**20, 1), **kinds}
rows = []
import torch
torch.set_num_threads(1)
rows.append(["import torch", m()])
import ucs_lite.stream as us
us.craft_options(us.StreamConfig("in", "out"))
rows.append(["+ ucs_lite.stream and the default method's modules (every worker)", m()])
s = us.feature_surrogate("imagenet:efficientnet_lite0", torch.device("cpu"), 64)
rows.append(["+ the surrogate's TorchScript copy at 64 px (what a worker's feature stage runs)", m()])
import sklearn.cluster
rows.append(["+ sklearn.cluster (rank 0 only: K-means)", m()])
import timm
rows.append(["+ timm, which imports torchvision (what building the eager surrogate imports)", m()])
from ucs_lite.surrogates import create_surrogate
e = create_surrogate(device="cpu", resolution=64)
rows.append(["+ the eager surrogate built (what every worker held before)", m()])
print(json.dumps(rows))
"""


def part_import_rss(root: Path) -> dict:
    """Resident memory (RSS, PSS, RSS split into anonymous and file-backed pages; MB) of a fresh Python process at 1
    thread, step by step: ``import torch``; ``ucs_lite.stream`` and the modules the default method imports (what
    every worker holds before any image); the surrogate's TorchScript copy (the feature stage); ``sklearn.cluster``
    (rank 0's K-means); ``timm`` with torchvision and the eager surrogate (what building the model itself adds,
    measured after the rest). The TorchScript copy is made first by another process, as ``ucs_lite.launch`` does."""
    cache = fresh_cache(root, "g")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UCS_LITE_CACHE": str(cache)}
    subprocess.run([sys.executable, "-c", "from ucs_lite.stream import make_traced; "
                    "make_traced('imagenet:efficientnet_lite0', 64)"], cwd=ROOT, check=True, env=env)
    out = subprocess.run([sys.executable, "-c", _IMPORT_STEPS], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=env)
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    return {"steps": [{"step": name, **mem} for name, mem in steps]}


def projection(res: dict) -> dict:
    """ImageNet (1.28 M images) on 1 and 8 GPUs — an estimate: features at 224 px at the time model's assumed GPU
    throughput (:mod:`ucs_lite.estimate`), capped by the host's read + shrink rate measured in part f (one worker
    process per GPU); K-means at part a's measured rate (rank 0, CPU, linear in N); δ at part a's seconds; apply at
    part f's measured per-process rate at 384 px, one process per GPU."""
    from ucs_lite.estimate import HARDWARE

    a = res["a"]["summary"]["stages"]
    big = res.get("f")
    out = {"images": IMAGENET_N, "estimate": True, "rows": []}
    for gpu in ("a100", "h100"):
        hw = HARDWARE[gpu]
        gpu_rate = hw.surrogate_fwd_224["imagenet"]
        host_rate = big["read_shrink_per_s"] if big else None
        for n_gpu in (1, 8):
            per_worker = min(gpu_rate, host_rate) if host_rate else gpu_rate
            feats = IMAGENET_N / (per_worker * n_gpu)
            cluster = IMAGENET_N * a["cluster"]["seconds"] / max(1, a["cluster"]["images"])
            delta = a["delta"]["seconds"]
            apply = IMAGENET_N / (big["apply_per_s"] * n_gpu) if big else None
            total = feats + cluster + delta + (apply or 0)
            out["rows"].append({"gpu": gpu, "gpu_name": hw.name, "gpus": n_gpu, "gpu_features_per_s": gpu_rate,
                                "host_read_per_s_per_worker": host_rate, "features_s": round(feats),
                                "cluster_s": round(cluster), "delta_s": round(delta),
                                "apply_s": round(apply) if apply else None, "total_s": round(total)})
    return out


def run(args) -> dict:
    """Parts ``args.parts`` in order; the JSON is written after each."""
    root = args.root
    labels = json.loads((root / "labels.json").read_text())
    n = len(labels)
    res: dict = {"images": n, "resolution": args.resolution, "chunk_size": args.chunk_size, "threads": args.threads,
                 "method": "gen-cluster", "p": 10, "strength": "balanced", "load_at_start": os.getloadavg()}
    path = ROOT / "benchmarks" / "results" / RESULT
    if path.is_file() and args.keep:
        res = {**json.loads(path.read_text()), **{k: v for k, v in res.items() if k != "load_at_start"}}
    for part in args.parts.split(","):
        t0 = time.time()
        print(f"part {part} ...", flush=True)
        if part == "a":
            res["a"] = part_full(root, args, "a", root / "images")
        elif part == "b":
            res["b"] = part_full(root, args, "b", root / "half")
        elif part == "c":
            res["c"] = part_kill_resume(root, args, n)
        elif part == "s":
            res["s"] = part_full(root, args, "s", root / "images", threads=1)
        elif part == "d":
            res["d"] = part_full(root, args, "d", root / "images", workers=2)
        elif part == "t":
            res["t"] = part_full(root, args, "t", root / "images", workers=2, launcher="torchrun")
        elif part == "e":
            res["e"] = part_kmeans_quality(root)
        elif part == "f":
            res["f"] = part_big(root, args)
        elif part == "g":
            res["g"] = part_import_rss(root)
        print(f"part {part}: {time.time() - t0:.0f} s", flush=True)
        res[part]["run_by"] = {"command": command_line(), "commit": commit(),
                               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load": os.getloadavg()}
        res["checks"] = checks(res)
        if "a" in res:
            res["projection"] = projection(res)
        write_result(RESULT, res)
    return res


def checks(res: dict) -> dict:
    """What the issue asks, judged from the parts that finished (None: not measured)."""
    a, b, c, d = (res.get(k) for k in "abcd")
    same = lambda x: None if not (a and x) else (x["manifest_sha256"] == a["manifest_sha256"]  # noqa: E731
                                                 and x["files_sha256"] == a["files_sha256"])
    return {"peak_rss_a_le_2gb": None if not a else a["peak_rss_mb"] <= 2048,
            "peak_rss_half_within_10pct": None if not (a and b) else abs(b["peak_rss_mb"] / a["peak_rss_mb"] - 1) <= 0.10,
            "resume_bit_identical": same(c), "two_workers_bit_identical": same(d),
            "two_torchrun_workers_bit_identical": same(res.get("t")),
            "one_thread_bit_identical": same(res.get("s")),
            "two_workers_peak_rss_le_2gb": None if not d else d["peak_rss_mb"] <= 2048}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["generate", "run"])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where images, outputs and caches go (not tracked)")
    ap.add_argument("--parts", default="a,b,c,d,e,f")
    ap.add_argument("--resolution", type=int, default=64, help="side the surrogate encodes at")
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of one process (split over workers)")
    ap.add_argument("--keep", action="store_true", help="keep the parts already in the JSON (run others only)")
    args = ap.parse_args(argv)
    if args.command == "generate":
        print(json.dumps(generate(args.root)))
        return 0
    res = run(args)
    print(json.dumps(res.get("checks")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
