"""Issue 15: protection whatever label granularity the attacker picks (CIFAR-100 dev: 100 fine / 20 coarse).

Every noise here is a random sign pattern (4-px blocks, ε = 16/255) per group, so no optimisation is needed: label
partitions (random-class built from fine, coarse or a cross-cutting regroup), K-means clusterings of the default
surrogate's 224-px features at several p (random-cluster), and multi-granularity codes (random-multi: several
clusterings composed in one δ). Each is attacked by the small CNN (15 epochs, crop+flip) under every label view.

    python benchmarks/granularity.py run --part labels   # label partitions (no features), attacked per view
    python benchmarks/granularity.py run --part clusters # K-means / multi-granularity (224-px features, cached)
    python benchmarks/granularity.py run --part levers   # other p, channel / spatial codes, UC vs random-cluster
    python benchmarks/granularity.py report               # merge both parts: json + html figures

``run`` writes benchmarks/results/granularity.json (+ granularity.html) after every attacker run; attacker runs and
features are cached (UCS_LITE_CACHE), so a rerun resumes where it stopped. ``--stop-at`` (UTC HH:MM: its next
occurrence; or an ISO date-time) starts no new attacker run after that time.
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

from benchmarks.common import (RESULTS, cifar10_base, cifar100_dev, join_removed, past, protect_perturbation,
                               stop_time, write_result)
from ucs_lite.attack import AttackConfig
from ucs_lite.cache import evaluate as evaluate_cached
from ucs_lite.cluster import cluster_metrics, extract_features
from ucs_lite.data import Bundle
from ucs_lite.metrics import psnr
from ucs_lite.noise.multi import craft_random_multi, hierarchy_levels, multi_levels
from ucs_lite.surrogates import DEFAULT_SURROGATE, create_surrogate

#: the CIFAR-100 dev set's file name (:func:`benchmarks.common.cifar100_dev` finds it)
DATA_NAME = "cifar100_dev.npz"
VIEWS = ("fine", "coarse", "regroup:20:0")
EPS = 16 / 255
EPOCHS = 15


def grouping_metrics(groups: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Purity, NMI, homogeneity and completeness of a grouping (N,) against labels (N,)
    (:func:`ucs_lite.cluster.cluster_metrics`)."""
    m = cluster_metrics(groups, y)
    return {k: m[k] for k in ("purity", "nmi", "homogeneity", "completeness")}


LABEL_NOISES = ("class@fine", "class@coarse", "class@regroup:20:0", "class@coarse+fine (sum)")


def _kmeans_cached(feats: np.ndarray, key: str, fn) -> list[np.ndarray]:
    """``fn()`` (a list of assignments) cached as .npy files under $UCS_LITE_CACHE/granularity/ (K-means at
    p = 500 on 10k×1280 features takes minutes on one thread)."""
    import hashlib

    from ucs_lite.files import cache_dir

    h = hashlib.sha256(np.ascontiguousarray(feats).tobytes()).hexdigest()[:12]
    path = cache_dir() / "granularity" / f"{key}-{h}.npy"
    if path.is_file():
        return list(np.load(path))
    out = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.stack(out))
    return out


def build_groupings(base: Bundle, feats: np.ndarray | None) -> dict[str, list[np.ndarray]]:
    """name -> the level assignments (one per granularity) of each noise studied; K-means ones only when
    ``feats`` is given."""
    y = {v: base.train.view(v)[0] for v in VIEWS}
    out = {"class@fine": [y["fine"]], "class@coarse": [y["coarse"]], "class@regroup:20:0": [y["regroup:20:0"]],
           "class@coarse+fine (sum)": [y["coarse"], y["fine"]]}
    if feats is None:
        return out
    h500, h100, h20 = _kmeans_cached(feats, "hier500", lambda: hierarchy_levels(feats, (500, 100, 20), seed=0, n_init=1))
    km20, km100 = _kmeans_cached(feats, "km20-100", lambda: multi_levels(feats, (20, 100), seed=0))
    return {**out, "km20": [km20], "km100": [km100], "km500": [h500],  # h500 is K-means p=500 itself
            "multi km20+km100 (sum)": [km20, km100], "multi km20+km500 (sum)": [km20, h500],
            "hier 20/100/500 (sum)": [h20, h100, h500], "hier20": [h20], "hier100": [h100]}


#: groupings of the "levers" part: K-means at other p, and multi-granularity codes composed without the sum's
#: amplitude split (each level keeps ±ε on its own channels / band). name -> (K-means p per level, composition)
LEVERS = {"km10": ((10,), "sum"), "km50": ((50,), "sum"),
          "multi km10+km20 (channel)": ((10, 20), "channel"), "multi km20+km100 (channel)": ((20, 100), "channel"),
          "multi km20+km100 (spatial)": ((20, 100), "spatial")}
#: UC (optimised) on the K-means clustering at p, at the notebooks' cpu-quick crafting size — against
#: random-cluster on the same clusters: does the optimisation add anything here?
UC_POINTS = {"uc km20 (30 steps, 64 px)": 20, "uc km10 (30 steps, 64 px)": 10}
#: the authors' generator architecture, untrained (``uc-official`` with 0 epochs: no optimisation), one per
#: K-means cluster — a random pattern of another family than our 4-px blocks (the frontier found it a stronger
#: shortcut at N = 500)
GEN0_POINTS = {"gen0 km20": 20, "gen0 km10": 10}
#: random per-pixel ±ε signs per K-means cluster: is gen0's strength just pixel-level saturation? (gen0's δ,
#: generated at 224 px and resized, is 86 % saturated with a nearly white spectrum at 32 px)
PIXEL_POINTS = {"pixel km20": 20}


def compose_of(name: str) -> str:
    """The composition a grouping's levels are combined with (``sum`` unless its name says otherwise)."""
    return LEVERS[name][1] if name in LEVERS else "sum"


def build_levers(feats: np.ndarray) -> dict[str, list[np.ndarray]]:
    """The levers part's groupings (K-means of ``feats`` at each level's p, seed 0, cached)."""
    ps = sorted({k for levels, _ in LEVERS.values() for k in levels} | set(UC_POINTS.values()))
    km = dict(zip(ps, _kmeans_cached(feats, "km" + "-".join(map(str, ps)), lambda: multi_levels(feats, ps, seed=0))))
    out = {name: [km[k] for k in levels] for name, (levels, _) in LEVERS.items()}
    out.update({name: [km[k]] for name, k in {**UC_POINTS, **GEN0_POINTS, **PIXEL_POINTS}.items()})
    out["spectral20"] = _kmeans_cached(feats, "spectral20", lambda: [spectral_groups(feats, 20)])
    return out


def spectral_groups(feats: np.ndarray, p: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering of the 10-NN graph of L2-normalised PCA-128 features (standardised first): the
    clustering lever with the highest completeness in :func:`clustering_levers`."""
    from sklearn.cluster import SpectralClustering
    from sklearn.decomposition import PCA
    from sklearn.neighbors import kneighbors_graph

    std = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    z = PCA(128, random_state=seed).fit_transform(std)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    graph = kneighbors_graph(z, 10, include_self=False)
    return SpectralClustering(p, affinity="precomputed_nearest_neighbors", n_neighbors=10, random_state=seed,
                              assign_labels="cluster_qr").fit(graph).labels_.astype(np.int64)


def clustering_levers(feats: np.ndarray, ys: dict[str, np.ndarray], ps=(10, 20, 100), seed: int = 0) -> list[dict]:
    """Label-free clusterings of the same N×D features, scored against every label view (no attacker): can
    another algorithm reach a higher completeness than K-means? K-means on standardised / L2 / PCA-whitened
    features, K-means on L2-normalised PCA-128, spectral clustering of the 10-NN graph, Ward agglomeration
    constrained to the 10-NN graph. One row per (algorithm, p, view) with :func:`grouping_metrics` and seconds."""
    from sklearn.cluster import AgglomerativeClustering, SpectralClustering
    from sklearn.decomposition import PCA
    from sklearn.neighbors import kneighbors_graph

    from ucs_lite.cluster import fit_clusters

    std = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    z = PCA(128, random_state=seed).fit_transform(std)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    graph = kneighbors_graph(z, 10, include_self=False)
    algos = {
        "kmeans standardize": lambda p: fit_clusters(feats, p, seed=seed, mode="standardize", n_init=3).labels,
        "kmeans l2": lambda p: fit_clusters(feats, p, seed=seed, mode="l2", n_init=3).labels,
        "kmeans pca-whiten": lambda p: fit_clusters(feats, p, seed=seed, mode="pca-whiten", n_init=3).labels,
        "kmeans pca128-l2": lambda p: fit_clusters(z, p, seed=seed, mode="none", n_init=3).labels,
        "spectral 10-NN": lambda p: SpectralClustering(p, affinity="precomputed_nearest_neighbors", n_neighbors=10,
                                                       random_state=seed, assign_labels="cluster_qr").fit(graph).labels_,
        "ward 10-NN": lambda p: AgglomerativeClustering(p, linkage="ward", connectivity=graph).fit(z).labels_,
    }
    rows = []
    for name, fn in algos.items():
        for p in ps:
            t0 = time.time()
            g = np.asarray(fn(p), np.int64)
            dt = time.time() - t0
            for v, y in ys.items():
                rows.append({"algorithm": name, "p": p, "view": v, "seconds": dt, **grouping_metrics(g, y)})
            print(f"{name:<20} p={p:<4} {dt:6.1f}s  " + "  ".join(
                f"{r['view']}: compl {r['completeness']:.3f} homog {r['homogeneity']:.3f} purity {r['purity']:.3f}"
                for r in rows[-len(ys):]), flush=True)
    return rows


def protected_uc(base: Bundle, feats_surrogate, p: int, name: str, untrained_generator: bool = False
                 ) -> tuple[Bundle, dict]:
    """Training images + UC crafted on K-means(p) of the surrogate's features (cpu-quick crafting size), or
    with ``untrained_generator`` the authors' generators with 0 epochs on the same clusters."""
    from ucs_lite.cluster import fit_clusters
    from ucs_lite.noise.uc import craft_uc, craft_uc_official

    feats = extract_features(feats_surrogate, base.train.images, progress=False)  # cached
    clustering = fit_clusters(feats, p, seed=0, mode="standardize", n_init=3)  # = multi_levels' K-means at p
    if untrained_generator:
        pert = craft_uc_official(base.train.images, feats_surrogate, p=p, eps=EPS, seed=0, clustering=clustering,
                                 epochs=0, progress=False)
    else:
        pert = craft_uc(base.train.images, feats_surrogate, p=p, eps=EPS, seed=0, clustering=clustering,
                        progress=False, steps=30, craft_resolution=64, batch_per_cluster=4)
    b = protect_perturbation(base, pert, {"method": name})
    meta = {"method": name, "psnr": psnr(base.train.images, b.train.images), "groups": int(pert.assignment.max()) + 1,
            "craft_s": float(pert.meta.get("seconds", float("nan")))}
    return b, {**meta, "assignment": pert.assignment}


def protected(base: Bundle, levels: list[np.ndarray], name: str, compose: str = "sum",
              form: str = "lowfreq") -> tuple[Bundle, dict]:
    """Training images + random-multi noise of ``levels`` (one level = random-class / random-cluster exactly);
    ``form="pixel"``: per-pixel signs instead of 4-px blocks."""
    pert = craft_random_multi(levels, base.train.images.shape[1:3], EPS, seed=0, compose=compose, form=form)
    b = protect_perturbation(base, pert, {"method": name})
    meta = {"method": name, "psnr": psnr(base.train.images, b.train.images), "groups": pert.groups}
    return b, {**meta, "assignment": pert.assignment}


# attack queues in priority order: (noise, view, attacker seed); "labels" needs no features, "clusters" does
PLANS = {
    "labels": [("class@coarse", "regroup:20:0", 0), ("clean", "regroup:20:0", 0), ("class@regroup:20:0", "fine", 0),
               ("class@fine", "coarse", 0), ("class@coarse+fine (sum)", "fine", 0),
               ("class@coarse+fine (sum)", "coarse", 0), ("clean", "fine", 0), ("clean", "coarse", 0),
               ("class@coarse", "fine", 0), ("class@coarse", "coarse", 0), ("class@fine", "fine", 0),
               ("class@fine", "regroup:20:0", 0), ("class@regroup:20:0", "coarse", 0)],
    "clusters": [(n, v, 0) for n in ("km20", "multi km20+km100 (sum)", "hier 20/100/500 (sum)", "km500", "km100",
                                     "multi km20+km500 (sum)") for v in ("fine", "coarse")]
                + [(n, "regroup:20:0", 0) for n in ("km20", "km500")],
    "levers": [(n, v, 0) for n in ("km10", "gen0 km20", "gen0 km10", "pixel km20", "spectral20", "uc km20 (30 steps, 64 px)",
                                   "km50", "multi km10+km20 (channel)", "uc km10 (30 steps, 64 px)",
                                   "multi km20+km100 (channel)", "multi km20+km100 (spatial)") for v in ("fine", "coarse")],
    "seeds": [],  # only the seed plan of --best (attacker seeds 1 and 2 for the clean data and that noise)
}


def seed_plan(best: str) -> list[tuple[str, str, int]]:
    """Seeds 1 and 2 for the clean reference and each noise of ``best`` (comma-separated), fine and coarse."""
    names = ["clean", *best.split(",")]
    return [(n, v, s) for s in (1, 2) for v in ("fine", "coarse") for n in names]


def merged() -> dict:
    """Both parts' results in one dict; ``removed`` recomputed against the clean run of the same view and seed."""
    parts = [json.loads(f.read_text()) for f in (RESULTS / f"granularity_{k}.json" for k in PLANS) if f.is_file()]
    if not parts:
        raise SystemExit("no benchmarks/results/granularity_*.json yet: run the study first")
    out = {k: v for k, v in parts[0].items() if k not in ("groupings", "attacks", "part", "provenance")}
    seen, out["groupings"], attacks = set(), [], []
    for p in parts:
        for g in p["groupings"]:
            if (g["grouping"], g["view"]) not in seen:
                seen.add((g["grouping"], g["view"]))
                out["groupings"].append(g)
        attacks += p["attacks"]
    out["attacks"] = join_removed(attacks, ("view", "seed"), keep_clean=True)
    return out


def save(part: dict) -> None:
    """This part's JSON, the merged granularity.json (both with provenance) and the figures."""
    write_result(f"granularity_{part['part']}.json", part)
    out = merged()
    write_result("granularity.json", out)
    report(out)


def report(out: dict) -> None:
    """benchmarks/results/granularity.html (plotly.js inline: opens offline) from the results dict: completeness and
    purity of every grouping per view, protection against each grouping metric and the number of groups (seed 0),
    and the clustering algorithms of ``--part clusterings`` as a table."""
    import pandas as pd
    import plotly.express as px

    from ucs_lite.data import atomic_write_bytes

    figs = []
    if out["attacks"]:
        df = pd.DataFrame(out["attacks"])
        prot = df[(df.noise != "clean") & (df.seed == 0)].copy()
        if len(prot) >= 4:
            long = prot.melt(id_vars=["noise", "view", "removed_peak"], value_vars=["purity", "completeness", "homogeneity"],
                             var_name="metric", value_name="value")
            figs.append(px.scatter(long, x="value", y="removed_peak", color="view", facet_col="metric", hover_name="noise",
                                   template="plotly_white", range_x=[0, 1.02],
                                   title="Protection (removed, peak) vs each grouping metric w.r.t. the attacker's view"))
            km = prot[prot.noise.str.match(r"^(km\d+|class@|multi|hier)")].copy()
            km["family"] = km.noise.map(lambda n: "K-means (random-cluster)" if n.startswith("km") else
                                        "label partition (random-class)" if n.startswith("class@") else "multi-granularity")
            figs.append(px.scatter(km, x="groups", y="removed_peak", color="view", symbol="family", hover_name="noise",
                                   log_x=True, template="plotly_white",
                                   title="Protection vs number of noise groups (seed 0)"))
    g = pd.DataFrame(out["groupings"])
    if len(g):
        figs.insert(0, px.imshow(g.pivot(index="grouping", columns="view", values="completeness").round(2), text_auto=True,
                                 zmin=0, zmax=1, title="Completeness of each grouping w.r.t. each view"))
        figs.insert(1, px.imshow(g.pivot(index="grouping", columns="view", values="purity").round(2), text_auto=True,
                                 zmin=0, zmax=1, title="Purity of each grouping w.r.t. each view"))
    html = ["<html><head><meta charset='utf-8'><title>granularity study</title></head><body>"]
    html += [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    cl = RESULTS / "granularity_clusterings.json"
    if cl.is_file():
        cols = ["algorithm", "p", "view", "purity", "homogeneity", "completeness", "nmi", "seconds"]
        html += ["<h2>Clustering algorithms against the views (no attacker; <code>--part clusterings</code>)</h2>",
                 pd.DataFrame(json.loads(cl.read_text())["rows"]).reindex(columns=cols).round(3).to_html(index=False)]
    atomic_write_bytes(RESULTS / "granularity.html", ("\n".join(html + ["</body></html>"])).encode())


#: the CIFAR-10 check (docs/results.md protocol: shared 10k train, balanced 2k test, 12 epochs): the default's
#: clustering (K-means p = 10 on standardised 224-px features, 10 restarts) with each pattern family
CIFAR10_NOISES = ("random-cluster km10", "gen0 km10", "gen0 km20", "official E=1 M=100 km10")


def cifar10_check(seeds=(0, 1, 2), stop_at: str | None = None, defenses: tuple[str, ...] = ("none",),
                  noises: tuple[str, ...] = CIFAR10_NOISES, out_name: str = "granularity_cifar10") -> None:
    """Attack the CIFAR-10 candidates (:data:`CIFAR10_NOISES`) and the clean data, fine view, each attacker seed; writes benchmarks/results/granularity_cifar10.json (``removed`` against the clean run of the
    same view and seed)."""
    from ucs_lite.cluster import fit_clusters
    from ucs_lite.noise.patterns import craft_random_cluster
    from ucs_lite.noise.uc import craft_uc_official

    base = cifar10_base(2000)
    deadline = stop_time(stop_at)
    sur = create_surrogate(DEFAULT_SURROGATE, device="cpu")
    feats = extract_features(sur, base.train.images, progress=False)
    c = fit_clusters(feats, 10, seed=0, mode="standardize")
    c20 = fit_clusters(feats, 20, seed=0, mode="standardize")
    perts = {"random-cluster km10": lambda: craft_random_cluster(c, base.train.images.shape[1:3], EPS, seed=0),
             "gen0 km10": lambda: craft_uc_official(base.train.images, sur, p=10, eps=EPS, seed=0, clustering=c,
                                                    epochs=0, progress=False),
             "gen0 km20": lambda: craft_uc_official(base.train.images, sur, p=20, eps=EPS, seed=0, clustering=c20,
                                                    epochs=0, progress=False),
             # the frontier's cheapest trained official point, at N = 10k (its cost does not grow with N)
             "official E=1 M=100 km10": lambda: craft_uc_official(base.train.images, sur, p=10, eps=EPS, seed=0,
                                                                  clustering=c, epochs=1, max_images=100,
                                                                  batch_size=64, progress=False)}
    seconds: dict[str, float] = {}
    out = {"data": "shared CIFAR-10 10k train, balanced 2k test", "epochs": 12, "attacks": []}
    bundles, raw = {"clean": base}, []
    for defense in defenses:
        for seed in seeds:
            for name in ("clean", *noises):
                if name not in bundles:
                    c0 = time.process_time()
                    pert = perts[name]()
                    seconds[name] = time.process_time() - c0
                    bundles[name] = protect_perturbation(base, pert, {"method": name})
                for view in ("fine",):  # the CIFAR-10 criterion; coarse CIFAR-10 is protected by nothing
                    if past(deadline):
                        print("stop time reached", flush=True)
                        return
                    r = evaluate_cached(bundles[name], view, AttackConfig(epochs=12, seed=seed, device="cpu",
                                                                          defense=defense), progress=False)
                    row = {"noise": name, "view": view, "seed": seed, "defense": defense, "peak": r["test_acc_peak"],
                           "final": r["test_acc_final"], "chance": r["chance"], "craft_cpu_s": seconds.get(name, 0.0)}
                    raw.append(row)
                    out["attacks"] = join_removed(raw, ("view", "seed", "defense"), keep_clean=True)
                    print(f"cifar10 {name:<22} {view:<7} {defense:<9} s{seed} peak {row['peak']:.3f} final {row['final']:.3f} "
                          f"removed {out['attacks'][-1]['removed_peak']:.2f}", flush=True)
                    write_result(f"{out_name}.json", out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["run", "report"])
    ap.add_argument("--part", choices=[*PLANS, "clusterings", "cifar10", "cifar10-defenses"], default="labels",
                    help="which queue to run (clusterings: clustering algorithms scored against the views, no attacker; "
                         "cifar10: the candidates on the shared CIFAR-10)")
    ap.add_argument("--stop-at", default=None,
                    help="no new attacker run after this time: UTC HH:MM (its next occurrence) or an ISO date-time")
    ap.add_argument("--best", default=None, help="noise to attack with seeds 1 and 2 after the queue")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.part == "cifar10":
        torch.set_num_threads(a.threads)
        return cifar10_check(stop_at=a.stop_at)
    if a.part == "cifar10-defenses":  # does gen-cluster survive the cheap countermeasures? (seed 0)
        torch.set_num_threads(a.threads)
        return cifar10_check(seeds=(0,), stop_at=a.stop_at, defenses=("jpeg:10", "grayscale"),
                             noises=("gen0 km10", "random-cluster km10"), out_name="granularity_cifar10_defenses")
    if a.part == "clusterings":  # no attacker: clustering algorithms against the views
        torch.set_num_threads(a.threads)
        full = cifar100_dev()
        sur = create_surrogate(DEFAULT_SURROGATE, device="cpu")
        feats = extract_features(sur, full.train.images, progress=False)
        rows = clustering_levers(feats, {v: full.train.view(v)[0] for v in VIEWS})
        write_result("granularity_clusterings.json",
                     {"data": DATA_NAME, "surrogate": f"{sur.name}@{sur.resolution}", "rows": rows})
        return
    if a.stage == "report":
        out = merged()
        write_result("granularity.json", out)
        report(out)
        return
    torch.set_num_threads(a.threads)
    deadline = stop_time(a.stop_at)
    base = cifar100_dev()
    t0 = time.time()
    feats, sname, s = None, None, None
    if a.part in ("clusters", "levers", "seeds"):
        s = create_surrogate(DEFAULT_SURROGATE, device="cpu")
        feats, sname = extract_features(s, base.train.images, progress=False), f"{s.name}@{s.resolution}"
    groupings = build_groupings(base, feats) if a.part in ("labels", "clusters") else build_levers(feats)
    print(f"groupings in {time.time() - t0:.0f}s", flush=True)
    out = {"part": a.part, "data": DATA_NAME, "train": len(base.train), "test": len(base.test), "epochs": EPOCHS,
           "eps255": 16, "surrogate": sname, "feature_mode": "standardize", "groupings": [], "attacks": []}
    ys = {v: base.train.view(v)[0] for v in VIEWS}
    for name, levels in groupings.items():
        if a.part != "labels" and name in LABEL_NOISES:
            continue
        comb = np.unique(np.stack(levels, 1), axis=0, return_inverse=True)[1].ravel()
        for v in VIEWS:
            out["groupings"].append({"grouping": name, "groups": int(comb.max()) + 1, "view": v,
                                     **grouping_metrics(comb, ys[v])})
    save(out)
    plan = PLANS[a.part] + (seed_plan(a.best) if a.best else [])
    cache: dict[str, tuple[Bundle, dict]] = {}
    for name, view, seed in plan:
        if past(deadline):
            print("stop time reached", flush=True)
            break
        if name == "clean":
            b, meta = base, {"groups": 1, "psnr": float("nan"), "assignment": np.zeros(len(base.train), np.int64)}
        else:
            if name not in cache:
                cache[name] = (protected_uc(base, s, UC_POINTS[name], name) if name in UC_POINTS else
                               protected_uc(base, s, GEN0_POINTS[name], name, True) if name in GEN0_POINTS else
                               protected(base, groupings[name], name, compose_of(name),
                                         "pixel" if name.startswith("pixel ") else "lowfreq"))
            b, meta = cache[name]
        r = evaluate_cached(b, view, AttackConfig(epochs=EPOCHS, seed=seed, device="cpu"), progress=False)
        gm = grouping_metrics(meta["assignment"], ys[view])
        row = {"noise": name, "view": view, "seed": seed, "groups": meta["groups"], "psnr": meta["psnr"],
               "peak": r["test_acc_peak"], "final": r["test_acc_final"], "chance": r["chance"],
               "train_acc_last": r["per_epoch"][-1]["train_acc"], **gm,
               "per_epoch_test": [e["test_acc"] for e in r["per_epoch"]], "attack_s": r["seconds"]}
        out["attacks"].append(row)
        print(f"{name:<28} {view:<13} s{seed} peak {row['peak']:.3f} final {row['final']:.3f} train {row['train_acc_last']:.2f} "
              f"compl {gm['completeness']:.2f} purity {gm['purity']:.2f} ({r['seconds']:.0f}s)", flush=True)
        save(out)
    print(f"done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
