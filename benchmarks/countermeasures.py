"""Issue 24: protection that survives JPEG and grayscale — a countermeasure-aware study.

Every construction is one bounded pattern (ε = 16/255) per cluster on the **same** K-means clusters that
``gen-cluster`` uses (default surrogate, p = 10, standardised features, seed 0), so only the pattern changes. Each
protected training set (and the clean one) is attacked from scratch by the small CNN with crop+flip after a
data-level countermeasure (none, jpeg:10, grayscale, grayscale+jpeg:10; blur:1, jpeg:30, strong-aug reported only);
``removed`` is computed against the clean attacker under the *same* countermeasure, view and seed.

    python benchmarks/countermeasures.py survival                      # share of each δ each countermeasure keeps
    python benchmarks/countermeasures.py bands --data c10              # ... split by channel and DCT frequency band
    python benchmarks/countermeasures.py run --data c100 --views fine --noises gen-cluster,jpeg-code --seeds 0
    python benchmarks/countermeasures.py photos                        # what folder mode's δ keeps on photos
    python benchmarks/countermeasures.py crafts --data c10             # what the cached crafts cost (no crafting)
    python benchmarks/countermeasures.py reproduce --data c10 --views fine --noises gen-cluster,jpeg-mirror-distinct
                                                                       # do this machine's sets give the stored peaks?
    python benchmarks/countermeasures.py report                        # the JSON's summary from every stored row

``run`` appends one row per attacker run to benchmarks/results/countermeasures.json (resumable: rows already
there are skipped; attacker runs and features are cached in UCS_LITE_CACHE). ``--stop-at HH:MM`` (UTC, its next
occurrence; or an ISO date-time) starts no new run after that time.
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

from benchmarks.common import (RESULTS, cifar10_base, cifar100_dev, commit, join_removed, past, protect_perturbation,
                               provenance, stop_time)
from ucs_lite.attack import AttackConfig
from ucs_lite.cache import evaluate as evaluate_cached
from ucs_lite.data import Bundle, ImageSet, atomic_write_bytes
from ucs_lite.defenses import noise_survival
from ucs_lite.noise import apply
from ucs_lite.noise.base import Perturbation
from ucs_lite.noise.filters import cluster_kernels, filter_deltas, offset_patterns
from ucs_lite.noise.jpeg_grid import (BANDS, band_parts, jpeg_code_patterns, jpeg_sign_patterns,
                                      jpeg_tile_patterns, shift_similarity)
from ucs_lite.noise.patterns import gen_jpeg_patterns, random_patterns, split_patterns
from ucs_lite.cluster import cluster_images
from ucs_lite.surrogates import DEFAULT_SURROGATE, create_surrogate

OUT = RESULTS / "countermeasures.json"
EPS = 16 / 255
P = 10
MAIN_DEFENSES = ("none", "jpeg:10", "grayscale", "grayscale+jpeg:10")
EXTRA_DEFENSES = ("blur:1", "jpeg:30", "strong-aug")
#: issue 36: what an ordinary upload does (JPEG 75; half size then JPEG 75), and JPEG 90 / 50 around it
UPLOAD_DEFENSES = ("jpeg:75", "down:0.5+jpeg:75", "jpeg:90", "jpeg:50")
#: data sets: how each is loaded, the attacker's epochs and the views studied (docs/results.md protocols)
DATASETS = {
    "c100": {"what": "CIFAR-100 dev (shared, 10k train / 5k test)", "epochs": 15, "views": ("fine", "coarse")},
    "c10": {"what": "CIFAR-10 (shared, 10k train / balanced 2k test)", "epochs": 12, "views": ("fine", "coarse")},
}

#: the constructions: name -> patterns(groups, size, eps, seed) -> G×3×H×W within ±ε
CONSTRUCTIONS = {
    "gen-cluster": lambda g, s, e, seed: random_patterns(g, s, e, seed, form="generator"),
    "luma-blocks8": lambda g, s, e, seed: random_patterns(g, s, e, seed, form="lowfreq", lowfreq_res=s[0] // 8, gray=True),
    "jpeg-code": lambda g, s, e, seed: jpeg_code_patterns(g, s, e, seed),
    "gen-jpeg": lambda g, s, e, seed: gen_jpeg_patterns(g, s, e, seed),
    "split": lambda g, s, e, seed: split_patterns(g, s, e, seed, share=0.5),
    # sign of a random code on the five lowest AC coefficients (no DC): every pixel at ±ε, so JPEG keeps the largest
    # low-frequency amplitude the bound allows (the sign's higher harmonics are what it drops)
    "jpeg-sign": lambda g, s, e, seed: jpeg_sign_patterns(g, s, e, seed),
    # one ±ε 8×8 tile per cluster repeated over the grid: a stationary texture that random crops cannot misalign
    "jpeg-tile": lambda g, s, e, seed: jpeg_tile_patterns(g, s, e, seed),
    # the same with a tile that is its own mirror image: the attacker's flips leave it unchanged
    "jpeg-mirror": lambda g, s, e, seed: random_patterns(g, s, e, seed, form="jpeg-mirror"),
    # ... with the tiles chosen from 256 candidates to be far apart up to a shift (what a convolution cannot tell apart)
    "jpeg-mirror-distinct": lambda g, s, e, seed: random_patterns(g, s, e, seed, form="jpeg-mirror-distinct"),
    # ... from seven even-horizontal-frequency cosines (adds (4,0) and (2,2), JPEG-10 steps 90 and 80) and 1,024
    # candidates: tiles further apart up to a shift (largest correlation 0.44 against 0.56), the same JPEG survival
    "jpeg-mirror-distinct8": lambda g, s, e, seed: jpeg_tile_patterns(g, s, e, seed, keep=8, mirror=True, distinct=1024),
    # issue 36 (b): one constant colour / brightness offset per cluster at full budget (JPEG keeps each block's DC)
    "offset-cluster": lambda g, s, e, seed: offset_patterns(g, s, e, seed),
    "jpeg-code3": lambda g, s, e, seed: jpeg_code_patterns(g, s, e, seed, keep=3),
    "jpeg-code10": lambda g, s, e, seed: jpeg_code_patterns(g, s, e, seed, keep=10),
}

#: constructions crafted from the images: class-wise error-minimising noise (:func:`ucs_lite.noise.em.craft_em`)
#: with the clusters as the classes — plain, and crafted *through* the countermeasures (expectation over a
#: differentiable JPEG 10 / grayscale / both, drawn per batch) -> the ``through`` option
#: (one δ step per batch and 10 rounds: ~1 min a round on 10k CIFAR images on 2 CPU cores, through the countermeasures)
CRAFTED = {"em-cluster": {"through": ""}, "em-cluster-eot": {"through": "jpeg:10,grayscale,grayscale+jpeg:10"},
           # ... and through the attacker's crop + flip after the countermeasure
           "em-cluster-eot-aug": {"through": "jpeg:10,grayscale,grayscale+jpeg:10", "augment": True},
           # ... with JPEG in two batches of three (none / JPEG 10 / grayscale + JPEG 10): JPEG is the column to win
           "em-cluster-eot-jpeg": {"through": "jpeg:10,grayscale+jpeg:10"},
           # ... crafted twice as long and never stopped early (is the 99 % stopping rule why it is weaker on CIFAR-100?)
           "em-cluster-eot-long": {"through": "jpeg:10,grayscale,grayscale+jpeg:10", "rounds": 20, "stop_acc": 1.01},
           # the same crafting as em-cluster-eot from another crafting seed: how much does one craft vary?
           "em-cluster-eot-c1": {"through": "jpeg:10,grayscale,grayscale+jpeg:10", "craft_seed": 1},
           # one δ per *image* (sample-wise EM), still towards its cluster's label, crafted through the countermeasures:
           # each image's δ can use what survives JPEG in that image (the "per image" variant)
           "em-sample-eot": {"through": "jpeg:10,grayscale,grayscale+jpeg:10", "mode": "sample"}}
CRAFT_OPTIONS = {"rounds": 10, "pgd_steps": 1, "train_steps": 20}

#: issue 36 (a): constructions that depend on each image: name -> delta(images uint8 N×H×W×3, assignment, eps, seed)
#: -> N×3×H×W within ±ε. One random channel-shared 3×3 filter per cluster (label-free CUDA), δ = filtered − image
PER_IMAGE = {"conv-cluster": lambda x, a, e, seed: filter_deltas(x, a, cluster_kernels(int(a.max()) + 1, seed), e),
             "conv-cluster2": lambda x, a, e, seed: filter_deltas(x, a, cluster_kernels(int(a.max()) + 1, seed, strength=2.0), e)}

#: issue 36 (b): budget splits: name -> ((construction, share of ε), ...), the parts scaled and summed (within ±ε)
COMBINED = {"offset-eot": (("offset-cluster", 0.5), ("em-cluster-eot-long", 0.5)),
            "offset-eot-q": (("offset-cluster", 0.25), ("em-cluster-eot-long", 0.75))}


def patterns_for(train: ImageSet, assignment: np.ndarray, name: str) -> np.ndarray:
    """G×3×H×W patterns within ±ε of construction ``name`` for the clusters ``assignment`` (N,) of ``train``
    (N×3×H×W, one per image in ``train``'s order, for a sample-wise crafted one); crafted ones are cached in the one
    cache (UCS_LITE_CACHE) under a key of everything they depend on."""
    groups, size = int(assignment.max()) + 1, train.images.shape[1:3]
    if name in COMBINED:
        return np.clip(sum(share * patterns_for(train, assignment, part) for part, share in COMBINED[name]),
                       -EPS, EPS).astype(np.float32)
    if name in PER_IMAGE:
        return PER_IMAGE[name](train.images, assignment, EPS, 0)
    if name not in CRAFTED:
        return CONSTRUCTIONS[name](groups, size, EPS, 0)
    from ucs_lite.cache import cached_perturbation
    from ucs_lite.noise.em import craft_em

    key, opts = craft_key(train, assignment, name)
    em_opts = {k: v for k, v in opts.items() if k not in ("mode", "craft_seed")}
    pert = cached_perturbation(key, lambda: craft_em(train.images, assignment, EPS, seed=opts.get("craft_seed", 0),
                                                     mode=opts.get("mode", "class"), label_view="clusters",
                                                     **em_opts), definition_of=f"em-{opts.get('mode', 'class')}")
    return pert.delta


def craft_key(train: ImageSet, assignment: np.ndarray, name: str) -> tuple[dict, dict]:
    """(the cache key of crafted construction ``name`` on ``train`` with clusters ``assignment``, its options)."""
    import hashlib

    opts = {**CRAFT_OPTIONS, **CRAFTED[name]}
    key = {"method": f"study:{name}", "options": opts, "train": train.fingerprint(),
           "assignment": hashlib.sha256(np.ascontiguousarray(assignment, np.int64).tobytes()).hexdigest()[:16],
           "eps": round(EPS, 10), "seed": opts.get("craft_seed", 0)}
    return key, opts


class _NotCached(Exception):
    pass


def craft_rows(base: Bundle, data: str) -> list[dict]:
    """What each crafted construction found in the cache cost when it was crafted: wall seconds and rounds as its
    meta recorded them (the thread count and the machine's load were not recorded), and the crafting model's last
    fit of the clusters; constructions not in the cache are left out (nothing is crafted here)."""
    from ucs_lite.cache import cached_perturbation

    assign = clusters_of(base)
    rows = []
    for name in CRAFTED:
        key, opts = craft_key(base.train, assign, name)

        def missing():
            raise _NotCached

        try:
            pert = cached_perturbation(key, missing, definition_of=f"em-{opts.get('mode', 'class')}")
        except _NotCached:
            continue
        meta = pert.meta
        rows.append({"data": data, "noise": name, "n": len(base.train), "seconds": meta.get("seconds"),
                     "rounds_run": meta.get("rounds_run"), "last_fit": (meta.get("train_acc_history") or [None])[-1],
                     "train": base.train.fingerprint()})
        print(rows[-1], flush=True)
    return rows


def load_data(name: str) -> Bundle:
    """The study's bundle for ``c100`` or ``c10`` (shared/data; CIFAR-10 tested on a balanced 2k subset)."""
    return cifar100_dev() if name == "c100" else cifar10_base(2000)


def protect_with(base: Bundle, assignment: np.ndarray, construction: str) -> tuple[Bundle, Perturbation]:
    """Training images + the construction's pattern of each image's cluster (``assignment`` (N,))."""
    delta = patterns_for(base.train, assignment, construction)
    per_image = len(delta) == len(assignment) and len(delta) != int(assignment.max()) + 1
    pert = Perturbation(delta, np.arange(len(delta)) if per_image else assignment, construction, EPS, 0)
    return protect_perturbation(base, pert), pert


def clusters_of(base: Bundle) -> np.ndarray:
    """The default's clustering: K-means p = 10 of standardised default-surrogate features (cached), seed 0."""
    s = create_surrogate(DEFAULT_SURROGATE, device="cpu")
    _, c = cluster_images(base.train.images, s, P, seed=0, mode="standardize", progress=False)
    return c.labels


def stored() -> dict:
    if OUT.is_file():
        return json.loads(OUT.read_text())
    return {"protocol": {"eps255": 16, "p": P, "surrogate": DEFAULT_SURROGATE, "clusters": "K-means standardize seed 0",
                         "attacker": "small-cnn, crop+flip, lr 0.05", "datasets": DATASETS,
                         "removed": "(clean − protected)/(clean − chance), clean under the same countermeasure, view, seed"},
            "visibility": [], "survival": [], "runs": []}


def save(out: dict) -> None:
    atomic_write_bytes(OUT, json.dumps(out, indent=1, default=float).encode())


def stamped(out: dict) -> None:
    """Set ``provenance`` to this command: the stages whose output the docs read (``report``'s summary, survival,
    visibility, bands) call it; a ``run`` appends rows that each record their own commit."""
    out["provenance"] = {**provenance(), "rows": "each run row records the commit it was made at"}


def locked_update(change) -> dict:
    """Read the stored JSON, apply ``change(out)`` and save it, under an exclusive lock (several ``run`` processes
    and ``report`` may share the file); returns the saved dict."""
    import fcntl

    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "countermeasures.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = stored()
        change(out)
        save(out)
        return out


RUN_KEY = ("data", "view", "noise", "defense", "seed")


def append_run(row: dict) -> None:
    """Add one run to the stored JSON (:func:`locked_update`), unless a process running beside this one stored the
    same (data, view, noise, defense, seed) first: one row per run, the first one kept."""
    def add(out: dict) -> None:
        if not any(all(r[k] == row[k] for k in RUN_KEY) for r in out["runs"]):
            out["runs"].append(row)
    locked_update(add)


def samples(base: Bundle, names, n: int):
    """For each construction: (name, its G×3×H×W patterns, the first ``n`` clean training images, the same
    images protected), uint8 N×H×W×3, on :func:`clusters_of`'s clusters — what the no-training stages measure."""
    assign = clusters_of(base)
    x = base.train.images[:n]
    for name in names:
        delta = patterns_for(base.train, assign, name)
        if len(delta) == len(assign) and len(delta) != int(assign.max()) + 1:  # one δ per image
            yield name, delta[:n], x, apply(x, Perturbation(delta[:n], np.arange(n), name, EPS, 0))
        else:
            yield name, delta, x, apply(x, Perturbation(delta, assign[:n], name, EPS, 0))


def visibility_rows(base: Bundle, data: str, names) -> list[dict]:
    """PSNR, SSIM and CIEDE2000 (mean, share above the 2.3 JND) of each construction on the first 200 images."""
    from ucs_lite.metrics import visibility

    rows = []
    for name, _, x, xp in samples(base, names, 200):
        v = [visibility(a, b) for a, b in zip(x, xp)]
        rows.append({"data": data, "noise": name, **{k: float(np.mean([r[k] for r in v]))
                                                     for k in ("psnr", "ssim", "de2000_mean", "de2000_share_jnd")}})
        print(rows[-1], flush=True)
    return rows


def survival_rows(base: Bundle, data: str, names, n: int = 300) -> list[dict]:
    """Share of each construction's δ (mean over ``n`` images) that each countermeasure leaves in place
    (:func:`ucs_lite.defenses.noise_survival`)."""
    rows = []
    for name, _, x, xp in samples(base, names, n):
        row = {"data": data, "noise": name}
        for d in (*MAIN_DEFENSES[1:], *EXTRA_DEFENSES[:2], *UPLOAD_DEFENSES):
            row[d] = noise_survival(x, xp, d)
        rows.append(row)
        print("  ".join(f"{k} {v:.2f}" if isinstance(v, float) else str(v) for k, v in row.items()), flush=True)
    return rows


def tile_similarity(delta: np.ndarray) -> dict | None:
    """For a pattern made of one repeated 8×8 tile per cluster (G×3×H×W, periodic with period 8), how close the
    clusters' tiles are up to a cyclic shift (:func:`ucs_lite.noise.jpeg_grid.shift_similarity` of their luminance):
    the largest and the mean over pairs of clusters. ``None`` when the pattern is not 8-periodic."""
    y = delta.mean(1)
    if y.shape[-1] < 16 or y.shape[-2] < 16 or not (np.allclose(y[..., 8:, :], y[..., :-8, :])
                                                    and np.allclose(y[..., :, 8:], y[..., :, :-8])):
        return None
    sim = shift_similarity(y[:, :8, :8])
    off = sim[~np.eye(len(sim), dtype=bool)]
    return {"max": float(off.max()), "mean": float(off.mean())}


def band_rows(base: Bundle, data: str, names, n: int = 300) -> list[dict]:
    """Why a countermeasure removes what it removes, measured on δ itself: for each construction, the share of
    δ's energy in each of :data:`BANDS` (summed over the first ``n`` training images) and, per countermeasure D,
    the share of each part that is still there, Σ⟨D(x+δ) − D(x), δ_b⟩ / Σ‖δ_b‖² (δ_b: the part; the
    energy-weighted sum over the parts is the whole δ's survival). Beside them, what δ competes with: the
    images' own energy in each band (``image_share``; the images less their per-channel mean over the ``n``) and
    δ's energy there relative to it (``vs_image``, the band's signal-to-image ratio)."""
    from ucs_lite.defenses import transform_images

    x = base.train.images[:n]  # the images samples() protects: their own band energies, split once
    img = band_parts(x - x.reshape(-1, 3).mean(0))
    img_energy = {b: float((img[b] ** 2).sum()) for b in BANDS}
    rows = []
    for name, delta, x, xp in samples(base, names, n):
        d = xp.astype(np.float64) - x
        parts = band_parts(d)
        energy = {b: float((parts[b] ** 2).sum()) for b in BANDS}
        total = sum(energy.values())
        row = {"data": data, "noise": name, "share": {b: energy[b] / total for b in BANDS}, "kept": {},
               "tile_similarity": tile_similarity(delta),
               "image_share": {b: img_energy[b] / sum(img_energy.values()) for b in BANDS},
               "vs_image": {b: energy[b] / img_energy[b] for b in BANDS}}
        for spec in ("jpeg:10", "grayscale"):
            out = transform_images(xp, spec).astype(np.float64) - transform_images(x, spec)
            row["kept"][spec] = {b: float((out * parts[b]).sum() / energy[b]) if energy[b] > 1e-9 * total else None
                                 for b in BANDS}
        rows.append(row)
        print(name, {b: round(v, 3) for b, v in row["share"].items()},
              {k: {b: None if v is None else round(v, 2) for b, v in kv.items()} for k, kv in row["kept"].items()},
              flush=True)
    return rows


def check_same_craft(data: str, name: str, fingerprint: str) -> None:
    """Stop (SystemExit naming both) when the stored runs of ``name`` on ``data`` attacked another protected training
    set than ``fingerprint`` (a re-craft, other clusters or another pattern): its cells would mix two crafts. Set the
    old rows apart first (a ``:why`` suffix on their ``noise``, described in ``protocol.set_apart``)."""
    known = {r["train_fingerprint"] for r in stored()["runs"]
             if r["data"] == data and r["noise"] == name and r.get("train_fingerprint")}
    if known and fingerprint not in known:
        raise SystemExit(f"{name} on {data}: this protected training set ({fingerprint}) is not the one its stored "
                         f"runs attacked ({', '.join(sorted(known))}); set those rows apart before adding runs")


def reproduce_rows(data: str, view: str, noises) -> list[dict]:
    """Re-attack (cached where this machine already did) each construction's seed-0 no-countermeasure cell of
    ``view`` with this machine's clusters and crafts, beside the peak the stored rows hold for it — under its own
    name and under any set-apart name (``name:why``): which stored rows this machine's protected sets reproduce."""
    base = load_data(data)
    assign = clusters_of(base)
    runs = stored()["runs"]
    rows = []
    for name in dict.fromkeys(("clean", *noises)):
        bundle = base if name == "clean" else protect_with(base, assign, name)[0]
        r = evaluate_cached(bundle, view, AttackConfig(epochs=DATASETS[data]["epochs"], seed=0, device="cpu",
                                                       defense="none"), progress=False)
        was = {x["noise"]: x["peak"] for x in runs if (x["data"], x["view"], x["defense"], x["seed"]) ==
               (data, view, "none", 0) and x["noise"].split(":")[0] == name}
        rows.append({"data": data, "view": view, "noise": name, "defense": "none", "seed": 0,
                     "peak_now": r["test_acc_peak"], "stored_peaks": was, "train_fingerprint": bundle.train.fingerprint(),
                     "threads": torch.get_num_threads(), "commit": commit()})
        print(rows[-1], flush=True)
    return rows


def run(data: str, views, noises, defenses, seeds, stop_at: str | None) -> None:
    """Attack every (seed, defense, view, noise) not yet stored, clean first; one row per run, saved as it ends."""
    deadline = stop_time(stop_at)
    base = load_data(data)
    assign = clusters_of(base)
    spec = DATASETS[data]
    bundles: dict[str, Bundle] = {"clean": base}
    for seed in seeds:
        for defense in defenses:
            for view in views:
                for name in dict.fromkeys(("clean", *noises)):
                    if (data, view, name, defense, seed) in {tuple(r[k] for k in RUN_KEY) for r in stored()["runs"]}:
                        continue  # stored, by this process or another one running beside it
                    if past(deadline):
                        print("stop time reached", flush=True)
                        return
                    if name not in bundles:
                        bundles[name] = protect_with(base, assign, name)[0]
                        check_same_craft(data, name, bundles[name].train.fingerprint())
                    t0 = time.time()
                    r = evaluate_cached(bundles[name], view, AttackConfig(epochs=spec["epochs"], seed=seed, device="cpu",
                                                                          defense=defense), progress=False)
                    row = {"data": data, "view": view, "noise": name, "defense": defense, "seed": seed,
                           "peak": r["test_acc_peak"], "final": r["test_acc_final"], "chance": r["chance"],
                           "epochs": spec["epochs"], "commit": commit(), "torch": torch.__version__,
                           "threads": torch.get_num_threads(), "seconds": time.time() - t0,
                           # which protected training set exactly: a re-craft (other features, threads, machine) of
                           # the same construction can differ, and its runs must not be mixed silently with another's
                           "train_fingerprint": bundles[name].train.fingerprint()}
                    append_run(row)
                    print(f"{data} {view:<6} {name:<14} {defense:<18} s{seed} peak {row['peak']:.3f} final "
                          f"{row['final']:.3f} ({row['seconds']:.0f}s)", flush=True)


#: issue 36 (3): what folder mode's output keeps on photos: scikit-image's four bundled photos (300-640 px) at their
#: own size, each folder method at a strength, and the JPEG-grid tile laid on each photo's own 8×8 grid (what folder
#: mode would have to do to keep the tile aligned); ``train:224`` is the attacker's own resize to a 224-px long side
PHOTO_DEFENSES = ("jpeg:75", "down:0.5+jpeg:75", "jpeg:10", "grayscale", "train:224", "train:224+jpeg:75")
PHOTO_METHODS = (("gen-cluster", "balanced"), ("gen-cluster", "paper"), ("uc", "balanced"),
                 ("jpeg-tile-native", "native"))


def _photo_spec(spec: str, shape: tuple[int, ...]) -> str:
    """A :data:`PHOTO_DEFENSES` entry as a defense spec for one photo of ``shape`` (H×W×3): ``train:s`` becomes the
    ``down:`` that brings its long side to s px."""
    if not spec.startswith("train:"):
        return spec
    size, _, rest = spec.partition("+")
    return f"down:{int(size.split(':')[1]) / max(shape[:2]):.5f}" + (f"+{rest}" if rest else "")


def native_tiles(photos: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """Each photo (uint8 H×W×3) plus one ``jpeg-mirror-distinct`` tile (one per photo, ±ε) repeated over its own 8×8
    grid from the top-left corner, uint8 H×W×3 — the tile where JPEG at native size would find it."""
    tiles = random_patterns(len(photos), (8, 8), EPS, seed, form="jpeg-mirror-distinct")
    out = {}
    for tile, (name, img) in zip(tiles, photos.items()):
        h, w = img.shape[:2]
        d = np.tile(tile, (1, -(-h // 8), -(-w // 8)))[:, :h, :w].transpose(1, 2, 0)
        out[name] = np.clip(np.round(img + d * 255.0), 0, 255).astype(np.uint8)
    return out


def photo_rows() -> list[dict]:
    """The share of δ each of :data:`PHOTO_DEFENSES` keeps (:func:`ucs_lite.defenses.noise_survival`, mean over the
    four photos and the smallest photo's share) for each of :data:`PHOTO_METHODS`: the folder methods as
    ``protect --input-dir`` writes them (default surrogate, p lowered to 4), and the native-grid tile."""
    import tempfile
    import warnings

    from PIL import Image
    from skimage import data as skdata

    from benchmarks.visibility import PHOTOS  # the four photos every photo measurement here uses
    from ucs_lite.defenses import noise_survival
    from ucs_lite.protect import protect_folder

    photos = {n: getattr(skdata, n)() for n in PHOTOS}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        for n, img in photos.items():
            Image.fromarray(img).save(src / f"{n}.png")
        for method, strength in PHOTO_METHODS:
            if method == "jpeg-tile-native":
                prot = native_tiles(photos)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # p lowered to the four photos
                    protect_folder(src, Path(tmp) / method / strength, method=method, strength=strength,
                                   progress=False)
                prot = {n: np.asarray(Image.open(Path(tmp) / method / strength / f"{n}.png").convert("RGB"))
                        for n in photos}
            kept = {spec: [noise_survival(photos[n][None], prot[n][None], _photo_spec(spec, photos[n].shape))
                           for n in PHOTOS] for spec in PHOTO_DEFENSES}
            rows.append({"method": method, "strength": strength,
                         "sizes": {n: list(photos[n].shape[:2]) for n in PHOTOS},
                         "kept": {s: float(np.mean(v)) for s, v in kept.items()},
                         "kept_min": {s: float(np.min(v)) for s, v in kept.items()}})
            print(method, strength, {s: round(v, 2) for s, v in rows[-1]["kept"].items()}, flush=True)
    return rows


def with_removed(runs: list[dict]) -> list[dict]:
    """Each protected run with ``clean_peak`` and ``removed_peak`` / ``removed_final`` against the clean run of the
    same data, view, countermeasure and seed (NaN where that clean run is missing)."""
    return join_removed(runs, ("data", "view", "defense", "seed"))


def worst_table(runs: list[dict]) -> list[dict]:
    """Per (data, view, noise, defense): the seeds run, the worst (largest) peak and the worst (smallest) removed
    over them; a seed whose removed is NaN makes the worst NaN (never silently dropped)."""
    groups: dict[tuple, list[dict]] = {}
    for r in with_removed(runs):
        groups.setdefault((r["data"], r["view"], r["noise"], r["defense"]), []).append(r)
    out = []
    for (data, view, noise, defense), rs in groups.items():
        rem = np.array([r["removed_peak"] for r in rs], float)
        out.append({"data": data, "view": view, "noise": noise, "defense": defense,
                    "seeds": sorted(r["seed"] for r in rs), "worst_peak": max(r["peak"] for r in rs),
                    "worst_removed_peak": float(rem.min()) if np.isfinite(rem).all() else float("nan")})
    return out


def summarise(out: dict) -> dict:
    """The ``summary`` the docs tables read: worst over seeds per (data, view, construction, countermeasure)
    (:func:`worst_table`) and the clean attacker's mean peak per (data, view, countermeasure)."""
    clean: dict[tuple, list[dict]] = {}
    for r in out["runs"]:
        if r["noise"] == "clean":
            clean.setdefault((r["data"], r["view"], r["defense"]), []).append(r)
    return {"datasets": DATASETS, "worst": worst_table(out["runs"]),
            "clean": [{"data": k[0], "view": k[1], "defense": k[2], "peak": float(np.mean([r["peak"] for r in rs])),
                       "seeds": sorted(r["seed"] for r in rs)} for k, rs in clean.items()]}


def report(out: dict) -> str:
    """Store :func:`summarise`'s ``summary`` in the JSON (the docs tables read it: ``make results-docs``); returns
    a short account of what it holds."""
    out = locked_update(lambda o: (o.__setitem__("summary", summarise(o)), stamped(o)))
    views = sorted({(w["data"], w["view"]) for w in out["summary"]["worst"]})
    return (f"{OUT.relative_to(RESULTS.parent.parent)}: summary of {len(out['runs'])} runs over "
            + ", ".join(f"{d} {v}" for d, v in views) + "; `make results-docs` rewrites docs/countermeasures.md")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["run", "survival", "visibility", "bands", "photos", "crafts", "reproduce",
                                      "report"])
    ap.add_argument("--data", choices=list(DATASETS), default="c100")
    ap.add_argument("--views", default=None, help="comma-separated (default: the data set's views)")
    ap.add_argument("--noises", default=",".join(CONSTRUCTIONS))  # + CRAFTED ones, by name
    ap.add_argument("--defenses", default=",".join(MAIN_DEFENSES))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stop-at", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    noises = [n for n in a.noises.split(",") if n]
    known = [*CONSTRUCTIONS, *CRAFTED, *PER_IMAGE, *COMBINED]
    unknown = [n for n in noises if n not in known]
    if unknown:
        raise SystemExit(f"unknown construction(s) {unknown}; choose from {', '.join(known)}")
    if a.stage == "run":
        views = a.views.split(",") if a.views else DATASETS[a.data]["views"]
        run(a.data, views, noises, a.defenses.split(","), [int(s) for s in a.seeds.split(",")], a.stop_at)
    elif a.stage == "reproduce":
        view = (a.views or DATASETS[a.data]["views"][0]).split(",")[0]
        rows = reproduce_rows(a.data, view, noises)
        locked_update(lambda out: out.__setitem__("reproduced", [r for r in out.get("reproduced", []) if not (
            r["data"] == a.data and r["view"] == view and r["noise"] in ("clean", *noises))] + rows))
    elif a.stage == "crafts":
        rows = craft_rows(load_data(a.data), a.data)
        locked_update(lambda out: (out.__setitem__("crafts", [r for r in out.get("crafts", []) if r["data"] != a.data]
                                                   + rows), stamped(out)))
    elif a.stage in ("survival", "visibility", "bands"):
        base = load_data(a.data)
        rows = {"survival": survival_rows, "visibility": visibility_rows, "bands": band_rows}[a.stage](base, a.data, noises)
        locked_update(lambda out: (out.__setitem__(a.stage, [r for r in out.get(a.stage, []) if not (
            r["data"] == a.data and r["noise"] in noises)] + rows), stamped(out)))
    elif a.stage == "photos":
        rows = photo_rows()
        locked_update(lambda out: (out.__setitem__("photos", rows), stamped(out)))
    else:
        print(report(stored()))


if __name__ == "__main__":
    main()
