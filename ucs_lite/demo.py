"""The quickstart pipeline behind ``make demo`` / ``ucs-lite demo``: protect the embedded CIFAR-10 sample
with Unlearnable Clusters (offline ImageNet surrogate), train the attacker on clean and protected data with
fine and coarse labels, and write the results under ``runs/demo-<timestamp>/``."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .attack import AttackConfig, evaluate
from .data import atomic_write_bytes, load, save_npz
from .protect import protect_bundle
from .surrogates import DEFAULT_SURROGATE

__all__ = ["run_demo"]


def run_demo(data: str = "sample", out_root: str = "runs", epochs: int = 12, p: int = 10, eps255: float = 16,
             surrogate: str = DEFAULT_SURROGATE, device: str = "auto", seed: int = 0, progress: bool = True) -> Path:
    """Run the demo and return its output folder (protected bundle, results.json, results.md)."""
    out = Path(out_root) / time.strftime("demo-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=False)
    bundle = load(data)
    prot, pert = protect_bundle(bundle, "uc", eps=eps255 / 255, seed=seed, surrogate=surrogate, p=p, device=device,
                                progress=progress)
    save_npz(prot, out / "protected.npz")
    pert.save(out / "perturbation.npz")
    rows = []
    for name, b in (("clean", bundle), ("uc", prot)):
        for view in ("fine", "coarse"):
            r = evaluate(b, view, AttackConfig(epochs=epochs, seed=seed, device=device), progress=progress)
            rows.append({"data": name, "labels": view, "final": r["test_acc_final"], "peak": r["test_acc_peak"],
                         "chance": r["chance"], "seconds": round(r["seconds"], 1)})
    meta = prot.meta()
    result = {"data": data, "surrogate": surrogate, "p": p, "eps_255": eps255, "epochs": epochs,
              "psnr": meta["psnr"], "ssim": meta["ssim"], "craft_seconds": meta["seconds"],
              "clusters_vs_labels": meta["clusters_vs_labels"], "attacks": rows}
    atomic_write_bytes(out / "results.json", json.dumps(result, indent=2).encode())
    lines = [f"# ucs_lite demo ({data}, {len(bundle.train)} train / {len(bundle.test)} test images)", "",
             f"UC with {surrogate}, p={p}, ε={eps255:g}/255: PSNR {meta['psnr']:.1f} dB, SSIM {meta['ssim']:.3f}, "
             f"crafted in {meta['seconds']:.0f} s. Attacker: small CNN, {epochs} epochs, crop+flip.", "",
             "| training data | labels | test acc final | peak | chance |", "|---|---|---|---|---|"]
    lines += [f"| {r['data']} | {r['labels']} | {r['final']:.3f} | {r['peak']:.3f} | {r['chance']:.3f} |" for r in rows]
    atomic_write_bytes(out / "results.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    print(f"\noutputs in {out}/")
    return out
