"""Feature-extraction throughput per surrogate and resolution (images/s, forward and forward+backward).

    python benchmarks/bench_features.py --quick      # CPU: effnet at 64/128/224 px, tiny; ~2 min
Writes benchmarks/results/bench_features.json (its table is printed).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch

from benchmarks.common import cpu_model, write_result
from ucs_lite.surrogates import SurrogateUnavailable, create_surrogate, resolve_device


def throughput(s, n: int, batch: int, backward: bool) -> float:
    """Images/s of encode (and backward to the input) on n random 32×32 images, after a warm-up batch."""
    dev = s.device
    x = torch.rand(batch, 3, 32, 32, device=dev)
    def one():
        if backward:
            xi = x.clone().requires_grad_(True)
            s.encode(xi).sum().backward()
        else:
            with torch.inference_mode():
                s.encode(x)
    one()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(max(1, n // batch)):
        one()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return max(1, n // batch) * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    n = 64 if a.quick else 512
    cases = [("imagenet:efficientnet_lite0", r) for r in (64, 128, 224)] + [("clip:RN50/openai", None),
                                                                           ("clip:ViT-B-32/laion2b_s34b_b79k", None)]
    rows = []
    for name, res in cases:
        try:
            s = create_surrogate(name, device=dev, resolution=res)
        except SurrogateUnavailable as e:
            rows.append({"surrogate": name, "resolution": res, "skipped": str(e).splitlines()[0]})
            print(f"{name}: unavailable here", flush=True)
            continue
        fwd = throughput(s, n, 32, backward=False)
        bwd = throughput(s, n // 2, 32, backward=True)
        rows.append({"surrogate": name, "resolution": s.resolution, "fwd_img_s": fwd, "fwd_bwd_img_s": bwd})
        print(f"{name} @{s.resolution}: fwd {fwd:.0f} img/s, fwd+bwd {bwd:.0f} img/s", flush=True)
    out = {"device": str(dev), "cpu": cpu_model(), "threads": a.threads,
           "torch": torch.__version__, "rows": rows}
    write_result("bench_features.json", out)
    md = [f"{out['cpu']}, {a.threads} threads, device {dev}, torch {torch.__version__}", "",
          "| surrogate | resolution | forward img/s | forward+backward img/s |", "|---|---|---|---|"]
    md += [f"| {r['surrogate']} | {r['resolution'] or '—'} | " + (f"{r['fwd_img_s']:.0f} | {r['fwd_bwd_img_s']:.0f} |"
           if "fwd_img_s" in r else f"unavailable: {r['skipped']} | |") for r in rows]
    print("\n".join(md))


if __name__ == "__main__":
    main()
