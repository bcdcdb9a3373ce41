"""GPU check: every notebook at a tiny size on the device, plus throughput probes, as one JSON file.

    python benchmarks/gpu_check.py --device cuda --out runs/gpu_check.json        # (make gpu-check) ≤ 5 min
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/check.json      # the same code path; a test

What it records:
* ``environment``: torch, device, GPU name, compute capability, the precision ucs_lite picks there
  (:func:`ucs_lite.precision.precision_label`: bf16 where supported, else fp16 + grad scaler, fp32 on CPU);
* ``probes``: surrogate (EfficientNet-Lite0) forward and forward+backward-to-input img/s and peak memory per
  image, autocast vs float32 feature agreement (cosine), one UC step chunked vs unchunked (same gradient,
  peak memory), attacker training img/s per model (AMP + channels_last on CUDA), each beside the throughput
  :mod:`ucs_lite.estimate` assumes for this hardware;
* ``notebooks``: every notebook run top to bottom with papermill on the device at a tiny size (``--quick``
  on a CPU skips them, and the JSON says so).
A failed probe or notebook is recorded (``ok`` false, ``failures``) and the exit code is 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from ucs_lite import precision  # the installed package (make install); this script imports nothing else from here
from ucs_lite.data import Bundle, ImageSet, atomic_write_bytes
from ucs_lite.surrogates import create_surrogate, resolve_device

#: Papermill overrides that make every notebook tiny (each notebook takes the ones it declares).
TINY = {"profile": "cpu-quick", "data": "sample", "n_train": 200, "n_test": 100, "n_features": 200, "epochs": 1,
        "steps": 2, "batch_per_cluster": 2, "craft_resolution": 32, "surrogate_resolution": 64, "p": 4,
        "p_values": [2, 4], "projection": "pca", "seeds": [0], "strict_checks": False,
        "surrogate": "imagenet:efficientnet_lite0"}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _peak_reset(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def _peak(dev: torch.device) -> int | None:
    return int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else None


def _timed(fn, dev: torch.device, iters: int, warmup: int = 2) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls (device synchronised)."""
    for _ in range(warmup):
        fn()
    _sync(dev)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(dev)
    return (time.perf_counter() - t) / iters


def probe_surrogate(dev: torch.device, res: int, batch: int, iters: int) -> dict:
    """EfficientNet-Lite0 at ``res`` px: forward (features) and forward+backward to the input, img/s; peak
    memory per image of the backward pass; cosine between autocast and float32 features."""
    s = create_surrogate("imagenet:efficientnet_lite0", device=str(dev), resolution=res)
    x = torch.rand(batch, 3, res, res, device=dev)

    def fwd():
        with torch.no_grad():
            s.encode(x)

    def fwdbwd():
        xi = x.clone().requires_grad_(True)
        s.encode(xi).float().pow(2).mean().backward()

    t_f = _timed(fwd, dev, iters)
    _peak_reset(dev)
    base = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
    t_fb = _timed(fwdbwd, dev, iters)
    peak = _peak(dev)
    with torch.no_grad():
        f_amp = s.encode(x[:8]).float()
        f_32 = s.backbone(s.preprocess(x[:8]).contiguous(memory_format=torch.channels_last)).float()
    cos = torch.nn.functional.cosine_similarity(f_amp, f_32, dim=1).min().item()
    return {"resolution": res, "batch": batch, "fwd_img_s": batch / t_f, "fwdbwd_img_s": batch / t_fb,
            "peak_bytes_per_image_fwdbwd": None if peak is None else (peak - base) / batch,
            "autocast_vs_fp32_min_cosine": cos, "ok": bool(cos > 0.99 and np.isfinite(cos))}


def probe_uc_step(dev: torch.device, res: int, p: int, b: int) -> dict:
    """One UC step through EfficientNet-Lite0 at ``res`` px, unchunked vs chunked to a quarter of p·b images:
    the gradients agree (relative difference, float rounding under autocast) and the peak memory drops."""
    from ucs_lite.noise.patterns import DeltaField
    from ucs_lite.noise.uc import uc_step

    s = create_surrogate("imagenet:efficientnet_lite0", device=str(dev), resolution=res)
    torch.manual_seed(0)
    x = torch.rand(p * b, 3, 32, 32, device=dev)
    anchors = torch.randn(p, s.dim, device=dev)
    out = {"resolution": res, "images": p * b}
    grads = {}
    for label, mb in (("unchunked", None), ("chunked", max(1, p * b // 4))):
        field = DeltaField(p, (32, 32), 16 / 255, 0).to(dev)
        _sync(dev)
        _peak_reset(dev)
        t = time.perf_counter()
        loss = uc_step(field, s, x, anchors, b, (32, 32), mb)
        _sync(dev)
        grads[label] = torch.cat([q.grad.flatten() for q in field.parameters()])
        out[label] = {"max_batch": mb, "seconds": time.perf_counter() - t, "loss": loss, "peak_bytes": _peak(dev)}
    g0, g1 = grads["unchunked"], grads["chunked"]
    out["grad_rel_diff"] = float((g0 - g1).norm() / g0.norm().clamp_min(1e-30))
    # float32 on a CPU: batch sizes 1 and p·b take other convolution kernels (relative differences ~1e-5 seen
    # with several threads); under bf16 / fp16 autocast rounding is ~1e-2. The exact check is in float64
    # (tests/test_precision.py); this one catches a wrong chunking (differences of order 1).
    tol = 1e-3 if dev.type == "cpu" else 5e-2
    out["ok"] = bool(np.isfinite(out["grad_rel_diff"]) and out["grad_rel_diff"] < tol and g0.abs().max() > 0)
    return out


def probe_attacker(dev: torch.device, model: str, n: int, epochs: int) -> dict:
    """Attacker training img/s (ucs_lite.attack.evaluate on n random 32-px images, 10 classes), peak memory."""
    from ucs_lite.attack import evaluate

    rng = np.random.default_rng(0)
    def imageset(m):
        y = rng.integers(0, 10, m)
        return ImageSet(rng.integers(0, 256, (m, 32, 32, 3), dtype=np.uint8), {"fine": y},
                        {"fine": [str(i) for i in range(10)]})
    b = Bundle(imageset(n), imageset(max(100, n // 10)))
    evaluate(b, "fine", model=model, epochs=1, device=str(dev), progress=False)  # warm-up (cudnn autotune, ...)
    _peak_reset(dev)
    r = evaluate(b, "fine", model=model, epochs=epochs, device=str(dev), progress=False)
    losses = [e["train_loss"] for e in r["per_epoch"]]
    return {"model": model, "images": n, "epochs": epochs, "train_img_s": n * epochs / r["seconds"],
            "seconds": r["seconds"], "peak_bytes": _peak(dev), "final_train_loss": losses[-1],
            "ok": bool(all(np.isfinite(losses)))}


def run_notebooks_tiny(dev: torch.device, names: list[str] | None, out_root: Path) -> dict:
    from ucs_lite.notebooks import run_notebooks

    summary = run_notebooks(names, params={**TINY, "device": dev.type}, out_root=str(out_root), progress=True)
    rows = [{k: r[k] for k in ("name", "ok", "seconds", "error")} for r in summary["notebooks"]]
    return {"ran": True, "params": TINY, "results": rows, "ok": all(r["ok"] for r in rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu", "auto"])
    ap.add_argument("--out", default="runs/gpu_check.json")
    ap.add_argument("--quick", action="store_true",
                    help="smallest probes; on a CPU also skips the notebooks (recorded in the JSON)")
    ap.add_argument("--notebooks", default=None,
                    help="comma-separated notebooks to run (default: all; 'none' to skip)")
    ap.add_argument("--keep-cache", action="store_true",
                    help="use $UCS_LITE_CACHE instead of a fresh temporary cache (a fresh one makes sure the "
                         "notebooks compute on this device rather than read results made elsewhere)")
    a = ap.parse_args(argv)
    dev = resolve_device(a.device)
    t0 = time.time()
    from ucs_lite.estimate import hardware_for

    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    hw = hardware_for(gpu)
    report: dict = {
        "environment": {"torch": torch.__version__, "device": str(dev), "gpu": gpu,
                        "capability": list(torch.cuda.get_device_capability(dev)) if gpu else None,
                        "precision": precision.precision_label(dev),
                        "grad_scaler": precision.grad_scaler(dev).is_enabled(),
                        "total_memory": torch.cuda.get_device_properties(dev).total_memory if gpu else None},
        "estimate_assumes": {"hardware": hw.name, "measured": hw.measured,
                             "surrogate_fwd_224": hw.surrogate_fwd_224["imagenet"],
                             "surrogate_fwdbwd_224": hw.surrogate_fwdbwd_224["imagenet"],
                             "attacker_train_32": hw.attacker_train_32},
        "probes": {}, "failures": []}
    cuda = dev.type == "cuda"
    res = 224 if cuda else (32 if a.quick else 64)
    probes = {
        "surrogate": lambda: probe_surrogate(dev, res, 64 if cuda else 4, 10 if cuda else 2),
        "uc_step": lambda: probe_uc_step(dev, res, 10 if cuda else 2, 8 if cuda else 2),
        "attacker_small-cnn": lambda: probe_attacker(dev, "small-cnn", 10000 if cuda else 256, 2 if cuda else 1),
    }
    if cuda or not a.quick:
        probes["attacker_resnet18"] = lambda: probe_attacker(dev, "resnet18", 5000 if cuda else 128, 1)
    for name, fn in probes.items():
        try:
            report["probes"][name] = fn()
        except Exception as e:  # recorded, the check goes on
            report["probes"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                      "traceback": traceback.format_exc()[-2000:]}
        if not report["probes"][name].get("ok", False):
            report["failures"].append(f"probe {name}")
        print(f"[gpu_check] {name}: {json.dumps(report['probes'][name], default=str)[:300]}", file=sys.stderr)

    names = None if a.notebooks in (None, "all") else ([] if a.notebooks == "none" else a.notebooks.split(","))
    if names == [] or (a.quick and not cuda and a.notebooks is None):
        report["notebooks"] = {"ran": False, "reason": ("--notebooks none" if names == [] else
                                                        "skipped: --quick on a CPU (six notebooks take minutes "
                                                        "on 2 cores); pass --notebooks to run them")}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            old = os.environ.get("UCS_LITE_CACHE")
            if not a.keep_cache:
                os.environ["UCS_LITE_CACHE"] = str(Path(tmp) / "cache")
            try:
                report["notebooks"] = run_notebooks_tiny(dev, names, Path(tmp) / "runs")
            except Exception as e:
                report["notebooks"] = {"ran": True, "ok": False, "error": f"{type(e).__name__}: {e}"}
            finally:
                if old is None:
                    os.environ.pop("UCS_LITE_CACHE", None)
                else:
                    os.environ["UCS_LITE_CACHE"] = old
        if not report["notebooks"].get("ok", False):
            report["failures"].append("notebooks: " + ", ".join(
                r["name"] for r in report["notebooks"].get("results", []) if not r["ok"]) or "notebooks")
    report["seconds"] = round(time.time() - t0, 1)
    report["ok"] = not report["failures"]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, json.dumps(report, indent=2, default=str).encode())
    print(f"[gpu_check] {'ok' if report['ok'] else 'FAILED: ' + '; '.join(report['failures'])} "
          f"in {report['seconds']:.0f} s -> {out}", file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
