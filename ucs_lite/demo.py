"""The quickstart behind ``make demo`` / ``ucs-lite demo``: the label-agnostic story in about three minutes on
two CPU cores, ending in a self-contained ``runs/demo-<timestamp>/report.html``.

What it runs (sizes in :data:`DEMO`, measured in docs/results.md "Demo and notebook sizes"): on the embedded
CIFAR-10 sample, three protected copies —

* class-wise noise built from the 10 **fine** labels (label-based noise, label-consistent attacker),
* the same kind of noise built from the 2 **coarse** labels, animal / vehicle (the label-agnostic case),
* Unlearnable Clusters (no labels at all; offline ImageNet surrogate) —

then one attacker per copy (and one on clean data) that trains with the fine labels and is tested on clean
images. Notebook 00 makes the same choices (``ucs_lite.notebooks.PROFILES['cpu-quick']``).
"""
from __future__ import annotations

import html
import json
import time
from importlib import resources
from pathlib import Path

import numpy as np

from .attack import AttackConfig
from .data import atomic_write_bytes, load
from . import cache
from .experiment import protect_all
from .metrics import removed
from .notebooks import PROFILES
from .surrogates import DEFAULT_SURROGATE, create_surrogate

__all__ = ["DEMO", "DEMO_METHODS", "run_demo", "demo_sentences", "load_reference"]

#: What the demo (and notebook 00) runs by default: the ``cpu-quick`` notebook profile's sizes, so the two never
#: disagree. Chosen so that each difference the demo states is at least twice its spread over attacker seeds
#: 0-2 (measured: docs/results.md "Demo and notebook sizes", benchmarks/results/demo_seeds.json).
DEMO = {"n_train": PROFILES["cpu-quick"]["n_train"], "n_test": PROFILES["cpu-quick"]["n_test"],
        "epochs": PROFILES["cpu-quick"]["epochs"], "p": 10, "eps255": 16, "view": "fine",
        "surrogate_resolution": PROFILES["cpu-quick"]["surrogate_resolution"],
        "uc": {k: PROFILES["cpu-quick"][k] for k in ("steps", "craft_resolution", "batch_per_cluster")}}
#: (method spec, what a reader should call it)
DEMO_METHODS = (("clean", "clean images"),
                ("random-class@fine", "class-wise noise from the 10 fine labels"),
                ("random-class@coarse", "class-wise noise from the 2 coarse labels"),
                ("uc", "Unlearnable Clusters (no labels)"))


def load_reference() -> dict:
    """The stored demo-size seed spreads and larger-scale results shipped with the package
    (``ucs_lite/assets/reference_results.json``, written by ``benchmarks/demo_seeds.py``); ``{}`` if absent."""
    try:
        text = resources.files("ucs_lite").joinpath("assets", "reference_results.json").read_text()
    except (FileNotFoundError, OSError):
        return {}
    return json.loads(text)


def demo_sentences(rows: dict[str, dict], reference: dict | None = None, clear_gap: float = 0.03) -> list[str]:
    """A few sentences written from the measured numbers of one demo run.

    ``rows`` maps a method spec of :data:`DEMO_METHODS` to its attacker result (``test_acc_peak``,
    ``chance``); ``reference`` is :func:`load_reference`'s dict (seed spreads at the demo size and the
    larger-scale table, measured for this configuration). With a reference, a difference counts as an effect
    when its mean over the measured seeds was at least twice its seed spread and this run's difference is
    positive; without one, when this run's difference exceeds ``clear_gap``. The wording follows the numbers,
    whatever they are."""
    reference = reference or {}
    spread = reference.get("demo", {}).get("differences", {})

    def clear(name: str, diff: float) -> bool:
        if name in spread:
            return bool(spread[name]["mean"] >= 2 * spread[name]["spread"]) and diff > 0
        return diff > clear_gap

    c, ch = rows["clean"]["test_acc_peak"], rows["clean"]["chance"]
    f = rows["random-class@fine"]["test_acc_peak"]
    co = rows["random-class@coarse"]["test_acc_peak"]
    u = rows["uc"]["test_acc_peak"]
    out = [f"Trained on clean images, the attacker reaches {c:.1%} peak accuracy on clean test images "
           f"(chance: {ch:.0%})."]
    if clear("clean_vs_fine_built", c - f):
        out.append(f"Class-wise noise built from the same 10 labels the attacker uses cuts that to {f:.1%}: it took "
                   f"away {removed(c, f, ch):.0%} of what the attacker had learned above chance — the textbook "
                   f"unlearnable-examples result, which needs the protector's labels to match the attacker's.")
    else:
        out.append(f"Class-wise noise built from the same 10 labels the attacker uses leaves it at {f:.1%}, no clear "
                   f"drop from clean in this run.")
    if clear("coarse_built_vs_fine_built", co - f):
        out.append(f"The same kind of noise built from the 2 coarse labels (animal / vehicle) leaves the fine-label "
                   f"attacker at {co:.1%} ({removed(c, co, ch):.0%} taken away): when the attacker labels the data "
                   f"more finely than the protector did, label-based noise loses much of its effect.")
    else:
        out.append(f"The same kind of noise built from the 2 coarse labels (animal / vehicle) leaves the fine-label "
                   f"attacker at {co:.1%}, about as low as noise built from its own labels in this run.")
    uc_text = f"Unlearnable Clusters, which uses no labels, leaves {u:.1%} ({removed(c, u, ch):.0%} taken away)"
    d = spread.get("uc_vs_clean")
    if clear("uc_vs_clean", c - u):
        uc_text += (", below the noise built from coarse labels." if u < co - clear_gap else ".")
    elif d is not None:
        smallest = f", smallest {d['min']:+.3f}" if "min" in d else ""
        uc_text += (f". At this size that drop is about as large as the attacker's own seed-to-seed variation (over "
                    f"seeds {reference['demo'].get('seeds', '0-2')} the clean-minus-UC gap averaged {d['mean']:+.3f}"
                    f"{smallest}, with a spread of {d['spread']:.3f}): less than twice the spread, so the demo does "
                    f"not count it as a clear effect.")
    else:
        uc_text += ", not clearly below clean in this run."
    out.append(uc_text)
    big = reference.get("large_scale")
    if big:
        out.append(f"At a larger scale ({big['n_train']:,} training images, {big['epochs']} epochs; stored result) the "
                   f"same attacker went from {big['clean']:.1%} (clean) to {big['random-class@fine']:.1%} with "
                   f"class-wise noise from fine labels, {big['random-class@coarse']:.1%} from coarse labels and "
                   f"{big['uc']:.1%} with UC: UC helps where label-based noise fails, but far less than the paper "
                   f"reports for its settings.")
    return out


def _figures(results: dict[str, dict], names: dict[str, str], chance: float):
    from .viz import accuracy_curves

    return accuracy_curves({names[k]: r for k, r in results.items()}, chance=chance,
                           title="Attacker with fine labels: clean test accuracy per epoch")


def run_demo(data: str = "sample", out_root: str = "runs", epochs: int | None = None, p: int | None = None,
             eps255: float | None = None, surrogate: str = DEFAULT_SURROGATE, device: str = "auto", seed: int = 0,
             n_train: int | None = None, n_test: int | None = None, progress: bool = True) -> Path:
    """Run the demo; return its output folder (``report.html``, ``results.json``, ``results.md``).

    Sizes left at ``None`` take :data:`DEMO`'s. ``seed`` is the attacker's seed (noise seed 0). Protected
    sets and attacker runs go through the result cache, so a rerun is quick."""
    from . import report as R

    cfg = {**DEMO, **{k: v for k, v in {"epochs": epochs, "p": p, "eps255": eps255, "n_train": n_train,
                                        "n_test": n_test}.items() if v is not None}}
    t0 = time.time()
    out = Path(out_root) / time.strftime("demo-%Y%m%d-%H%M%S")
    i = 1
    while out.exists():
        out = Path(out_root) / f"{time.strftime('demo-%Y%m%d-%H%M%S')}-{i}"
        i += 1
    out.mkdir(parents=True)
    bundle = load(data)
    if cfg["n_train"] and cfg["n_train"] < len(bundle.train):
        bundle.train = bundle.train.balanced_subset(cfg["n_train"], seed=0)
    if cfg["n_test"] and cfg["n_test"] < len(bundle.test):
        bundle.test = bundle.test.balanced_subset(cfg["n_test"], seed=0)
    surr = create_surrogate(surrogate, device=device,
                            resolution=None if surrogate.startswith("clip:") else cfg["surrogate_resolution"])
    specs = [m for m, _ in DEMO_METHODS]
    names = dict(DEMO_METHODS)
    protected = protect_all(bundle, specs, eps=cfg["eps255"] / 255, p=cfg["p"], surrogate=surr, device=device,
                            craft_options={"uc": cfg["uc"]}, seed=0, progress=progress)
    t_protect = time.time() - t0
    view = cfg["view"]
    results = {m: cache.evaluate(b, view, AttackConfig(epochs=cfg["epochs"], seed=seed, device=device),
                                  progress=progress) for m, b in protected.items()}
    reference = load_reference()
    if reference.get("demo", {}).get("config") != json.loads(json.dumps(cfg)):
        reference.pop("demo", None)  # its seed spreads were measured at another size: not this run's
    sentences = demo_sentences(results, reference)
    chance = results["clean"]["chance"]
    clean_peak = results["clean"]["test_acc_peak"]
    rows = []
    for m, r in results.items():
        meta = protected[m].meta()
        rows.append({"data": names[m], "method": m, "final": r["test_acc_final"], "peak": r["test_acc_peak"],
                     "chance": r["chance"], "clean_peak": clean_peak,
                     "removed": None if m == "clean" else removed(clean_peak, r["test_acc_peak"], chance),
                     "psnr": meta.get("psnr"), "ssim": meta.get("ssim"), "seconds": round(r["seconds"], 1)})
    seconds = time.time() - t0
    result = {"data": data, "n_train": len(bundle.train), "n_test": len(bundle.test), "surrogate": surr.name,
              "config": cfg, "attacker_seed": seed, "labels": view, "rows": rows, "sentences": sentences,
              "seconds_protect": round(t_protect, 1), "seconds": round(seconds, 1)}
    atomic_write_bytes(out / "results.json", json.dumps(result, indent=2, default=float).encode())

    head = (f"ucs_lite demo: {len(bundle.train):,} training / {len(bundle.test):,} test CIFAR-10 images, "
            f"ε = {cfg['eps255']:g}/255; attacker: small CNN, {cfg['epochs']} epochs, crop+flip, {view} labels "
            f"({len(np.unique(bundle.train.view(view)[0]))} classes), seed {seed}")
    lines = [f"# {head}", "",
             "| training data | peak acc. | final acc. | chance | clean peak | removed | PSNR dB | SSIM |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, s="{:.3f}": "—" if v is None else s.format(v)  # noqa: E731
    lines += [f"| {r['data']} | {r['peak']:.3f} | {r['final']:.3f} | {r['chance']:.3f} | {r['clean_peak']:.3f} | "
              f"{fmt(r['removed'], '{:.0%}')} | {fmt(r['psnr'], '{:.1f}')} | {fmt(r['ssim'])} |" for r in rows]
    lines += ["", *sentences, "", f"(ran in {seconds:.0f} s)"]
    atomic_write_bytes(out / "results.md", ("\n".join(lines) + "\n").encode())

    # report.html: one self-contained page
    idx = np.concatenate([np.flatnonzero(bundle.train.view("fine")[0] == c)[:1] for c in range(10)])
    strip = lambda imgs: np.concatenate(list(imgs), axis=1)  # noqa: E731  (a row of 32-px images)
    body = [f"<p class=\"note\">{head}. Ran in {seconds:.0f} s.</p>", "<h2>What happened</h2>",
            "".join(f"<p>{html.escape(s)}</p>" for s in sentences), "<h2>The numbers</h2>",
            R.html_table(rows, [("data", "training data", None), ("peak", "peak acc. (test-selected)", None),
                                ("final", "final acc.", None), ("chance", "chance", None),
                                ("clean_peak", "clean reference", None),
                                ("removed", "removed", lambda v: f"{v:.0%}"),
                                ("psnr", "PSNR dB", lambda v: f"{v:.1f}"), ("ssim", "SSIM", None)]),
            "<p class=\"note\">removed = (clean − protected) / (clean − chance), on peak accuracy: 1 means nothing "
            "learnable is left, 0 means no protection.</p>",
            "<h2>Accuracy per epoch</h2>", R.figure_div(_figures(results, names, chance), include_plotlyjs=True),
            "<h2>Clean vs protected images</h2><p class=\"note\">One training image per class, 3× enlarged; the noise "
            f"is bounded by ε = {cfg['eps255']:g}/255 per pixel.</p>"]
    body += [R.image_tag(strip(protected[m].train.images[idx]), f"{names[m]}" + (
        "" if m == "clean" else f" — PSNR {protected[m].meta()['psnr']:.1f} dB, SSIM {protected[m].meta()['ssim']:.3f}"),
        scale=3) + "<br>" for m in specs]
    big = reference.get("large_scale")
    if big:
        body += ["<h2>At a larger scale (stored result)</h2>",
                 f"<p class=\"note\">{big['source']}</p>",
                 R.html_table([{"data": names[m], "peak": big[m]} for m in specs],
                              [("data", "training data", None), ("peak", "peak acc., worst seed", None)])]
    R.write_page(out / "report.html", "ucs_lite demo: label-agnostic unlearnable examples", body)
    print("\n".join(lines))
    print(f"\nreport: {out / 'report.html'}")
    return out
