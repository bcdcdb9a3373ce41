"""Cost–protection frontier (issue 18): crafting cost against protection for the authors' generator schedule
(``uc-official`` with E epochs, optionally each generator on a subsample of M images), our ``uc`` at several step
counts and parametrisations, and ``random-cluster`` — same images, same clusters, same surrogate.

    nice -n 19 env UCS_LITE_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/frontier.py > /tmp/frontier.log 2>&1
    python benchmarks/frontier.py --report        # rewrite the summary / figure / speedup from the saved points

Protocol (as ``bench_craft.py --quick``): N = 500 class-balanced images of the shared CIFAR-10 training split
(``balanced_indices(500, seed=0)``), test set = 2,000 class-balanced images of its test split
(``balanced_subset(2000, seed=0)``), p = 10 K-means clusters (EfficientNet-Lite0 features at 224 px,
``standardize``, seed 0) shared by every point, ε = 16/255. Attacker: ``small-cnn``, 12 epochs, seeds 0/1/2,
fine (10 classes) and coarse (animal / vehicle) views.

Cost = CPU seconds of the crafting call alone, one thread (``torch.set_num_threads(1)``): the features and the
K-means, shared by every point, are excluded. CPU time rather than wall time because the machine is shared;
with one thread it is what an idle machine's wall clock would read. Protection: per view, the attacker's peak
and final test accuracy, worst (highest) over the 3 seeds; ``spread`` = max − min of the peak over the seeds;
``removed = (clean − protected) / (clean − chance)`` with clean = the clean attacker's mean peak over the same
seeds and chance = the majority rate of the view's test labels (1.0 = down to chance, 0 = nothing removed).

Resumable: every point is written to benchmarks/results/frontier.json as soon as it finishes; crafted δ and
attacker runs are cached under $UCS_LITE_CACHE, so a rerun skips what is done. Points run in the order of
``POINTS`` (most informative first); ``--budget-s`` skips points whose modelled cost does not fit.
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

from benchmarks.common import RESULTS, cifar10_base, protect_perturbation, write_result

OFFICIAL_EPOCHS = 50  # the authors' published schedule
SEEDS = (0, 1, 2)
VIEWS = ("fine", "coarse")

#: (name, kind, options) — in run order, most informative first. kind: uc | official | random-cluster.
POINTS: list[tuple[str, str, dict]] = [
    ("random-cluster", "random-cluster", {}),
    ("gen-cluster", "random-cluster", {"form": "generator"}),  # = the official generators untrained, as ours
    ("official E=0 (untrained generators)", "official", {"epochs": 0}),
    ("uc lowfreq 15 steps", "uc", {"steps": 15}),
    ("official E=1, M=50", "official", {"epochs": 1, "max_images": 50}),
    ("uc lowfreq 30 steps", "uc", {"steps": 30}),
    ("official E=1", "official", {"epochs": 1}),
    ("uc generator 30 steps", "uc", {"steps": 30, "param": "generator"}),
    ("official E=1, M=100", "official", {"epochs": 1, "max_images": 100}),
    ("uc pixel 30 steps", "uc", {"steps": 30, "param": "pixel"}),
    ("uc lowfreq 60 steps", "uc", {"steps": 60}),
    ("official E=2, M=100", "official", {"epochs": 2, "max_images": 100}),
    ("uc generator 60 steps", "uc", {"steps": 60, "param": "generator"}),
    ("official E=2", "official", {"epochs": 2}),
    ("uc lowfreq 120 steps", "uc", {"steps": 120}),
    ("official E=5, M=100", "official", {"epochs": 5, "max_images": 100}),
    ("official E=5", "official", {"epochs": 5}),
]
OFFICIAL_BATCH = 64  # as bench_craft --quick


# ----------------------------------------------------------------------------------------- selection logic


def protection(runs: dict[str, list[dict]], clean_peak: dict[str, float], chance: dict[str, float]) -> dict:
    """Per view, from the attacker runs ``{view: [{"peak", "final"}, ...one per seed]}``: worst (highest)
    peak and final over seeds, the best peak, ``spread`` (max − min peak) and ``removed`` (worst peak,
    and worst final, relative to the clean mean peak and the view's chance rate)."""
    out = {}
    for view, rs in runs.items():
        peaks, finals = [r["peak"] for r in rs], [r["final"] for r in rs]
        span = clean_peak[view] - chance[view]
        worst, worst_final = max(peaks), max(finals)
        out[view] = {"peak": worst, "final": worst_final, "best_peak": min(peaks), "spread": max(peaks) - min(peaks),
                     "seeds": len(rs), "removed": (clean_peak[view] - worst) / span if span > 0 else float("nan"),
                     "removed_final": (clean_peak[view] - worst_final) / span if span > 0 else float("nan")}
    return out


def at_least_as_good(ours: dict, ref: dict, views: tuple[str, ...] = VIEWS) -> bool:
    """Whether ``ours`` protects at least as well as ``ref`` in every view: its worst-seed peak is at most
    ref's worst-seed peak plus the seed spread, the larger of the two points' spreads (max − min peak over
    seeds). Both are :func:`protection` dicts."""
    for v in views:
        tol = max(ours[v]["spread"], ref[v]["spread"])
        if ours[v]["peak"] > ref[v]["peak"] + tol:
            return False
    return True


def equal_protection_speedup(official: dict, ours: list[dict], views: tuple[str, ...] = VIEWS,
                             shared_seconds: float = 0.0) -> dict:
    """The speed-up at equal protection.

    ``official``: ``{"name", "seconds", "seconds_full", "protection"}`` — ``seconds`` what the measured run
    cost, ``seconds_full`` its published schedule's cost (50 epochs, extrapolated), ``protection`` as
    :func:`protection`. ``ours``: a list of ``{"name", "seconds", "protection"}``.

    Returns ``{"speedup", "speedup_measured", "matched_by", "matched_seconds", "reason"}``: ``speedup`` =
    seconds_full / the cost of the cheapest of ours that is :func:`at_least_as_good` as the official run,
    ``speedup_measured`` = the same with the measured run's cost; both ``None``, with ``reason``, when none is.
    ``shared_seconds`` (the features + K-means both schedules need) is added to both sides, so that a
    configuration costing ~0 s on its own (``random-cluster``) gives a finite ratio of times to protect.
    """
    ok = [o for o in ours if at_least_as_good(o["protection"], official["protection"], views)]
    if not ours:
        return {"speedup": None, "speedup_measured": None, "matched_by": None, "matched_seconds": None,
                "reason": "no configuration of ours was measured"}
    if not ok:
        best = min(ours, key=lambda o: max(o["protection"][v]["peak"] - official["protection"][v]["peak"]
                                           for v in views))
        gap = {v: round(best["protection"][v]["peak"] - official["protection"][v]["peak"], 4) for v in views}
        return {"speedup": None, "speedup_measured": None, "matched_by": None, "matched_seconds": None,
                "reason": f"none of our {len(ours)} configurations protects as well as {official['name']} in "
                          f"every view ({', '.join(views)}) within the seed spread; closest: {best['name']}, "
                          f"worst-seed peak above the official run's by {gap}"}
    cheapest = min(ok, key=lambda o: o["seconds"])
    ours_s = cheapest["seconds"] + shared_seconds
    if ours_s <= 0:
        return {"speedup": None, "speedup_measured": None, "matched_by": cheapest["name"],
                "matched_seconds": cheapest["seconds"], "reason": "the matching configuration costs 0 s and no "
                                                                  "shared set-up cost was given: ratio undefined"}
    return {"speedup": (official["seconds_full"] + shared_seconds) / ours_s,
            "speedup_measured": (official["seconds"] + shared_seconds) / ours_s, "matched_by": cheapest["name"],
            "matched_seconds": cheapest["seconds"], "shared_seconds": shared_seconds, "reason": None}


#: Crafting budgets (CPU s, one thread) and the N each entry point typically protects, for :func:`choose_default`.
PROFILE_BUDGETS = {"cli": {"n": 10000, "budget_s": 900}, "demo": {"n": 1000, "budget_s": 300},
                   "notebooks cpu-quick": {"n": 1000, "budget_s": 120}}


def scaled_seconds(row: dict, n_from: int, n_to: int) -> float:
    """A point's crafting cost at ``n_to`` images from its cost at ``n_from``: only an official schedule over
    all images grows with N (p × E × N passes); ours, random-cluster and the M-subsampled official do not."""
    if row["kind"] == "official" and not row["options"].get("max_images"):
        return row["seconds"] * n_to / n_from
    if row["kind"] == "official":
        return row["seconds"] * min(row["options"]["max_images"], n_to) / min(row["options"]["max_images"], n_from)
    return row["seconds"]


def choose_default(rows: list[dict], budget_s: float, view: str = "fine", n_from: int = 500,
                   n_to: int = 500) -> dict | None:
    """The default for an entry point: among the rows whose cost at ``n_to`` images (:func:`scaled_seconds`)
    fits ``budget_s``, the cheapest whose worst-seed peak in ``view`` is within the seed spread (the larger of
    the two spreads) of the best such row's. ``None`` when nothing fits. Rows: :func:`summarise` rows."""
    fit = [r for r in rows if scaled_seconds(r, n_from, n_to) <= budget_s]
    if not fit:
        return None
    best = min(fit, key=lambda r: r["protection"][view]["peak"])
    b = best["protection"][view]
    ok = [r for r in fit if r["protection"][view]["peak"] <= b["peak"] + max(b["spread"], r["protection"][view]["spread"])]
    pick = min(ok, key=lambda r: (scaled_seconds(r, n_from, n_to), r["protection"][view]["peak"]))
    return {"name": pick["name"], "seconds_at_n": scaled_seconds(pick, n_from, n_to), "best_name": best["name"],
            "peak": pick["protection"][view]["peak"], "best_peak": b["peak"]}


# ----------------------------------------------------------------------------------------- running points


def _setup(n: int, threads: int, time_features: bool) -> dict:
    """The shared protocol: data, test set, surrogate, clusters (features cached)."""
    import torch

    torch.set_num_threads(threads)
    from ucs_lite.cluster import extract_features, fit_clusters
    from ucs_lite.data import Bundle
    from ucs_lite.surrogates import create_surrogate

    base = cifar10_base(2000, n_train=n)
    train, test = base.train, base.test
    s = create_surrogate("imagenet:efficientnet_lite0", device="cpu")
    # computed afresh (not read from the cache) when the set-up cost is to be measured
    c0 = time.process_time()
    feats = extract_features(s, train.images, cache_dir=False if time_features else None, progress=False)
    c1 = time.process_time()
    c = fit_clusters(feats, 10, seed=0, mode="standardize")
    return {"train": train, "test": test, "surrogate": s, "clustering": c, "clean": Bundle(train, test),
            "features_cpu_s": c1 - c0 if time_features else None, "kmeans_cpu_s": time.process_time() - c1}


def _craft(kind: str, options: dict, env: dict):
    """Craft one point; returns (Perturbation, cpu seconds, wall seconds) of the crafting call alone."""
    from ucs_lite.noise.patterns import craft_random_cluster
    from ucs_lite.noise.uc import craft_uc, craft_uc_official

    images, c, s = env["train"].images, env["clustering"], env["surrogate"]
    c0, w0 = time.process_time(), time.perf_counter()
    if kind == "random-cluster":
        pert = craft_random_cluster(c, images.shape[1:3], seed=0, **options)
    elif kind == "uc":
        pert = craft_uc(images, s, p=c.p, seed=0, clustering=c, progress=False, **options)
    elif kind == "official":
        pert = craft_uc_official(images, s, p=c.p, seed=0, clustering=c, progress=False,
                                 **{"batch_size": OFFICIAL_BATCH, **options})
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return pert, time.process_time() - c0, time.perf_counter() - w0


def _attack(bundle, attack_epochs: int) -> dict:
    """Attacker runs (cached): ``{view: [{"peak", "final", "chance"}, ...per seed]}``."""
    from ucs_lite.attack import AttackConfig
    from ucs_lite.cache import evaluate as evaluate_cached

    out = {}
    for view in VIEWS:
        out[view] = []
        for seed in SEEDS:
            r = evaluate_cached(bundle, view, AttackConfig(epochs=attack_epochs, seed=seed, device="cpu"), progress=False)
            out[view].append({"seed": seed, "peak": r["test_acc_peak"], "final": r["test_acc_final"],
                              "chance": r["chance"]})
    return out


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(path: Path, doc: dict) -> None:
    """The frontier JSON with this command's provenance (:func:`benchmarks.common.write_result`)."""
    write_result(path, doc)


def cost_model(points: list[dict]) -> dict:
    """Unit costs from the measured points: official CPU s per image pass (p × E × M passes) and ours per
    step (linear fit over the lowfreq step counts), for modelling the points that were not run. Where a
    point of a kind was not measured yet, the unit cost measured by ``bench_craft.py --profile``
    (benchmarks/results/bench_craft_profile.json, one thread, machine otherwise idle) stands in."""
    prof = _load(RESULTS / "bench_craft_profile.json")
    off = [pt for pt in points if pt["kind"] == "official" and pt["options"].get("epochs", 1) > 0]
    per_pass, src_pass = (float(np.median([pt["seconds"] / pt["image_passes"] for pt in off])), "this run") if off else (
        prof.get("official_s_per_image_pass"), "bench_craft_profile.json")
    uc = sorted((pt["options"]["steps"], pt["seconds"]) for pt in points
                if pt["kind"] == "uc" and pt["options"].get("param", "lowfreq") == "lowfreq")
    if len(uc) >= 2:
        slope, icpt = np.polyfit([s for s, _ in uc], [t for _, t in uc], 1)
        per_step, setup, src_step = float(slope), float(icpt), "this run"
    elif len(uc) == 1:
        per_step, setup, src_step = uc[0][1] / uc[0][0], 0.0, "this run (one point)"
    else:
        per_step, setup, src_step = prof.get("ours_step_s"), prof.get("ours_setup_s", 0.0), "bench_craft_profile.json"
    return {"official_s_per_image_pass": per_pass, "uc_lowfreq_s_per_step": per_step, "uc_lowfreq_setup_s": setup,
            "official_source": src_pass if per_pass is not None else None,
            "uc_source": src_step if per_step is not None else None}


def modelled_seconds(kind: str, options: dict, n: int, p: int, model: dict) -> float | None:
    """Crafting CPU seconds a point would cost at N images, from :func:`cost_model` (None if unknown)."""
    if kind == "random-cluster":
        return 0.0
    if kind == "official":
        if model["official_s_per_image_pass"] is None:
            return None
        m = min(options.get("max_images") or n, n)
        return model["official_s_per_image_pass"] * p * options.get("epochs", OFFICIAL_EPOCHS) * m
    if model["uc_lowfreq_s_per_step"] is None:  # other parametrisations: the surrogate dominates every step
        return None
    return model["uc_lowfreq_setup_s"] + model["uc_lowfreq_s_per_step"] * options.get("steps", 60)


def run(n: int, threads: int, attack_epochs: int, budget_s: float, only: list[str] | None, out: Path,
        time_setup: bool = False) -> None:
    doc = _load(out)
    key = {"n": n, "p": 10, "threads": threads, "attack_epochs": attack_epochs, "seeds": list(SEEDS),
           "official_batch_size": OFFICIAL_BATCH}
    if doc and doc.get("protocol", {}).get("key") != key:
        raise SystemExit(f"{out} holds another protocol ({doc.get('protocol', {}).get('key')}); move it away first")
    t_setup = time.perf_counter()
    env = _setup(n, threads, time_features=time_setup)
    print(f"set-up (features + K-means): {time.perf_counter() - t_setup:.0f}s", flush=True)
    if env["features_cpu_s"] is not None:
        feat_s, how = env["features_cpu_s"], "measured in this run"
    else:  # features read from the cache: their cost from the measured unit cost of bench_craft --profile
        prof = _load(RESULTS / "bench_craft_profile.json")
        feat_s = prof.get("features_s_per_image_224px", float("nan")) * n
        how = "bench_craft_profile.json features_s_per_image_224px × N (features were read from the cache)"
    if time_setup or "setup_seconds" not in doc:
        doc["setup_seconds"] = {"cpu": feat_s + env["kmeans_cpu_s"], "features": feat_s, "features_how": how,
                                "kmeans": env["kmeans_cpu_s"], "what": "features of the N training images "
                                "(EfficientNet-Lite0, 224 px) + K-means: shared by every point and by both schedules"}
    doc.setdefault("protocol", {"key": key, "train": f"shared CIFAR-10 train, balanced_indices({n}, seed=0)",
                                "test": "shared CIFAR-10 test, balanced_subset(2000, seed=0)",
                                "clusters": "EfficientNet-Lite0 @224 px features, K-means p=10, standardize, seed 0",
                                "attacker": f"small-cnn, {attack_epochs} epochs, seeds {list(SEEDS)}",
                                "cost": "CPU seconds of the crafting call, 1 thread; features + K-means excluded"})
    doc.setdefault("points", {})
    clean = _attack(env["clean"], attack_epochs)
    doc["clean"] = {v: {"peaks": [r["peak"] for r in rs], "finals": [r["final"] for r in rs],
                        "mean_peak": float(np.mean([r["peak"] for r in rs])), "chance": rs[0]["chance"]}
                    for v, rs in clean.items()}
    _save(out, doc)
    spent = sum(pt["seconds"] for pt in doc["points"].values())
    for name, kind, options in POINTS:
        if only and name not in only:
            continue
        if name in doc["points"]:
            print(f"[done] {name}", flush=True)
            continue
        est = modelled_seconds(kind, options, n, 10, cost_model(list(doc["points"].values())))
        if est is not None and spent + est > budget_s:
            doc.setdefault("skipped", {})[name] = (f"modelled {est:.0f} CPU s; would exceed --budget-s {budget_s:.0f} "
                                                   f"({spent:.0f} s spent)")
            _save(out, doc)
            print(f"[skip] {name}: {doc['skipped'][name]}", flush=True)
            continue
        print(f"[run] {name} (modelled {est if est is None else round(est)} s) ...", flush=True)
        pert, cpu, wall = _craft(kind, options, env)
        prot = protect_perturbation(env["clean"], pert, record_method=False)
        runs = _attack(prot, attack_epochs)
        m = min(options.get("max_images") or n, n)
        pt = {"name": name, "kind": kind, "options": options, "seconds": cpu, "wall_seconds": wall,
              "image_passes": (10 * options.get("epochs", OFFICIAL_EPOCHS) * m if kind == "official" else
                               10 * 8 * options.get("steps", 60) if kind == "uc" else 0),
              "attacker": runs, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if kind == "official":
            pt["seconds_full_modelled"] = (cpu / max(1, options.get("epochs", 1)) * OFFICIAL_EPOCHS * n / m
                                           if options.get("epochs", 1) > 0 else None)
        doc["points"][name] = pt
        doc.get("skipped", {}).pop(name, None)
        spent += cpu
        _save(out, doc)
        print(f"  {name}: {cpu:.0f} CPU s ({wall:.0f} wall s); peaks fine "
              f"{[round(r['peak'], 3) for r in runs['fine']]} coarse {[round(r['peak'], 3) for r in runs['coarse']]}",
              flush=True)
        report(out)
    for name, kind, options in POINTS:  # what was never reached
        if name not in doc["points"] and name not in doc.get("skipped", {}) and not (only and name not in only):
            doc.setdefault("skipped", {})[name] = "not run"
    _save(out, doc)
    report(out)


# ----------------------------------------------------------------------------------------- report


def summarise(doc: dict) -> list[dict]:
    """One row per measured point with its protection (see :func:`protection`), cheapest first."""
    clean_peak = {v: doc["clean"][v]["mean_peak"] for v in VIEWS}
    chance = {v: doc["clean"][v]["chance"] for v in VIEWS}
    rows = []
    for pt in doc["points"].values():
        runs = {v: pt["attacker"][v] for v in VIEWS}
        rows.append({**{k: pt[k] for k in ("name", "kind", "options", "seconds", "wall_seconds", "image_passes")},
                     "seconds_full_modelled": pt.get("seconds_full_modelled"),
                     "protection": protection(runs, clean_peak, chance)})
    return sorted(rows, key=lambda r: r["seconds"])


def pareto(rows: list[dict], view: str = "fine") -> list[str]:
    """Names of the rows no other row beats on both cost and worst-seed peak in ``view``."""
    front, best = [], float("inf")
    for r in sorted(rows, key=lambda r: (r["seconds"], r["protection"][view]["peak"])):
        if r["protection"][view]["peak"] < best:
            front.append(r["name"])
            best = r["protection"][view]["peak"]
    return front


def speedups(rows: list[dict], shared_seconds: float = 0.0) -> list[dict]:
    """:func:`equal_protection_speedup` for every measured official run with E ≥ 1 against all of ours."""
    ours = [r for r in rows if r["kind"] != "official"]
    out = []
    for r in rows:
        if r["kind"] != "official" or not r["options"].get("epochs"):
            continue
        ref = {"name": r["name"], "seconds": r["seconds"], "seconds_full": r["seconds_full_modelled"],
               "protection": r["protection"]}
        out.append({"official": r["name"], "official_seconds": r["seconds"],
                    "official_seconds_full_modelled": r["seconds_full_modelled"],
                    **equal_protection_speedup(ref, ours, shared_seconds=shared_seconds)})
    return out


def report(out: Path) -> None:
    """The summary block of frontier.json and frontier.html from the saved points (the docs tables read the
    summary: ``make results-docs``)."""
    doc = _load(out)
    if not doc.get("points") or "clean" not in doc:
        return
    rows = summarise(doc)
    front = {v: pareto(rows, v) for v in VIEWS}
    model = cost_model(list(doc["points"].values()))
    n = doc["protocol"]["key"]["n"]
    shared = doc.get("setup_seconds", {}).get("cpu", 0.0)
    defaults = {k: {**v, "choice": choose_default(rows, v["budget_s"], n_from=n, n_to=v["n"])}
                for k, v in PROFILE_BUDGETS.items()}
    doc["summary"] = {"rows": rows, "pareto": front, "speedups": speedups(rows, shared), "cost_model": model,
                      "defaults": defaults,
                      "modelled_10k": {name: modelled_seconds(k, o, 10000, 10, model) for name, k, o in POINTS}}
    _save(out, doc)
    figure(doc, rows, out.with_suffix(".html"))


def figure(doc: dict, rows: list[dict], path: Path) -> None:
    """Worst-seed peak accuracy against crafting CPU seconds, fine and coarse side by side (plotly.js inlined,
    so the file opens offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"{v} labels" for v in VIEWS])
    colours = {"official": "#d62728", "uc": "#1f77b4", "random-cluster": "#2ca02c"}
    for col, view in enumerate(VIEWS, start=1):
        for kind in colours:
            rs = [r for r in rows if r["kind"] == kind]
            if not rs:
                continue
            fig.add_trace(go.Scatter(
                x=[max(r["seconds"], 1.0) for r in rs], y=[r["protection"][view]["peak"] for r in rs],
                error_y=dict(type="data", symmetric=False, array=[0] * len(rs),
                             arrayminus=[r["protection"][view]["spread"] for r in rs]),
                mode="markers+text", text=[r["name"] for r in rs], textposition="top center", name=kind,
                marker=dict(color=colours[kind], size=9), legendgroup=kind, showlegend=col == 1,
                hovertemplate="%{text}<br>%{x:.0f} CPU s<br>worst peak %{y:.3f}<extra></extra>"), row=1, col=col)
        for y, label, dash in ((doc["clean"][view]["mean_peak"], "clean", "dash"),
                               (doc["clean"][view]["chance"], "chance", "dot")):
            fig.add_hline(y=y, line_dash=dash, line_color="grey", annotation_text=label, row=1, col=col)
        fig.update_xaxes(type="log", title_text="crafting CPU seconds (1 thread, log; 0 shown at 1)", row=1, col=col)
        fig.update_yaxes(title_text="attacker test accuracy, peak, worst of 3 seeds (bar: to best seed)",
                         row=1, col=col)
    fig.update_layout(title=f"Cost vs protection, N = {doc['protocol']['key']['n']} (lower = better protection)",
                      height=560, width=1250)
    from ucs_lite.data import atomic_write_bytes

    atomic_write_bytes(path, fig.to_html(include_plotlyjs=True, full_html=True).encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--attack-epochs", type=int, default=12)
    ap.add_argument("--budget-s", type=float, default=float("inf"), help="total crafting CPU seconds to allow")
    ap.add_argument("--only", default=None, help="comma-separated point names to run (default: all, in order)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/frontier.json, N=500; "
                                                "frontier_n<N>.json otherwise)")
    ap.add_argument("--report", action="store_true", help="only rewrite the summary and .html from the JSON")
    ap.add_argument("--time-setup", action="store_true", help="compute the features afresh to time the shared "
                    "set-up (default: read them from the cache; their cost from bench_craft_profile.json)")
    a = ap.parse_args()
    out = Path(a.out) if a.out else RESULTS / ("frontier.json" if a.n == 500 else f"frontier_n{a.n}.json")
    if a.report:
        return report(out)
    RESULTS.mkdir(exist_ok=True)
    run(a.n, a.threads, a.attack_epochs, a.budget_s, a.only.split(",") if a.only else None, out, a.time_setup)


if __name__ == "__main__":
    main()
