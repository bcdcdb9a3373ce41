"""Issue 36 item 4: what protecting costs with each candidate for ``protect``'s default — wall seconds per stage
(surrogate features, K-means, crafting δ) on this machine, for the embedded sample and for 10k CIFAR-10 images.

    python benchmarks/protect_cost.py --threads 2                     # sample (4,000) and 10k, three methods
    python benchmarks/protect_cost.py --sizes sample --methods eot-cluster --rounds 20,10

Every stage starts from an empty cache (a temporary UCS_LITE_CACHE), so the features are computed, not read; the load
average of the machine is stored beside each row (a busy machine inflates the seconds). Writes
benchmarks/results/protect_cost.json (with provenance), which ``ucs_lite.estimate``'s EM constant cites; a run
replaces the stored rows of the same method, size, threads and options and keeps the others (each row says when).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # `python benchmarks/x.py`: the repository root on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.common import cifar10_base, write_result  # noqa: E402

NAME = "protect_cost.json"


def timed_protect(train, method: str, threads: int, **options) -> dict:
    """Seconds of features, K-means and crafting for ``method`` on ``train`` (uint8 N×32×32×3) from an empty cache."""
    import torch

    from ucs_lite.cluster import cluster_images
    from ucs_lite.methods import method_spec
    from ucs_lite.noise import craft
    from ucs_lite.surrogates import create_surrogate

    torch.set_num_threads(threads)
    spec = method_spec(method)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as cache:
        os.environ["UCS_LITE_CACHE"] = cache
        s = create_surrogate("imagenet:efficientnet_lite0", device="cpu")
        t0 = time.perf_counter()
        feats, _ = cluster_images(train.images, s, 10, seed=0, mode="standardize", progress=False)
        t1 = time.perf_counter()
        from ucs_lite.cluster import fit_clusters

        fit_clusters(feats, 10, seed=0, mode="standardize")
        t2 = time.perf_counter()
        pert = craft(method, train, surrogate=s, p=10, device="cpu", progress=False, **options)  # features cached now
        t3 = time.perf_counter()
    return {"method": method, "n": len(train), "threads": threads, "options": options,
            "features_s": t1 - t0 - (t2 - t1), "kmeans_s": t2 - t1, "craft_s": t3 - t2 - (t2 - t1),
            "rounds_run": pert.meta.get("rounds_run"), "inputs": spec.inputs, "load_before": load,
            "load_after": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="sample,10k", help="sample (the embedded 4,000) and/or 10k (shared CIFAR-10)")
    ap.add_argument("--methods", default="gen-cluster,jpeg-cluster,eot-cluster")
    ap.add_argument("--rounds", default="", help="also time eot-cluster at these rounds (comma-separated)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from ucs_lite.data import load

    rows = []
    for size in a.sizes.split(","):
        train = load("sample").train if size == "sample" else cifar10_base().train
        for method in a.methods.split(","):
            rows.append(timed_protect(train, method, a.threads))
            print(rows[-1], flush=True)
        for r in (int(x) for x in a.rounds.split(",") if x):
            rows.append(timed_protect(train, "eot-cluster", a.threads, rounds=r))
            print(rows[-1], flush=True)
    print(write_result(NAME, {"what": "wall seconds of protect's stages from an empty cache (CPU)",
                              "rows": merged(rows)}))


def merged(rows: list[dict]) -> list[dict]:
    """The stored rows with ``rows`` in place of those of the same (method, images, threads, options): a run of one
    size or method keeps the others' rows. Each row carries the commit and date it was measured at."""
    import json

    from benchmarks.common import commit, result_path

    stamp = {"commit": commit(), "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}
    new = [{**r, "measured": stamp} for r in rows]
    key = lambda r: (r["method"], r["n"], r["threads"], json.dumps(r["options"], sort_keys=True))  # noqa: E731
    path = result_path(NAME)
    old = json.loads(path.read_text())["rows"] if path.is_file() else []
    fresh = {key(r) for r in new}
    return [r for r in old if key(r) not in fresh] + new


if __name__ == "__main__":
    main()
