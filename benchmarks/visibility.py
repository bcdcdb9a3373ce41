"""Visibility vs protection of noise constructions for photos (issue 17).

For each candidate construction (:class:`ucs_lite.noise.photo.Construction`):

* **visibility** on scikit-image's four bundled photos (astronaut, coffee, chelsea, rocket), protected the
  way folder mode does it (photos shrunk to the work size — 64 px, 224 px for cells > 32 — for clustering
  into 2 groups, one random cell pattern per group resized to each photo, texture mask at ≤ 1024 px):
  PSNR, SSIM, CIEDE2000 mean / 95th percentile / share above 2.3 (mean and worst over the four photos);
* **protection** on the shared CIFAR-10: a class-balanced 2k training subset (``--n-train``; seed 0) and
  the fixed 2k test subset; one random cell pattern per group in the construction (no UC optimisation: docs/results.md
  measured it adds nothing over a random pattern per cluster), the groups being the true fine classes
  (``--grouping fine``, the default: perfectly pure clusters, the most any clustering can give, and no
  feature extraction) or K-means on EfficientNet-Lite0 features (``--grouping kmeans``, as folder mode;
  10k features at 224 px cost ~15 CPU-minutes); the small-CNN attacker (12 epochs, crop+flip) with fine
  labels, attacker seed 0 (``--seeds``; ``--more-seeds`` gives some candidates more); worst (highest) peak
  and final accuracy over the seeds. ``--reference`` adds the default strength on all 10k images.

    python benchmarks/visibility.py --only 0,2,7,9,11 --more-seeds 7:0,1,2   # what docs/results.md, "Photos a person would publish" reports
    python benchmarks/visibility.py --reference        # + the default on the full 10k
    python benchmarks/visibility.py --photos-only      # visibility only (seconds)
    python benchmarks/visibility.py --only 0,7 --seeds 0 --skip-clean --results /tmp/w1   # one worker's share

Attacker runs are cached (``ucs_lite.cache.evaluate``, under ``$UCS_LITE_CACHE``): a rerun only
computes what is missing. Results: benchmarks/results/visibility.json (its table is printed at the end).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import RESULTS, cifar10_base, write_result
from benchmarks.common import RESULTS as STORED  # the stored results (RESULTS may be a worker's folder)
from ucs_lite import cache
from ucs_lite.attack import AttackConfig
from ucs_lite.cluster import cluster_metrics, extract_features, fit_clusters
from ucs_lite.data import Bundle, ImageSet, load
from ucs_lite.metrics import visibility
from ucs_lite.noise.photo import DEFAULT_STRENGTH, STRENGTHS, Construction, masked_delta, protect_images, random_cells
from ucs_lite.protect import apply_native
from ucs_lite.surrogates import create_surrogate
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")

#: candidate name -> construction; the named strengths are among them
CANDIDATES: dict[str, Construction] = {
    "paper (old default): rgb 8 cells ε16": STRENGTHS["paper"],
    "luma 8 cells ε16": Construction(16, 8, "luma"),
    "strong: luma 16 cells ε16": STRENGTHS["strong"],
    "luma 32 cells ε16 (finer)": Construction(16, 32, "luma"),
    "luma 56 cells ε16 (4 px at 224: finer than CIFAR's pixels)": Construction(16, 56, "luma"),
    "chroma-limited 16 cells ε16": Construction(16, 16, "chroma-limited"),
    "luma 16 cells ε12, texture mask": Construction(12, 16, "luma", 0.0),
    "balanced (default): luma 16 cells ε16, texture mask": STRENGTHS["balanced"],
    "luma 16 cells ε8": Construction(8, 16, "luma"),
    "subtle: luma 16 cells ε8, texture mask": STRENGTHS["subtle"],
    "rgb 8 cells ε8": Construction(8, 8, "rgb"),
    "luma 16 cells ε16, texture mask with floor 0.5": Construction(16, 16, "luma", 0.5),
}

#: Protection of some candidates measured earlier under the full protocol of docs/results.md (all 10k training
#: images, K-means clusters p = 10 on EfficientNet-Lite0 features, a random pattern per cluster, small-CNN,
#: fine labels, attacker seed 0): benchmarks/results/explore.json and robust.json.
#: candidate -> (result file, the key that names its options, the options, ε·255 or None): where its 10k point is
PRIOR_10K_SOURCES = {
    "paper (old default): rgb 8 cells ε16": ("explore.json", "built_from", '{"form": "lowfreq"}', 16),
    "luma 8 cells ε16": ("robust.json", "options", '{"gray": true, "lowfreq_res": 8}', None),
    "strong: luma 16 cells ε16": ("robust.json", "options", '{"gray": true, "lowfreq_res": 16}', None),
    "rgb 8 cells ε8": ("explore.json", "built_from", '{"form": "lowfreq"}', 8),
}


def prior_10k(name: str) -> dict | None:
    """``{"peak", "final", "source"}`` of a candidate measured earlier under the 10k protocol, read from its stored
    result (:data:`PRIOR_10K_SOURCES`); None for the others."""
    if name not in PRIOR_10K_SOURCES:
        return None
    file, key, opt, eps = PRIOR_10K_SOURCES[name]
    rows = json.loads((STORED / file).read_text())["rows"]
    hit = next(x for x in rows if x["method"] == "random-cluster" and x[key] == opt
               and x.get("defense", "none") == "none" and (eps is None or x.get("eps255") == eps))
    return {"peak": hit["peak"], "final": hit["final"], "source": file}


def clean_10k_peak() -> float:
    """The clean attacker's peak on all 10k images, fine labels, seed 0 (``table.json``, study.py's table stage)."""
    rows = json.loads((STORED / "table.json").read_text())["rows"]
    return next(r["peak"] for r in rows if r["method"] == "clean" and r["labels"] == "fine")


def photo_visibility(c: Construction, seed: int = 0) -> dict:
    """Visibility figures of construction ``c`` on the four photos (two groups, alternating)."""
    from skimage import data

    work = 224 if c.cells > 32 else 64
    d = F.interpolate(torch.from_numpy(random_cells(2, c, seed)), size=(work, work), mode="nearest").numpy()
    per = {}
    for i, name in enumerate(PHOTOS):
        img = getattr(data, name)()
        dk = d[i % 2] if c.mask_floor is None else masked_delta(img, d[i % 2], c.mask_floor)
        v = visibility(img, apply_native(img, dk))
        v.pop("changed_box")
        per[name] = v
    keys = list(next(iter(per.values())))
    return {"per_photo": per, "mean": {k: float(np.mean([p[k] for p in per.values()])) for k in keys},
            "worst_de2000_mean": max(p["de2000_mean"] for p in per.values())}


def shared_split(n_train: int | None, test_size: int = 2000) -> tuple[Bundle, np.ndarray]:
    """The shared CIFAR-10 bundle with a class-balanced ``n_train`` subset (None: all 10k) and the fixed
    2k test subset; also the indices of the training subset within the 10k."""
    full = cifar10_base(test_size)
    idx = full.train.balanced_indices(n_train, seed=0) if n_train else np.arange(len(full.train))
    return Bundle(full.train.subset(idx), full.test, {}, full.source), idx


def groups_of(base: Bundle, idx: np.ndarray, grouping: str) -> np.ndarray:
    """The group of every training image: ``kmeans`` (EfficientNet-Lite0 features at 224 px, standardised,
    K-means p = 10, seed 0: what folder mode does) or ``fine`` (the true fine class: perfectly pure clusters,
    the upper bound of what any clustering gives; costs no feature extraction)."""
    if grouping == "fine":
        return base.train.view("fine")[0]
    full = load("shared")
    feats = extract_features(create_surrogate(device="cpu"), full.train.images, progress=True)[idx]
    return fit_clusters(feats, 10, seed=0, mode="standardize").labels


def protection(c: Construction, n_train: int | None, seeds: list[int], epochs: int, grouping: str = "fine") -> dict:
    """Worst-over-seeds fine-label attacker accuracy on CIFAR-10 protected with construction ``c``."""
    base, idx = shared_split(n_train)
    groups = groups_of(base, idx, grouping)
    x = protect_images(base.train.images, groups, random_cells(10, c, seed=0), c)
    meta = {"method": "photo-construction", "grouping": grouping, **c.as_dict()}
    b = Bundle(ImageSet(x, dict(base.train.labels), dict(base.train.class_names)), base.test,
               {"meta": np.array(json.dumps(meta))}, base.source)
    runs = []
    for s in seeds:
        r = cache.evaluate(b, "fine", AttackConfig(epochs=epochs, seed=s), progress=False)
        runs.append({"seed": s, "final": r["test_acc_final"], "peak": r["test_acc_peak"], "seconds": r["seconds"]})
        print(f"    seed {s}: final {r['test_acc_final']:.3f} peak {r['test_acc_peak']:.3f} ({r['seconds']:.0f}s)",
              flush=True)
    return {"n_train": len(base.train), "runs": runs, "worst_peak": max(r["peak"] for r in runs),
            "worst_final": max(r["final"] for r in runs),
            "grouping": grouping, "purity_fine": cluster_metrics(groups, base.train.view("fine")[0])["purity"]}


def clean_reference(n_train: int | None, seeds: list[int], epochs: int) -> dict:
    base, _ = shared_split(n_train)
    runs = [cache.evaluate(base, "fine", AttackConfig(epochs=epochs, seed=s), progress=False) for s in seeds]
    return {"n_train": len(base.train), "peaks": [r["test_acc_peak"] for r in runs],
            "finals": [r["test_acc_final"] for r in runs]}


def write(out: dict) -> list[str]:
    """visibility.json (with provenance) under :data:`RESULTS`; returns its markdown table (printed, not stored:
    the docs tables read the JSON)."""
    write_result(RESULTS / "visibility.json", out)
    clean = out.get("clean")
    n = out.get("protocol", {}).get("n_train")
    lines = ["| construction | ΔE00 mean (4 photos: mean / worst) | ΔE00 p95 | share > 2.3 | PSNR dB | SSIM "
             "| fine peak / final, 10k K-means, seed 0 (earlier) "
             f"| fine peak, worst of seeds ({n} train) | fine final, worst | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        if not r.get("visibility"):
            continue
        m, p = r["visibility"]["mean"], r.get("protection")
        prot = (f"{p['worst_peak']:.3f} | {p['worst_final']:.3f} | {len(p['runs'])}" if p else "— | — | 0")
        pr = prior_10k(r["name"])
        prior = f"{pr['peak']:.3f} / {pr['final']:.3f}" if pr else "—"
        lines.append(f"| {r['name']} | {m['de2000_mean']:.2f} / {r['visibility']['worst_de2000_mean']:.2f} | "
                     f"{m['de2000_p95']:.2f} | {m['de2000_share_jnd']:.2f} | {m['psnr']:.1f} | {m['ssim']:.3f} | "
                     f"{prior} | {prot} |")
    if clean:
        lines.append(f"\nClean reference ({clean['n_train']} train, no noise), peak / final, seed 0: "
                     f"{clean['peaks'][0]:.3f} / {clean['finals'][0]:.3f}.")
    ref = out.get("reference_10k")
    if ref:
        peaks = ", ".join(f"{r['peak']:.3f}" for r in ref["runs"])
        lines.append(f"\n10k reference, default strength `{DEFAULT_STRENGTH}`: peaks {peaks} "
                     f"(worst {ref['worst_peak']:.3f}), finals worst {ref['worst_final']:.3f}; clean 10k peak "
                     f"{clean_10k_peak():.3f} (table.json).")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos-only", action="store_true")
    ap.add_argument("--reference", action="store_true", help="also the default strength on all 10k images")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--only", default="", help="comma-separated candidate indices (default: all)")
    ap.add_argument("--more-seeds", default="", metavar="INDICES:SEEDS",
                    help="e.g. 0,2,6:0,1,2 — these candidates use these attacker seeds instead of --seeds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grouping", choices=["fine", "kmeans"], default="fine",
                    help="groups the noise follows on CIFAR-10: true fine classes (default, no features needed) "
                         "or K-means on EfficientNet-Lite0 features (as folder mode; extracts 10k features)")
    ap.add_argument("--skip-clean", action="store_true", help="no clean reference run (e.g. a second worker)")
    ap.add_argument("--results", default=None, help="where visibility.json goes (default benchmarks/results)")
    a = ap.parse_args()
    global RESULTS
    RESULTS = Path(a.results) if a.results else RESULTS
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    prev = json.loads((RESULTS / "visibility.json").read_text()) if (RESULTS / "visibility.json").is_file() else {}
    old = {r["name"]: r for r in prev.get("rows", [])}
    only = {int(i) for i in a.only.split(",") if i}
    more: dict[int, list[int]] = {}
    if a.more_seeds:
        idx, _, sds = a.more_seeds.partition(":")
        more = {int(i): [int(x) for x in sds.split(",")] for i in idx.split(",")}
    out = {k: v for k, v in prev.items() if k != "rows"}
    out.update({"protocol": {"n_train": a.n_train, "test": 2000, "epochs": a.epochs, "attacker": "small-cnn",
                             "labels": "fine", "groups": 10, "grouping": a.grouping, "photos": PHOTOS}, "rows": []})
    t0 = time.time()
    if not a.photos_only and not a.skip_clean:
        out["clean"] = clean_reference(a.n_train, [0], a.epochs)
    for i, (name, c) in enumerate(CANDIDATES.items()):
        if only and i not in only and name in old:  # another worker's row: keep it as it was
            out["rows"].append(old[name])
            continue
        row = {"name": name, "construction": c.as_dict(),
               "strength": next((k for k, v in STRENGTHS.items() if v == c), None),
               "visibility": photo_visibility(c) if not only or i in only else {}}
        if old.get(name, {}).get("protection"):
            row["protection"] = old[name]["protection"]
        if not a.photos_only and (not only or i in only):
            print(f"[{i}] {name}", flush=True)
            row["protection"] = protection(c, a.n_train, more.get(i, seeds), a.epochs, a.grouping)
        out["rows"].append(row)
        write(out)
    if a.reference:
        print(f"10k reference: {DEFAULT_STRENGTH}", flush=True)
        out["reference_10k"] = protection(STRENGTHS[DEFAULT_STRENGTH], None, seeds, a.epochs, a.grouping)
    out["seconds"] = time.time() - t0
    print("\n".join(write(out)))


if __name__ == "__main__":
    main()
