"""Generated blocks and values of this study: docs/results.md's photo strengths, visibility and photo protection.

Its numbers come from the results ``python benchmarks/visibility.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import DocsError, Results, block, f2, f3, md_table, pair, register_value


def _register_values() -> None:
    """The prose numbers of this study (one value each)."""
    reg = register_value
    v = "visibility.json"
    for strength in ("balanced", "strong", "paper", "subtle"):
        reg(f"vis.{strength}.peak", v, f"strength {strength}, worst peak over seeds",
            lambda r, s=strength: f3(vis_row(r, strength=s)["protection"]["worst_peak"]))
        reg(f"vis.{strength}.final", v, f"strength {strength}, worst final over seeds",
            lambda r, s=strength: f3(vis_row(r, strength=s)["protection"]["worst_final"]))
        reg(f"vis.{strength}.de", v, f"strength {strength}, mean ΔE00 over the four photos",
            lambda r, s=strength: f"{vis_row(r, strength=s)['visibility']['mean']['de2000_mean']:.1f}")
    reg("vis.clean.peak", v, "clean.peaks[0]", lambda r: f3(r.json(v)["clean"]["peaks"][0]))
    reg("vis.balanced.peaks", v, "strength balanced, peak per seed",
        lambda r: " / ".join(f3(x["peak"]) for x in vis_row(r, strength="balanced")["protection"]["runs"]))
    reg("vis.n-train", v, "protocol.n_train", lambda r: f"{r.json(v)['protocol']['n_train']:,}")


_register_values()


def vis_row(r: Results, strength: str | None = None, name: str | None = None) -> dict:
    """One candidate of ``visibility.json`` by ``--strength`` or by name."""
    for row in r.json("visibility.json")["rows"]:
        if (strength and row.get("strength") == strength) or (name and row["name"] == name):
            return row
    raise DocsError(f"visibility.json: no row strength={strength} name={name}")


@block("results-strengths", "visibility.json", rows="the rows with a `strength`; ΔE00 mean over the four photos / worst photo")
def _results_strengths(r: Results) -> str:
    """The ``--strength`` points and their visibility."""
    what = {"subtle": "ε 8, 16×16 cells, luminance only, texture mask",
            "balanced": "ε 16, 16×16 cells, luminance only, texture mask",
            "strong": "ε 16, 16×16 cells, luminance only", "paper": "ε 16, 8×8 cells, three colour channels"}
    out = []
    for s, desc in what.items():
        x = vis_row(r, strength=s)
        label = {"balanced": "**`balanced`** (default)", "paper": "`paper` (the old default)"}.get(s, f"`{s}`")
        out.append([label, desc, pair(x["visibility"]["mean"]["de2000_mean"], x["visibility"]["worst_de2000_mean"], f2)])
    return md_table(["`--strength`", "noise", "mean ΔE00 on the four photos (mean / worst photo)"], out)


#: candidates of visibility.json measured earlier under the 10k protocol: (file, method, options key, value)
EARLIER_10K = {
    "paper (old default): rgb 8 cells ε16": ("explore.json", "built_from", '{"form": "lowfreq"}', 16),
    "rgb 8 cells ε8": ("explore.json", "built_from", '{"form": "lowfreq"}', 8),
    "luma 8 cells ε16": ("robust.json", "options", '{"gray": true, "lowfreq_res": 8}', None),
    "strong: luma 16 cells ε16": ("robust.json", "options", '{"gray": true, "lowfreq_res": 16}', None),
}


def earlier_10k(r: Results, name: str) -> str:
    """``peak / final`` of a visibility candidate under the 10k K-means protocol, or ``—``."""
    if name not in EARLIER_10K:
        return "—"
    file, key, opt, eps = EARLIER_10K[name]
    hits = [x for x in r.json(file)["rows"] if x["method"] == "random-cluster" and x[key] == opt
            and x.get("defense", "none") == "none" and (eps is None or x.get("eps255") == eps)]
    return pair(hits[0]["peak"], hits[0]["final"])


@block("results-visibility", "visibility.json", "explore.json", "robust.json",
       rows="every candidate; the 10k column from explore.json / robust.json (random pattern per K-means cluster, seed 0)")
def _results_visibility(r: Results) -> str:
    """Visibility (and protection where measured) of every photo-noise candidate."""
    out = []
    for x in r.json("visibility.json")["rows"]:
        m, prot = x["visibility"]["mean"], x.get("protection")
        out.append([x["name"], pair(m["de2000_mean"], x["visibility"]["worst_de2000_mean"], f2), f2(m["de2000_p95"]),
                    f2(m["de2000_share_jnd"]), f"{m['psnr']:.1f}", f3(m["ssim"]), earlier_10k(r, x["name"]),
                    f3(prot["worst_peak"]) if prot else "—", f3(prot["worst_final"]) if prot else "—",
                    len(prot["runs"]) if prot else 0])
    return md_table(["construction", "ΔE00 mean (4 photos: mean / worst)", "ΔE00 p95", "share > 2.3", "PSNR dB", "SSIM",
                     "fine peak / final, 10k K-means, seed 0 (earlier)", "fine peak, worst of seeds (2,000 train, "
                     "true-class groups)", "fine final, worst", "seeds"], out)


@block("results-photo-protection", "visibility.json", rows="the candidates with a protection run; clean = `clean`")
def _results_photo_protection(r: Results) -> str:
    """Protection of the photo constructions (random cells per true fine class, 2,000 training images)."""
    d = r.json("visibility.json")
    out = [["none (clean)", "0", pair(d["clean"]["peaks"][0], d["clean"]["finals"][0]), "0"]]
    for x in d["rows"]:
        prot = x.get("protection")
        if not prot:
            continue
        runs = prot["runs"]
        per_seed = "" if len(runs) == 1 else " (worst; " + " / ".join(f3(s["peak"]) for s in runs) + ")"
        out.append([x["name"], f"{x['visibility']['mean']['de2000_mean']:.2f} ({x['visibility']['worst_de2000_mean']:.2f})",
                    pair(prot["worst_peak"], prot["worst_final"]) + per_seed, ", ".join(str(s["seed"]) for s in runs)])
    return md_table(["construction", "ΔE00 mean, 4 photos (worst photo)",
                     "fine peak / final, 2k train, one random cell pattern per true fine class", "attacker seeds"], out)
