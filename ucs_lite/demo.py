"""The quickstart behind ``make demo`` / ``ucs-lite demo``: the label-agnostic story in about five minutes on
two CPU cores, ending in a self-contained ``runs/demo-<timestamp>/report.html``.

What it runs (sizes in :data:`DEMO`, measured in docs/results.md "Demo and notebook sizes"): on the embedded
CIFAR-10 sample, three protected copies —

* class-wise noise built from the 10 **fine** labels (label-based noise, label-consistent attacker),
* the same kind of noise built from the 2 **coarse** labels, animal / vehicle (the label-agnostic case),
* ``gen-cluster``: clusters of a frozen surrogate's features (no labels at all; offline ImageNet surrogate), one
  untrained generator's pattern per cluster — the label-free method that protected best in our measurements when
  nobody re-encodes the images (docs/results.md; ``protect``'s default for photo folders; for bundles the default is
  the method built to survive re-encoding, docs/countermeasures.md) —

then one attacker per copy (and one on clean data) that trains with the fine labels and is tested on clean
images. Notebook 00 makes the same choices (``ucs_lite.profiles.PROFILES["cpu-quick"]``).
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
from .profiles import PROFILES
from .surrogates import DEFAULT_SURROGATE, create_surrogate

__all__ = ["DEMO", "DEMO_METHODS", "run_demo", "demo_sentences", "load_reference"]

#: What the demo (and notebook 00) runs by default: the ``cpu-quick`` notebook profile's sizes, so the two never
#: disagree. Each difference the demo states is judged against its spread over attacker seeds, measured at this
#: configuration (benchmarks/results/demo_seeds.json, shipped as ucs_lite/assets/reference_results.json).
DEMO = {"n_train": PROFILES["cpu-quick"]["n_train"], "n_test": PROFILES["cpu-quick"]["n_test"],
        "epochs": PROFILES["cpu-quick"]["epochs"], "p": 10, "eps255": 16, "view": "fine",
        "surrogate_resolution": PROFILES["cpu-quick"]["surrogate_resolution"], "label_free": "gen-cluster"}
#: (method spec, what a reader should call it)
DEMO_METHODS = (("clean", "clean images"),
                ("random-class@fine", "class-wise noise from the 10 fine labels"),
                ("random-class@coarse", "class-wise noise from the 2 coarse labels"),
                ("gen-cluster", "gen-cluster: a pattern per feature cluster (no labels)"))
#: the name under which each stated difference's seed spread is stored: (name, larger, smaller)
DIFFERENCES = (("clean_vs_fine_built", "clean", "random-class@fine"),
               ("coarse_built_vs_fine_built", "random-class@coarse", "random-class@fine"),
               ("clean_vs_coarse_built", "clean", "random-class@coarse"),
               ("clean_vs_gen_cluster", "clean", "gen-cluster"))


def load_reference() -> dict:
    """The stored demo-size seed spreads and larger-scale results shipped with the package
    (``ucs_lite/assets/reference_results.json``, written by ``benchmarks/demo_seeds.py``); ``{}`` if absent."""
    try:
        text = resources.files("ucs_lite").joinpath("assets", "reference_results.json").read_text()
    except (FileNotFoundError, OSError):
        return {}
    return json.loads(text)


def is_clear(diff: float, spread: dict | None, clear_gap: float = 0.03) -> bool:
    """Whether one run's difference (peak accuracy, larger minus smaller) counts as an effect: at least twice
    the difference's seed spread measured at this configuration (``spread["spread"]``), or, with no measured
    spread, more than ``clear_gap``. Decided from this run's number every time, never in advance."""
    s = spread.get("spread") if spread else None
    if s is not None and np.isfinite(s):
        return bool(diff >= 2 * s and diff > 0)
    return bool(diff > clear_gap)


def demo_sentences(rows: dict[str, dict], reference: dict | None = None, clear_gap: float = 0.03) -> list[str]:
    """A few sentences written from the measured numbers of one demo run.

    ``rows`` maps a method spec of :data:`DEMO_METHODS` to its attacker result (``test_acc_peak``,
    ``chance``); ``reference`` is :func:`load_reference`'s dict (seed spreads at the demo size and the
    larger-scale table, measured for this configuration). A difference counts as an effect when this run's
    difference is at least twice the spread measured over seeds (:func:`is_clear`). The wording follows the
    numbers, whatever they are."""
    reference = reference or {}
    spread = reference.get("demo", {}).get("differences", {})

    def clear(name: str, diff: float) -> bool:
        return is_clear(diff, spread.get(name), clear_gap)

    def spread_note(name: str) -> str:
        d = spread.get(name)
        if not d or d.get("spread") is None:
            return ""
        return (f" (seed-to-seed spread at this size: {d['spread']:.3f}, measured over seeds "
                f"{reference['demo'].get('seeds', '0-2')})")

    c, ch = rows["clean"]["test_acc_peak"], rows["clean"]["chance"]
    f = rows["random-class@fine"]["test_acc_peak"]
    co = rows["random-class@coarse"]["test_acc_peak"]
    g = rows["gen-cluster"]["test_acc_peak"]
    out = [f"Trained on clean images, the attacker reaches {c:.1%} peak accuracy on clean test images "
           f"(chance: {ch:.0%})."]
    if clear("clean_vs_fine_built", c - f):
        out.append(f"Class-wise noise built from the same 10 labels the attacker uses cuts that to {f:.1%}: it took "
                   f"away {removed(c, f, ch):.0%} of what the attacker had learned above chance — the textbook "
                   f"unlearnable-examples result, which needs the protector's labels to match the attacker's.")
    else:
        out.append(f"Class-wise noise built from the same 10 labels the attacker uses leaves it at {f:.1%}, no clear "
                   f"drop from clean in this run{spread_note('clean_vs_fine_built')}.")
    if clear("coarse_built_vs_fine_built", co - f):
        out.append(f"The same kind of noise built from the 2 coarse labels (animal / vehicle) leaves the fine-label "
                   f"attacker at {co:.1%} ({removed(c, co, ch):.0%} taken away): when the attacker labels the data "
                   f"more finely than the protector did, label-based noise loses much of its effect.")
    else:
        out.append(f"The same kind of noise built from the 2 coarse labels (animal / vehicle) leaves the fine-label "
                   f"attacker at {co:.1%}, not clearly above noise built from its own labels in this run"
                   f"{spread_note('coarse_built_vs_fine_built')}.")
    text = (f"gen-cluster, which uses no labels (clusters of a frozen image model's features, one pattern per "
            f"cluster), leaves {g:.1%} ({removed(c, g, ch):.0%} taken away)")
    if clear("clean_vs_gen_cluster", c - g):
        text += (f": a clear drop, {c - g:.3f} below clean" + spread_note("clean_vs_gen_cluster")
                 + (", and below the noise built from coarse labels." if g < co else "."))
    else:
        text += f": not a clear drop in this run{spread_note('clean_vs_gen_cluster')}."
    out.append(text)
    big = reference.get("large_scale")
    if big and "gen-cluster" in big:
        out.append(f"At a larger scale ({big['n_train']:,} training images, {big['epochs']} epochs; stored result) the "
                   f"same attacker went from {big['clean']:.1%} (clean) to {big['random-class@fine']:.1%} with "
                   f"class-wise noise from fine labels, {big['random-class@coarse']:.1%} from coarse labels and "
                   f"{big['gen-cluster']:.1%} with gen-cluster.")
    return out


def _figures(results: dict[str, dict], names: dict[str, str], chance: float):
    from .viz import accuracy_curves

    return accuracy_curves({names[k]: r for k, r in results.items()}, chance=chance,
                           title="Attacker with fine labels: clean test accuracy per epoch")


def _write_report(path: Path, head: str, seconds: float, sentences: list[str], rows: list[dict], results: dict,
                  protected: dict, names: dict, specs: list[str], bundle, chance: float, eps255: float,
                  reference: dict) -> None:
    """The demo's one self-contained page: sentences, table, accuracy curves, one image per class of each
    protected set, and the stored larger-scale result when the reference has it."""
    from . import report as R

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
            f"is bounded by ε = {eps255:g}/255 per pixel.</p>"]
    body += [R.image_tag(strip(protected[m].train.images[idx]), f"{names[m]}" + (
        "" if m == "clean" else f" — PSNR {protected[m].meta()['psnr']:.1f} dB, SSIM {protected[m].meta()['ssim']:.3f}"),
        scale=3) + "<br>" for m in specs]
    big = reference.get("large_scale")
    if big and all(m in big for m in specs):
        body += ["<h2>At a larger scale (stored result)</h2>",
                 f"<p class=\"note\">{big['source']}</p>",
                 R.html_table([{"data": names[m], "peak": big[m]} for m in specs],
                              [("data", "training data", None), ("peak", "peak acc., worst seed", None)])]
    R.write_page(path, "ucs_lite demo: label-agnostic unlearnable examples", body)


def run_demo(data: str = "sample", out_root: str = "runs", epochs: int | None = None, p: int | None = None,
             eps255: float | None = None, surrogate: str = DEFAULT_SURROGATE, device: str = "auto", seed: int = 0,
             n_train: int | None = None, n_test: int | None = None, progress: bool = True) -> Path:
    """Run the demo; return its output folder (``report.html``, ``results.json``, ``results.md``).

    Sizes left at ``None`` take :data:`DEMO`'s. ``seed`` is the attacker's seed (noise seed 0). Protected
    sets and attacker runs go through the result cache, so a rerun is quick."""

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
                            seed=0, progress=progress)
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

    _write_report(out / "report.html", head, seconds, sentences, rows, results, protected, names, specs, bundle,
                  chance, cfg["eps255"], reference)
    print("\n".join(lines))
    print(f"\nreport: {out / 'report.html'}")
    return out
