"""Generated blocks and values of this study: README's headline table and docs/results.md's protection studies on the
shared CIFAR-10 (table, explore, purity, seeds, levers, attackers, sweep, survival, robust).

Its numbers come from the results ``python benchmarks/study.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

import json

from docs_tables import (Results, attack_rows, block, c10, f2, f3, md_table, pair, register_value, seeds_worst,
                        study_row, sweep_peak, worst_peak)


def _register_values() -> None:
    """The prose numbers of this study (one value each)."""
    reg = register_value
    t = "table.json"
    p = "purity.json"
    for method, built, key in (("clean", "—", "clean"), ("random-class", "fine", "rc-fine"),
                               ("random-class", "coarse", "rc-coarse"), ("em-class", "coarse", "em-coarse"),
                               ("random-cluster", "—", "random-cluster"), ("uc", "—", "uc")):
        for view in ("fine", "coarse"):
            reg(f"table.{key}.{view}", t, f"{method} built from {built}, {view}, seed 0, peak",
                lambda r, m=method, b=built, v=view: f3(study_row(r.json(t)["rows"], m, v, b)["peak"]))
    reg("table.uc.craft-s", t, "uc, fine, seed 0, craft_s",
        lambda r: f"{study_row(r.json(t)['rows'], 'uc', 'fine')['craft_s']:.0f}")
    for res in (224, 128, 64):
        reg(f"levers.{res}.std.purity", "levers.json", f"{res} px, standardize, p = 10, purity_fine",
            lambda r, x=res: f2(next(v["purity_fine"] for v in r.json("levers.json")["rows"]
                                     if v["resolution"] == x and v["mode"] == "standardize" and v["p"] == 10)))
    for mode in ("standardize", "none"):
        reg(f"levers.224.{mode[:4] if mode == 'none' else 'std'}.purity3", "levers.json", f"224 px, {mode}, p = 10, purity_fine",
            lambda r, m=mode: f3(next(v["purity_fine"] for v in r.json("levers.json")["rows"]
                                      if v["resolution"] == 224 and v["mode"] == m and v["p"] == 10)))
    for res, key in ((8, "gray4"), (16, "gray2")):
        reg(f"robust.{key}.cluster", "robust.json", f"random-cluster gray lowfreq_res {res}, none, peak",
            lambda r, x=res: f3(next(v["peak"] for v in r.json("robust.json")["rows"] if v["method"] == "random-cluster"
                                     and v["options"] == json.dumps({"gray": True, "lowfreq_res": x})
                                     and v["defense"] == "none")))
    for col in ("jpeg:10", "grayscale", "blur:1"):
        for method in ("uc", "uc-robust"):
            reg(f"survival.{method}.{col}", "survival.json", f"{method}, {col}",
                lambda r, m=method, c=col: f3(next(v[c] for v in r.json("survival.json")["rows"] if v["method"] == m)))
    reg("seeds.uc.fine.worst", "seeds.json", "uc, fine, worst peak over seeds 0-2", lambda r: f3(seeds_worst(r, "fine")))
    for method, key in (("true classes, 0% reassigned", "oracle"), ("K-means 224px standardize p=10", "km10"),
                        ("true classes, 30% reassigned", "re30"), ("true classes, 60% reassigned", "re60"),
                        ("K-means 224px standardize p=20", "km20"), ("K-means 224px standardize p=50", "km50"),
                        ("random clusters p=10", "random")):
        reg(f"purity.{key}.peak", p, f"{method}, peak", lambda r, m=method: f3(study_row(r.json(p)["rows"], m, "fine")["peak"]))
        reg(f"purity.{key}.purity", p, f"{method}, purity_fine",
            lambda r, m=method: f2(study_row(r.json(p)["rows"], m, "fine")["purity_fine"]))
    for method, labels, defense in (("uc", "fine", "jpeg:10"), ("uc", "fine", "grayscale"), ("clean", "fine", "jpeg:10"),
                                    ("clean", "fine", "grayscale"), ("random-class", "fine", "jpeg:10"),
                                    ("random-class", "fine", "grayscale"), ("uc-robust", "fine", "jpeg:10")):
        reg(f"sweep.{method}.{labels}.{defense}", "sweep.json", f"{method}, {labels}, {defense}, seed 0, peak",
            lambda r, m=method, lab=labels, dfn=defense: f3(sweep_peak(r, m, lab, dfn)["peak"]))
    for method in ("uc", "uc-robust"):
        for seed, name in ((0, "sweep.json"), (1, "sweep_seeds.json")):
            reg(f"sweep.{method}.worst.s{seed}", name, f"{method}, fine, worst over none/jpeg:10/grayscale, seed {seed}",
                lambda r, m=method, s=seed, n=name: f3(next(w["worst_peak"] for w in r.json(n)["worst_case"]
                                                           if w["method"] == m and w["labels"] == "fine" and w["seed"] == s)))


_register_values()


@block("readme-what-works", "table.json", "seeds.json", "granularity_cifar10.json",
       rows="seed 0 from table.json; uc: worst of seeds 0-2 in seeds.json; gen-cluster: worst of seeds 0-2, "
            "noise `gen0 km10`")
def _readme_what_works(r: Results) -> str:
    """The README's headline table: fine / coarse peak per kind of training data."""
    t = r.json("table.json")["rows"]

    def both(method: str, built: str) -> list[str]:
        return [f3(study_row(t, method, v, built)["peak"]) for v in ("fine", "coarse")]

    gen = worst_peak(attack_rows(c10(r), "gen0 km10", "fine"))
    rows = [
        ["clean", *both("clean", "—")],
        ["class-wise noise built from the **fine** labels", *both("random-class", "fine")],
        ["class-wise noise built from the **coarse** labels (label-agnostic setting)", *both("random-class", "coarse")],
        ["error-minimising class-wise, built from coarse", *both("em-class", "coarse")],
        ["Unlearnable Clusters (`uc`, no labels; worst of 3 attacker seeds)", f3(seeds_worst(r, "fine")),
         f3(seeds_worst(r, "coarse"))],
        ["random pattern per K-means cluster (`random-cluster`, no labels)", *both("random-cluster", "—")],
        ["**untrained-generator pattern per K-means cluster (`gen-cluster`, the default; worst of 3 seeds)**",
         f"**{f3(gen)}**", "not measured"],
    ]
    return md_table(["training data", "fine-label attacker, peak acc.", "coarse-label attacker, peak acc."], rows)


@block("results-shortcut", "table.json", "explore.json", "granularity_cifar10.json",
       rows="seed 0, fine; random-cluster form=pixel from explore.json; gen-cluster = `gen0 km10`, seed 0")
def _results_shortcut(r: Results) -> str:
    """Which noise forms a shortcut (fine labels, attacker seed 0)."""
    t = r.json("table.json")["rows"]
    pix = next(x for x in r.json("explore.json")["rows"] if x["built_from"] == '{"form": "pixel"}')
    gen = attack_rows(c10(r), "gen0 km10", "fine")[0]

    def fp(row: dict) -> str:
        return pair(row["final"], row["peak"])

    rows = [
        ["none (clean)", "—", fp(study_row(t, "clean", "fine", "—"))],
        ["random sign, 4-px blocks, per **true fine class** (`random-class`, built from fine)",
         f"{study_row(t, 'random-class', 'fine', 'fine')['craft_s']:.1f} s", fp(study_row(t, "random-class", "fine", "fine"))],
        ["random sign, per-pixel, per K-means cluster (`random-cluster form=pixel`)", f"{pix['craft_s']:.0f} s", fp(pix)],
        ["random sign, 4-px blocks, per K-means cluster (`random-cluster`, default form)",
         f"{study_row(t, 'random-cluster', 'fine')['craft_s']:.0f} s", fp(study_row(t, "random-cluster", "fine"))],
        ["UC objective, 4-px-block δ, 60 steps (`uc`)", f"{study_row(t, 'uc', 'fine')['craft_s']:.0f} s",
         fp(study_row(t, "uc", "fine"))],
        ["an **untrained** generator's output per K-means cluster (`gen-cluster`, the default; docs/granularity.md)",
         f"K-means + {gen['craft_cpu_s']:.1f} s (CPU)", f"**{fp(gen)}**"],
    ]
    return md_table(["noise (one pattern per …)", "crafting", "fine final / peak"], rows)


@block("results-label-agnostic", "table.json", rows="every row, attacker seed 0")
def _results_label_agnostic(r: Results) -> str:
    """The label-agnostic table (issue 4)."""
    t = r.json("table.json")["rows"]
    out = []
    for method, built, label in (("clean", "—", "clean"), ("random-class", "fine", "random-class (4-px sign blocks)"),
                                 ("random-class", "coarse", "random-class"), ("em-class", "coarse", "em-class"),
                                 ("random-cluster", "—", "random-cluster (no labels)"), ("uc", "—", "uc (no labels)")):
        fine, coarse = study_row(t, method, "fine", built), study_row(t, method, "coarse", built)
        vis = "—" if method == "clean" else f"{fine['psnr']:.2f} / {fine['ssim']:.3f}"
        craft = "—" if method == "clean" else (f"{fine['craft_s']:.1f}" if fine["craft_s"] < 10 else f"{fine['craft_s']:.0f}")
        out.append([label, built, pair(fine["final"], fine["peak"]), pair(coarse["final"], coarse["peak"]), vis, craft])
    return md_table(["training data", "built from", "fine final / peak", "coarse final / peak", "PSNR / SSIM",
                     "crafting s"], out)


@block("results-attackers", "attackers.json", rows="model × method, fine, seed 0")
def _results_attackers(r: Results) -> str:
    """Which attacker: the three candidates."""
    rows = r.json("attackers.json")["rows"]
    out = []
    for model, label in (("small-cnn", "`small-cnn` (CPU default)"), ("vgg-small", "`vgg-small` (2×3 conv blocks, 32-64-128)"),
                         ("resnet18-quarter", "`resnet18-quarter` (CIFAR ResNet-18, ¼ width)")):
        clean = study_row(rows, "clean", "fine", model=model)
        prot = study_row(rows, "random-class@fine", "fine", model=model)
        out.append([label, f"{clean['params_m']:.2f}M", f"{clean['train_img_s']:.0f}", pair(clean["final"], clean["peak"]),
                    pair(prot["final"], prot["peak"])])
    return md_table(["attacker", "parameters", "training img/s (1 thread, batch 128, other jobs sharing the cores)",
                     "clean final / peak", "random-class@fine final / peak"], out)


@block("results-seeds", "seeds.json", rows="uc, seeds 0-2; clean_* = the seed-0 clean run")
def _results_seeds(r: Results) -> str:
    """Robustness of ``uc`` over attacker seeds."""
    rows = r.json("seeds.json")["rows"]
    out = []
    for view in ("fine", "coarse"):
        rs = sorted((x for x in rows if x["labels"] == view), key=lambda x: x["seed"])
        worst = max(x["peak"] for x in rs)
        out.append([view, pair(rs[0]["clean_final"], rs[0]["clean_peak"]), " / ".join(f3(x["peak"]) for x in rs),
                    f3(worst), f2(worst / rs[0]["clean_peak"])])
    return md_table(["view", "clean (seed 0) final / peak", "uc peaks, seeds 0 / 1 / 2", "worst peak", "worst / clean"], out)


@block("results-purity", "purity.json", "table.json", rows="every grouping, fine, seed 0; clean from table.json")
def _results_purity(r: Results) -> str:
    """Protection against cluster purity."""
    rows = r.json("purity.json")["rows"]
    labels = {"true classes, 0% reassigned": "true fine classes (oracle)",
              "K-means 224px standardize p=10": "K-means, EfficientNet-Lite0 224 px, standardised, **p=10**",
              "true classes, 30% reassigned": "true classes, 30% of images reassigned at random",
              "K-means 224px standardize p=20": "K-means, same features, p=20",
              "K-means 224px standardize p=50": "K-means, same features, p=50",
              "true classes, 60% reassigned": "true classes, 60% reassigned",
              "true classes, 90% reassigned": "true classes, 90% reassigned",
              "random clusters p=10": "random clusters (lower bound)"}
    out = []
    for method, label in labels.items():
        x = study_row(rows, method, "fine")
        out.append([label, f3(x["purity_fine"]), f3(x["nmi_fine"]), f3(x["purity_coarse"]), pair(x["final"], x["peak"])])
    clean = study_row(r.json("table.json")["rows"], "clean", "fine", "—")
    out.append(["clean", "—", "—", "—", pair(clean["final"], clean["peak"])])
    return md_table(["grouping", "purity (fine)", "NMI (fine)", "purity (coarse)", "fine final / peak"], out)


@block("results-levers", "levers.json", rows="EfficientNet-Lite0, every resolution × preprocessing, p = 10 and 20")
def _results_levers(r: Results) -> str:
    """Raising purity without labels: resolution and preprocessing."""
    rows = r.json("levers.json")["rows"]
    names = {"none": "none (raw)", "l2": "L2 (spherical K-means)", "standardize": "standardised (default)",
             "pca-whiten": "PCA-whitened"}
    keys = []
    for x in rows:
        if (x["resolution"], x["mode"]) not in keys:
            keys.append((x["resolution"], x["mode"]))
    out = []
    for res, mode in keys:
        p10 = next(x for x in rows if x["resolution"] == res and x["mode"] == mode and x["p"] == 10)
        p20 = next(x for x in rows if x["resolution"] == res and x["mode"] == mode and x["p"] == 20)
        out.append([f"{res} px", names.get(mode, mode) if res == 224 else mode.replace("standardize", "standardised").replace("l2", "L2"),
                    f"{pair(p10['purity_fine'], p10['nmi_fine'])} ({f3(p10['purity_coarse'])})",
                    pair(p20["purity_fine"], p20["nmi_fine"])])
    return md_table(["surrogate input", "preprocessing", "p=10 purity / NMI (purity vs coarse)", "p=20 purity / NMI"], out)


@block("results-sweep", "sweep.json", rows="method × view × defense, seed 0; worst case from its `worst_case` list")
def _results_sweep(r: Results) -> str:
    """Countermeasures: peak (final) per defense and the worst case per method."""
    d = r.json("sweep.json")
    out = []
    for view in ("fine", "coarse"):
        for method, built, label in (("clean", "—", "clean"), ("random-class", "fine", "random-class (built from fine)"),
                                     ("uc", "—", "uc"), ("uc-robust", "—", "uc-robust (achromatic 2-px blocks)")):
            cells = []
            for dfn in ("none", "jpeg:10", "grayscale"):
                x = study_row(d["rows"], method, view, built, defense=dfn)
                cells.append(f3(x["peak"]) + ("" if method == "clean" or f3(x["final"]) == f3(x["peak"])
                                              else f" ({f3(x['final'])})"))
            if method == "clean":
                worst = "—"
            else:
                w = next(w for w in d["worst_case"] if w["method"] == method and w["labels"] == view)
                worst = f"**{f3(w['worst_peak'])}** ({w['worst_defense']})"
            out.append([label, view, *cells, worst])
    return md_table(["training data", "view", "none", "jpeg:10", "grayscale", "**worst case**"], out)


@block("results-survival", "survival.json", rows="every row (first 2,000 training images)")
def _results_survival(r: Results) -> str:
    """How much of each noise a countermeasure leaves."""
    names = {"uc": "`uc` (colour 4-px blocks)", "uc-robust": "`uc-robust` (achromatic 2-px blocks)",
             "random-class@fine": "`random-class` (colour 4-px blocks)"}
    cols = ["jpeg:10", "jpeg:30", "jpeg:50", "grayscale", "blur:1"]
    out = [[names.get(x["method"], x["method"]), *[f3(x[c]) for c in cols]] for x in r.json("survival.json")["rows"]]
    return md_table(["noise", *cols], out)


@block("results-robust", "sweep.json", "robust.json", rows="fine, seed 0, peak (final); robust.json rows by options")
def _results_robust(r: Results) -> str:
    """What was tried to make UC survive countermeasures."""
    rb = r.json("robust.json")["rows"]

    def sweep_cells(method: str, finals: bool) -> list[str]:
        vals = [sweep_peak(r, method, "fine", dfn) for dfn in ("none", "jpeg:10", "grayscale")]
        return [f3(x["peak"]) + (f" ({f3(x['final'])})" if finals else "") for x in vals]

    def robust(method: str, options: str, defense: str) -> dict | None:
        hits = [x for x in rb if x["method"] == method and x["options"] == options and x["defense"] == defense]
        return hits[0] if hits else None

    def robust_row(label: str, method: str, options: str, final_in_none: bool = False) -> list[str]:
        cells, peaks = [], []
        for dfn in ("none", "jpeg:10", "grayscale"):
            x = robust(method, options, dfn)
            if x is None:
                cells.append("—")
                continue
            peaks.append(x["peak"])
            cells.append(f3(x["peak"]) + (f" (final {f3(x['final'])})" if final_in_none and dfn == "none" else ""))
        worst = f3(max(peaks)) if len(peaks) == 3 else f"≥ {f3(max(peaks))}"
        return [label, *cells, worst]

    uc = sweep_cells("uc", False)
    ucr = sweep_cells("uc-robust", True)
    ucr_worst = max(sweep_peak(r, "uc-robust", "fine", d)["peak"] for d in ("none", "jpeg:10", "grayscale"))
    rows = [
        ["`uc` (colour 4-px blocks, UC objective)", *uc,
         f3(max(sweep_peak(r, "uc", "fine", d)["peak"] for d in ("none", "jpeg:10", "grayscale")))],
        robust_row("`uc` objective with achromatic 4-px blocks (first `uc-robust`)", "uc-robust", '{"lowfreq_res": 8}'),
        robust_row("random achromatic 4-px blocks per cluster", "random-cluster", '{"gray": true, "lowfreq_res": 8}'),
        robust_row("random achromatic 4-px blocks per **true class** (oracle)", "random-class",
                   '{"gray": true, "lowfreq_res": 8}', final_in_none=True),
        robust_row("random achromatic 2-px blocks per cluster", "random-cluster", '{"gray": true, "lowfreq_res": 16}'),
        ["`uc-robust` (UC objective, achromatic 2-px blocks)", *ucr, f3(ucr_worst)],
    ]
    return md_table(["noise", "none", "jpeg:10", "grayscale", "worst"], rows)
