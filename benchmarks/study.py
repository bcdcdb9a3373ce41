"""Protection studies on the shared CIFAR-10 bundle (issues 3, 4, 9): which noise protects, against which
label view, and how that depends on cluster purity.

Every protected set and every attacker run is cached (ucs_lite.cache), so rerunning a stage
only computes what is new. Results: benchmarks/results/<stage>.json (with its provenance; purity and levers also an .html figure).

    python benchmarks/study.py table        # issue 4: clean / baselines / UC × fine / coarse
    python benchmarks/study.py explore      # noise family per cluster: random vs optimised, pixel vs lowfreq
    python benchmarks/study.py purity       # issue 9: attacker accuracy vs cluster purity
    python benchmarks/study.py seeds        # the default UC against 3 attacker seeds, both views
    python benchmarks/study.py levers --ps 10,20   # cluster purity / NMI per feature preprocessing and p
    python benchmarks/study.py attackers    # issue 4: candidate attackers, clean vs class-wise shortcut
    python benchmarks/study.py sweep        # issue 8: methods × defenses × views, worst case per method
    python benchmarks/study.py robust       # issue 8: which noise family keeps a shortcut after grayscale / JPEG
    python benchmarks/study.py figures      # plotly figures (html) from the saved JSON of purity and levers
    python benchmarks/study.py survival     # issue 8: share of each method's noise a defense leaves (no training)
Options: --epochs 12 --test-size 2000 --threads 2
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

from benchmarks.common import RESULTS, cifar10_base, protect_perturbation, write_result
from ucs_lite import cache
from ucs_lite.attack import AttackConfig
from ucs_lite.cluster import cluster_metrics, extract_features, fit_clusters
from ucs_lite.data import Bundle
from ucs_lite.metrics import psnr
from ucs_lite.noise.patterns import craft_random_cluster
from ucs_lite.surrogates import create_surrogate


def attack(b: Bundle, view: str, seed: int, epochs: int, tag: str, **cfg) -> dict:
    """Cached attacker run; prints one line."""
    c = AttackConfig(epochs=epochs, seed=seed, **cfg)
    r = cache.evaluate(b, view, c, progress=False)
    print(f"  {tag:<42} {view:<7} seed {seed}: final {r['test_acc_final']:.3f} peak {r['test_acc_peak']:.3f} "
          f"({r['seconds']:.0f}s)", flush=True)
    return r


def train_throughput(model: str, threads: int, batches: int = 10, batch: int = 128) -> dict:
    """Parameters and training images/s (forward+backward+SGD step, 32 px, batch 128) of an attacker model,
    measured alone so the number does not depend on what else ran during the attacker runs."""
    from ucs_lite.models import build_model

    torch.set_num_threads(threads)
    net = build_model(model, 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    for i in range(batches + 2):
        if i == 2:
            t = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return {"params_m": sum(q.numel() for q in net.parameters()) / 1e6,
            "train_img_s": batches * batch / (time.perf_counter() - t)}


def with_assignment(base: Bundle, assignment: np.ndarray, eps: float, seed: int, form: str, tag: str) -> tuple[Bundle, dict]:
    """Random sign pattern per group of ``assignment`` (any grouping: true classes, noisy classes, K-means)."""
    from ucs_lite.cluster import Clustering

    p = int(assignment.max()) + 1
    c = Clustering(assignment, np.zeros((p, 1), np.float32), "none", seed, np.zeros((p, 1)))
    pert = craft_random_cluster(c, base.train.images.shape[1:3], eps, seed, form=form)
    b = protect_perturbation(base, pert, {"method": tag})
    meta = {"method": tag, "psnr": psnr(base.train.images, b.train.images)}
    return b, meta


def save(stage: str, rows: list[dict], extra: dict | None = None) -> None:
    """benchmarks/results/<stage>.json: the rows, ``extra`` and the provenance (:func:`benchmarks.common.write_result`:
    command, commit, date, the machine read from the system)."""
    print(f"wrote {write_result(f'{stage}.json', {'stage': stage, 'rows': rows, **(extra or {})})}", flush=True)


def row(method: str, built_from: str, r: dict, meta: dict, **extra) -> dict:
    return {"method": method, "built_from": built_from, "labels": r["labels"], "seed": r["config"]["seed"],
            "final": r["test_acc_final"], "peak": r["test_acc_peak"], "chance": r["chance"],
            "psnr": meta.get("psnr", float("nan")), "ssim": meta.get("ssim", float("nan")),
            "craft_s": meta.get("seconds", 0.0), **extra}


def figures(stages: tuple[str, ...] = ("purity", "levers")) -> None:
    """Write benchmarks/results/<stage>.html for ``stages`` from their stored JSON (no computation)."""
    import pandas as pd
    import plotly.express as px

    def rows(stage: str) -> pd.DataFrame | None:
        f = RESULTS / f"{stage}.json"
        return pd.DataFrame(json.loads(f.read_text())["rows"]) if stage in stages and f.is_file() else None

    if (df := rows("purity")) is not None:
        fig = px.scatter(df, x="purity_fine", y="peak", color="labels", hover_name="method", text="method",
                         title="Attacker peak accuracy vs cluster purity (random sign pattern per group, fine labels)",
                         labels={"purity_fine": "purity w.r.t. fine labels", "peak": "attacker peak test accuracy"},
                         template="plotly_white")
        fig.update_traces(textposition="top center", textfont_size=9)
        fig.write_html(RESULTS / "purity.html", include_plotlyjs="cdn")
    if (df := rows("levers")) is not None:
        df["setting"] = df["resolution"].astype(str) + " px, p=" + df["p"].astype(str)
        fig = px.bar(df, x="setting", y="purity_fine", color="mode", barmode="group", range_y=[0, 1],
                     hover_data=["nmi_fine", "purity_coarse"], template="plotly_white",
                     title="K-means purity (fine labels) per surrogate resolution, p and feature preprocessing")
        fig.write_html(RESULTS / "levers.html", include_plotlyjs="cdn")
    print("figures written to", RESULTS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["table", "explore", "purity", "seeds", "levers", "attackers", "sweep", "survival", "robust", "figures"])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--test-size", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", default=None, help="attacker seeds (default: 0,1,2 for seeds, 0 for sweep)")
    ap.add_argument("--views", default="fine,coarse", help="label views for the purity and sweep stages")
    ap.add_argument("--fracs", default="0,0.3,0.6,0.9", help="purity stage: shares of images reassigned")
    ap.add_argument("--ps", default="10,20,50", help="purity stage: K-means p values")
    ap.add_argument("--name", default=None, help="sweep stage: results file name (default: sweep)")
    ap.add_argument("--resolutions", default="224", help="levers stage: surrogate input resolutions")
    ap.add_argument("--variants", default="", help="robust stage: extra 'method|labels|{json options}|defense;...'")
    ap.add_argument("--models", default="small-cnn,vgg-small,resnet18-quarter", help="attackers stage")
    ap.add_argument("--methods", default="clean,uc,uc-robust,random-class@fine", help="sweep stage")
    ap.add_argument("--defenses", default="none,jpeg:10,grayscale", help="sweep stage")
    a = ap.parse_args()
    a.seeds = a.seeds or ("0" if a.stage == "sweep" else "0,1,2")
    torch.set_num_threads(a.threads)
    base = cifar10_base(a.test_size, keep_extras=True)
    eps = 16 / 255
    rows: list[dict] = []
    t0 = time.time()
    if a.stage == "table":
        specs = [("clean", None, {}), ("random-class", "fine", {}), ("random-class", "coarse", {}),
                 ("em-class", "coarse", {}), ("random-cluster", None, {}), ("uc", None, {})]
        for m, lab, opts in specs:
            b = base if m == "clean" else cache.protect(base, m, eps=eps, seed=0, labels=lab or "fine", p=10,
                                                         progress=False, **opts)
            meta = b.meta()
            for view in ("fine", "coarse"):
                r = attack(b, view, 0, a.epochs, f"{m}@{lab}" if lab else m)
                rows.append(row(m, lab or "—", r, meta))
        save("table", rows, {"epochs": a.epochs, "test_size": a.test_size, "train_size": len(base.train)})
    elif a.stage == "explore":
        variants = [("random-cluster", {"form": "lowfreq"}, 16), ("random-cluster", {"form": "pixel"}, 16),
                    ("uc", {"param": "lowfreq", "steps": 60}, 16), ("random-cluster", {"form": "lowfreq"}, 8)]
        for m, opts, e in variants:
            b = cache.protect(base, m, eps=e / 255, seed=0, p=10, progress=False, **opts)
            meta = b.meta()
            for view in ("fine",):
                r = attack(b, view, 0, a.epochs, f"{m} {opts} eps {e}/255")
                rows.append(row(m, json.dumps(opts), r, meta, eps255=e))
        save("explore", rows)
    elif a.stage == "purity":
        y = base.train.labels["fine"]
        s = create_surrogate("imagenet:efficientnet_lite0", device="cpu")
        feats = extract_features(s, base.train.images, progress=False)
        groupings = []
        rng = np.random.default_rng(0)
        for frac in [float(f) for f in a.fracs.split(",")]:
            g = y.copy()
            idx = rng.choice(len(y), int(frac * len(y)), replace=False)
            g[idx] = rng.integers(0, 10, len(idx))
            groupings.append((f"true classes, {int(frac * 100)}% reassigned", g))
        for mode, p in [("standardize", int(q)) for q in a.ps.split(",") if q.strip().isdigit()]:
            groupings.append((f"K-means 224px {mode} p={p}", fit_clusters(feats, p, seed=0, mode=mode).labels))
        groupings.append(("random clusters p=10", np.random.default_rng(1).integers(0, 10, len(y))))
        for name, g in groupings:
            b, meta = with_assignment(base, g, eps, 0, "lowfreq", name)
            m = cluster_metrics(g, y)
            mc = cluster_metrics(g, base.train.labels["coarse"])
            for view in a.views.split(","):
                r = attack(b, view, 0, a.epochs, name)
                rows.append(row(name, "—", r, meta, purity_fine=m["purity"], nmi_fine=m["nmi"],
                                purity_coarse=mc["purity"]))
        save("purity", rows)
        figures(("purity",))
    elif a.stage == "levers":  # cluster purity / NMI for feature preprocessing × p (no attacker)
        for res in [int(r) for r in a.resolutions.split(",")]:
            s = create_surrogate("imagenet:efficientnet_lite0", device="cpu", resolution=res)
            feats = extract_features(s, base.train.images, progress=False)
            modes = ("none", "l2", "standardize", "pca-whiten") if res == 224 else ("l2", "standardize")
            for mode in modes:
                for p in [int(q) for q in a.ps.split(",")]:
                    c = fit_clusters(feats, p, seed=0, mode=mode)
                    mf = cluster_metrics(c.labels, base.train.labels["fine"])
                    mc = cluster_metrics(c.labels, base.train.labels["coarse"])
                    rows.append({"surrogate": s.name, "resolution": s.resolution, "mode": mode, "p": p,
                                 "purity_fine": mf["purity"], "nmi_fine": mf["nmi"], "ari_fine": mf["ari"],
                                 "purity_coarse": mc["purity"], "nmi_coarse": mc["nmi"]})
                    print(f"  {res}px {mode:<12} p={p:<3} purity fine {mf['purity']:.3f} NMI {mf['nmi']:.3f} "
                          f"purity coarse {mc['purity']:.3f}", flush=True)
        save("levers", rows)
        figures(("levers",))
    elif a.stage == "attackers":  # is the textbook label-consistent shortcut visible to each candidate?
        shortcut = cache.protect(base, "random-class", eps=eps, seed=0, labels="fine", p=10, progress=False)
        for model in a.models.split(","):
            for name, b in (("clean", base), ("random-class@fine", shortcut)):
                r = attack(b, "fine", 0, a.epochs, f"{model} {name}", model=model)
                rows.append(row(name, "fine" if name != "clean" else "—", r, b.meta(), model=model,
                                attack_s=r["seconds"]))
        speed = {m: train_throughput(m, a.threads) for m in a.models.split(",")}
        for r in rows:
            r.update(speed[r["model"]])
        save("attackers", rows, {"epochs": a.epochs, "test_size": a.test_size, "train_size": len(base.train),
                                 "throughput_threads": a.threads})
    elif a.stage == "sweep":  # issue 8: every method × defense × view; worst case = the attacker's best defense
        from ucs_lite.experiment import parse_method

        for spec in a.methods.split(","):
            m, lab = parse_method(spec)
            b = base if m == "clean" else cache.protect(base, m, eps=eps, seed=0, labels=lab or "fine", p=10,
                                                         progress=False)
            for view in a.views.split(","):
                for d in a.defenses.split(","):
                    for seed in [int(q) for q in a.seeds.split(",")]:
                        r = attack(b, view, seed, a.epochs, f"{spec} [{d}]", defense=d)
                        rows.append(row(m, lab or "—", r, b.meta(), defense=d))
        import pandas as pd

        from ucs_lite.experiment import worst_case

        # per method, view and attacker seed: the countermeasure that gave the highest peak
        df = pd.DataFrame(rows).rename(columns={"peak": "test_acc_peak", "final": "test_acc_final"})
        summary = worst_case(df, by=("method", "built_from", "labels", "seed")).to_dict("records")
        name = a.name or "sweep"
        save(name, rows, {"epochs": a.epochs, "test_size": a.test_size, "train_size": len(base.train),
                             "worst_case": summary})
    elif a.stage == "robust":  # random patterns (no optimisation): colour vs achromatic, block size; fine view
        g4, g2 = {"gray": True, "lowfreq_res": 8}, {"gray": True, "lowfreq_res": 16}
        variants = ([("uc-robust", "—", {"lowfreq_res": 8}, d) for d in ("none", "jpeg:10", "grayscale")]
                    + [("random-cluster", "—", g4, "none"), ("random-class", "fine", g4, "none")]
                    + [("random-cluster", "—", g2, d) for d in ("none", "jpeg:10", "grayscale")])
        for extra in [v for v in a.variants.split(";") if v.strip()]:
            m, lab, opts, d = extra.split("|")
            variants.append((m, lab, json.loads(opts), d))
        for m, lab, opts, d in variants:
            b = cache.protect(base, m, eps=eps, seed=0, labels=lab if lab != "—" else "fine", p=10, progress=False,
                               **opts)
            r = attack(b, "fine", 0, a.epochs, f"{m}@{lab} {opts} [{d}]", defense=d)
            rows.append(row(m, lab, r, b.meta(), options=json.dumps(opts), defense=d))
        save("robust", rows)
    elif a.stage == "figures":
        figures()
        return
    elif a.stage == "survival":  # no attacker: how much of the noise each data-level defense passes through
        from ucs_lite.defenses import noise_survival
        from ucs_lite.experiment import parse_method

        for spec in [m for m in a.methods.split(",") if m != "clean"]:
            m, lab = parse_method(spec)
            b = cache.protect(base, m, eps=eps, seed=0, labels=lab or "fine", p=10, progress=False)
            out = {"method": spec}
            for d in ("jpeg:10", "jpeg:30", "jpeg:50", "grayscale", "blur:1"):
                out[d] = noise_survival(base.train.images[:2000], b.train.images[:2000], d)
            rows.append(out)
            print("  " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else v for k, v in out.items()), flush=True)
        save("survival", rows, {"images": 2000})
    elif a.stage == "seeds":
        b = cache.protect(base, "uc", eps=eps, seed=0, p=10, progress=False)
        meta = b.meta()
        for view in ("fine", "coarse"):
            rc = attack(base, view, 0, a.epochs, "clean")  # clean reference (attacker seed 0)
            for seed in [int(s) for s in a.seeds.split(",")]:
                r = attack(b, view, seed, a.epochs, "uc (default)")
                rows.append(row("uc", "—", r, meta, clean_final=rc["test_acc_final"], clean_peak=rc["test_acc_peak"]))
        save("seeds", rows)
    print(f"stage {a.stage} done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
