"""Time to protect N images with UC: the authors' released schedule vs our default, same surrogate, same
clusters, same machine, same run — plus the attacker's accuracy on each result, so speed is never bought
with protection.

    python benchmarks/bench_craft.py --quick        # CPU, < 10 min: N=500, official schedule 1 epoch/generator
    python benchmarks/bench_craft.py --sizes 1000,5000,10000 --official-epochs 50 --device cuda   # GPU

The official schedule costs p × epochs × N surrogate forward+backward passes at 224 px. In --quick mode it
runs ``--official-epochs`` (1) epochs per generator and reports both the measured seconds and the seconds
for its published 50 epochs, extrapolated linearly from the measured per-epoch time (its epochs all cost
the same); ``speedup`` uses the 50-epoch figure and ``speedup_measured`` the measured one.
Each crafting run happens in a fresh subprocess so its peak memory (max RSS / CUDA peak) is its own.
Writes benchmarks/results/bench_craft.json and bench_craft.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from ucs_lite.data import Bundle, atomic_write_bytes, load  # noqa: E402

OFFICIAL_EPOCHS = 50


def _craft_job(kind: str, images: np.ndarray, labels: np.ndarray, centroids: np.ndarray, p: int, device: str,
               threads: int, options: dict) -> dict:
    """Runs in a subprocess: craft with a given clustering, return δ, seconds and peak memory."""
    import resource

    torch.set_num_threads(threads)
    from ucs_lite.cluster import Clustering
    from ucs_lite.noise.uc import craft_uc, craft_uc_official
    from ucs_lite.surrogates import create_surrogate

    s = create_surrogate("imagenet:efficientnet_lite0", device=device)
    c = Clustering(labels, centroids, "standardize", 0, np.zeros((p, 1)))
    if s.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    fn = craft_uc_official if kind == "official" else craft_uc
    pert = fn(images, s, p=p, seed=0, clustering=c, progress=False, **options)
    if s.device.type == "cuda":
        torch.cuda.synchronize()
    sec = time.perf_counter() - t
    mem = (torch.cuda.max_memory_allocated() / 2**20 if s.device.type == "cuda"
           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"delta": pert.delta, "seconds": sec, "peak_mem_mib": mem, "meta": {k: v for k, v in pert.meta.items()
                                                                             if k != "loss_curve"}}


def run_job(*args) -> dict:
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return ex.submit(_craft_job, *args).result()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", default=None, help="comma-separated N (default 500 quick, else 1000,5000,10000)")
    ap.add_argument("--ps", default=None, help="p values for the scaling of our default (default 5,10,20)")
    ap.add_argument("--official-epochs", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attack-epochs", type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sizes = [int(s) for s in (a.sizes or ("500" if a.quick else "1000,5000,10000")).split(",")]
    ps = [int(s) for s in (a.ps or ("5,10" if a.quick else "5,10,20")).split(",")]
    off_epochs = a.official_epochs or (1 if a.quick else OFFICIAL_EPOCHS)

    from ucs_lite.attack import AttackConfig, evaluate
    from ucs_lite.cluster import extract_features, fit_clusters
    from ucs_lite.data import ImageSet
    from ucs_lite.noise import Perturbation, apply
    from ucs_lite.surrogates import create_surrogate

    full = load("shared")
    test = full.test.balanced_subset(2000, seed=0)
    s = create_surrogate("imagenet:efficientnet_lite0", device=a.device)
    feats_all = extract_features(s, full.train.images, progress=True)  # cached: computed once for all N
    rows, scaling = [], []
    for n in sizes:
        idx = full.train.balanced_indices(n, seed=0)
        train = full.train.subset(idx)
        c = fit_clusters(feats_all[idx], 10, seed=0, mode="standardize")
        row = {"n": n, "p": 10}
        for kind, opts in (("official", {"epochs": off_epochs, "batch_size": 64}), ("ours", {})):
            print(f"N={n}: crafting with the {kind} schedule ...", flush=True)
            r = run_job(kind, train.images, c.labels, c.centroids, 10, a.device, a.threads, opts)
            pert = Perturbation(r["delta"], c.labels, "uc", 16 / 255, 0)
            prot = Bundle(ImageSet(apply(train.images, pert), dict(train.labels), dict(train.class_names)), test)
            acc = {}
            for view in ("fine", "coarse"):
                res = evaluate(prot, view, AttackConfig(epochs=a.attack_epochs), progress=False)
                acc[view] = {"final": res["test_acc_final"], "peak": res["test_acc_peak"]}
            row[kind] = {"seconds": r["seconds"], "images_per_s": n / r["seconds"], "peak_mem_mib": r["peak_mem_mib"],
                         "attacker": acc, "options": opts}
            print(f"  {kind}: {r['seconds']:.1f}s, attacker {acc}", flush=True)
        clean = Bundle(train, test)
        row["clean_attacker"] = {v: evaluate(clean, v, AttackConfig(epochs=a.attack_epochs), progress=False)["test_acc_peak"]
                                 for v in ("fine", "coarse")}
        row["official"]["seconds_50_epochs"] = row["official"]["seconds"] * OFFICIAL_EPOCHS / off_epochs
        row["speedup"] = row["official"]["seconds_50_epochs"] / row["ours"]["seconds"]
        row["speedup_measured"] = row["official"]["seconds"] / row["ours"]["seconds"]
        rows.append(row)
    for p in ps:  # how our default scales with p (N = the first size)
        n = sizes[0]
        if p == 10:
            scaling.append({"n": n, "p": p, "seconds": rows[0]["ours"]["seconds"]})
            continue
        idx = full.train.balanced_indices(n, seed=0)
        c = fit_clusters(feats_all[idx], p, seed=0, mode="standardize")
        r = run_job("ours", full.train.images[idx], c.labels, c.centroids, p, a.device, a.threads, {})
        scaling.append({"n": n, "p": p, "seconds": r["seconds"]})
        print(f"ours, N={n}, p={p}: {r['seconds']:.1f}s", flush=True)
    out = {"machine": f"{platform.machine()} {a.threads} threads, device {a.device}", "torch": torch.__version__,
           "official_epochs_run": off_epochs, "official_epochs_published": OFFICIAL_EPOCHS, "rows": rows,
           "scaling_p": scaling, "speedup": rows[0]["speedup"], "speedup_measured": rows[0]["speedup_measured"],
           "official_attacker": rows[0]["official"]["attacker"], "ours_attacker": rows[0]["ours"]["attacker"]}
    (ROOT / "results").mkdir(exist_ok=True)
    atomic_write_bytes(ROOT / "results" / "bench_craft.json", json.dumps(out, indent=2, default=float).encode())
    md = ["| N | official s (run) | official s (50 ep.) | ours s | speedup | attacker peak fine/coarse: clean | official | ours |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = lambda d: f"{d['fine']['peak']:.3f} / {d['coarse']['peak']:.3f}"  # noqa: E731
        md.append(f"| {r['n']} | {r['official']['seconds']:.0f} | {r['official']['seconds_50_epochs']:.0f} | "
                  f"{r['ours']['seconds']:.0f} | {r['speedup']:.0f}× | {r['clean_attacker']['fine']:.3f} / "
                  f"{r['clean_attacker']['coarse']:.3f} | {f(r['official']['attacker'])} | {f(r['ours']['attacker'])} |")
    atomic_write_bytes(ROOT / "results" / "bench_craft.md", ("\n".join(md) + "\n").encode())
    print("\n".join(md))


if __name__ == "__main__":
    main()
