"""How long each notebook takes: a time model (images × epochs × passes ÷ throughput) per notebook and profile.

``ucs-lite estimate --profile gpu-class --gpu t4`` prints seconds per notebook as JSON;
:func:`ucs_lite.notebooks.resolve` prints the running notebook's estimate before its expensive cells.

What each notebook does is not copied here: sizes come from :mod:`ucs_lite.profiles` (``PROFILES``,
``DATA_SIZES``) and the work from each notebook's plan there (``NOTEBOOK_WORK``: its methods, views,
defenses, surrogate, ``p``; ``attacker_runs`` / ``cluster_methods`` / ``crafted_methods`` count them). The
model multiplies those counts by per-operation costs:

* surrogate features (forward) of the training images, once per image set: every cluster method (``uc``,
  ``uc-robust``, ``random-cluster``, ``gen-cluster``, ``uc-official``) clusters them; one K-means per cluster
  method (∝ N × p × n_init);
* UC steps (forward + backward to the input) of each crafted method (``uc``, ``uc-robust``);
* attacker training (n_train × epochs per run) and its test pass (n_test × epochs forwards);
* PSNR / SSIM of each protected set; JPEG / grayscale countermeasures; t-SNE (notebook 02);
* fixed costs: kernel start and imports, figures, and the CIFAR-10 download where it applies.

Where the numbers come from (:data:`HARDWARE`, every entry says so in its ``source``):

* ``cpu``: per-operation costs on the project's 2-core machine, calibrated against a measured run of the
  notebooks at ``cpu-quick`` (``benchmarks/results/notebook_times.json``: wall seconds of each notebook from an
  empty cache with nothing else running; tests/test_estimate.py keeps the model within ±35 % of every notebook
  stored there). The comments of ``_CPU`` below say which cells set each constant.
* ``t4``, ``a100``, ``h100``: **assumptions, not measured here** (no GPU was lent to this project's sessions):
  T4 figures are judgement calls for eager PyTorch under AMP, set against NVIDIA's T4 datasheet (65 TFLOPS
  fp16 tensor, 320 GB/s) at a low, small-model utilisation (ResNet-18 at 32 px, 2,500 img/s ≈ 4 TFLOPS
  effective); A100 and H100 are the T4 figures × 4 and × 6, below their datasheet bandwidth ratios (6.4× and
  10.5×: 2.0 and 3.35 TB/s) because small 32-px models do not fill a big GPU. Host-side work (K-means, t-SNE,
  JPEG) uses the 2-core CPU figures (Colab's GPU runtimes have 2 vCPUs). ``benchmarks/gpu_check.py``
  measures the real throughputs on any CUDA machine; put them in :data:`HARDWARE` when you have them.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .profiles import (DATA_SIZES, NOTEBOOK_WORK, NOTEBOOKS, PROFILES, SURVIVAL_SQUEEZES, attacker_runs,
                       cluster_methods, crafted_methods, data_sizes, method_name)
from .errors import InputError

__all__ = ["Hardware", "HARDWARE", "NOTEBOOK_KNOBS", "DATA_SIZES", "estimate_notebook", "estimate_profile",
           "em_passes", "protection_seconds",
           "hardware_for", "describe", "hardware_table", "clip_expected", "markdown_table", "hardware_markdown_table",
           "measured_times", "MEASURED_TIMES"]

#: The notebooks' work plans (:data:`ucs_lite.profiles.NOTEBOOK_WORK`) under the name ``notebooks.resolve`` uses.
NOTEBOOK_KNOBS = NOTEBOOK_WORK
#: One measured run of every notebook at ``cpu-quick`` on the project's 2-core machine (in a checkout).
MEASURED_TIMES = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "notebook_times.json"


@dataclass(frozen=True)
class Hardware:
    """Throughputs (images per second unless stated) the time model divides by."""

    name: str
    source: str
    measured: bool
    #: surrogate forward / forward+backward-to-input at 224 px, per surrogate family
    surrogate_fwd_224: dict = field(default_factory=dict)
    surrogate_fwdbwd_224: dict = field(default_factory=dict)
    #: below this side the per-image cost stops falling (kernel-launch / overhead bound)
    min_side: int = 32
    #: per-image cost ∝ side ** side_exponent (2: pixel-bound, as on a GPU; less where fixed costs weigh)
    side_exponent: float = 2.0
    #: attacker training at 32 px (forward + backward + step, batch 128, crop+flip), per model
    attacker_train_32: dict = field(default_factory=dict)
    attacker_fixed_s: float = 2.0        # per attacker run: model build, data to device, first-batch warm-up
    kmeans_s_10k: float = 60.0           # K-means, N = 10k, p = 10, n_init = 10, ~1,280-d (host CPU)
    tsne_s_10k: float = 180.0            # t-SNE (after PCA to 50-d), N = 10k (host CPU), beyond tsne_fixed_s
    tsne_fixed_s: float = 0.0            # t-SNE's cost that does not grow with N (its 1,000 iterations' overhead)
    jpeg_ms_per_image: float = 0.3       # JPEG / grayscale / blur countermeasure, one 32-px image (host CPU)
    quality_ms_per_image: float = 0.2    # PSNR + SSIM of one protected 32-px image against its clean one (host CPU)
    startup_s: float = 10.0              # kernel start, imports, surrogate build, figures of a notebook
    #: error-minimising crafting (``eot-cluster``, ``em-class``) at 32 px, each pass through the differentiable
    #: countermeasures it is crafted through: model-training passes and δ passes per second (:func:`em_passes`)
    em_train_32: float = 300.0
    em_delta_32: float = 1200.0
    download_s: dict = field(default_factory=lambda: {"cifar10": 40.0, "cifar100": 40.0})


#: eot-cluster's crafting on the project's 2-core machine with nothing else running, fitted to the two quiet rows of
#: benchmarks/results/protect_cost.json (2 threads, 2026-12-08: 95 s for the embedded 4,000 images, 121 s for 10k):
#: model-training passes (batch 256, random images) and δ passes (every image in order) per second, :func:`em_passes`.
#: The same 4,000-image craft took 598 s while other jobs shared the two cores (protect_cost.json at 34a40a9).
EM_TRAIN_CPU, EM_DELTA_CPU = 1307.0, 6226.0

_CPU = Hardware(
    name="cpu (2 cores)",
    source=("calibrated against benchmarks/results/notebook_times.json: wall seconds of every notebook at cpu-quick "
            "on the project's 2-core machine with nothing else running (torch at 2 threads, each notebook from an "
            "empty cache); papermill's per-cell durations set each constant (see the comments of ucs_lite.estimate._CPU)"),
    measured=True,
    # wall images per second inside a notebook, refitted to the quiet run of 2026-12-07 (torch 2.14.1; the run of
    # 2026-11-30 on this project's machine was 2.6-3.4x slower for the same work): EfficientNet-Lite0 features
    # ~215 img/s at 128 px (02: 4,000 images in 18.6 s with the model's load) and UC steps ~240 img/s at 64 px
    # (03: 1,200 forward + backward passes in ~5 s of its 24.7-s crafting cell, after the features), carried to
    # 224 px with side^1.4 (the slope of benchmarks/results/bench_features.json's forward rows, 64 -> 224 px); CLIP:
    # the EfficientNet factor applied to ENVIRONMENT.md's 2-thread rates (not measured in a notebook: notebook 02
    # runs on its fallback offline)
    surrogate_fwd_224={"imagenet": 99.0, "clip:RN50": 10.4, "clip:ViT-B-32": 19.5, "tiny": 5000.0},
    surrogate_fwdbwd_224={"imagenet": 42.0, "clip:RN50": 4.5, "clip:ViT-B-32": 6.3, "tiny": 2000.0},
    min_side=32, side_exponent=1.4,
    # small CNN: 4,000 images × 12 epochs + a 1,000-image test pass per epoch took 14-16 s per run in 00, 01 and 04
    # (~3,400 img/s); the other attackers scaled by the same factor from docs/results.md's ratios
    attacker_train_32={"small-cnn": 3400.0, "vgg-small": 900.0, "resnet18-quarter": 700.0, "resnet18": 163.0},
    attacker_fixed_s=1.0,
    startup_s=9.0,            # kernel start and imports outside the cells (~5 s) + setup / resolve cells (~3 s)
    kmeans_s_10k=8.0,         # 02: K-means at p = 10 plus the p sweep on 4,000 images ~7 s
    tsne_s_10k=15.0, tsne_fixed_s=1.0,  # 02: t-SNE of 1,000 images ~2 s; 10k scaled as N log N (not timed)
    jpeg_ms_per_image=0.3,    # 05: the survival table and the attacked sets' countermeasures (cell totals)
    quality_ms_per_image=0.3,  # PSNR + SSIM of a protected 32-px image
    em_train_32=EM_TRAIN_CPU, em_delta_32=EM_DELTA_CPU,  # eot-cluster's quiet crafting (protect_cost.json)
)

_T4 = Hardware(
    name="NVIDIA T4 (16 GB, fp16 autocast + grad scaler)",
    source=("assumption, not measured here: judgement for eager PyTorch under AMP against the T4 datasheet "
            "(65 TFLOPS fp16 tensor, 320 GB/s); host work from the measured 2-core CPU"),
    measured=False,
    surrogate_fwd_224={"imagenet": 1000.0, "clip:RN50": 600.0, "clip:ViT-B-32": 800.0, "tiny": 20000.0},
    surrogate_fwdbwd_224={"imagenet": 300.0, "clip:RN50": 200.0, "clip:ViT-B-32": 250.0, "tiny": 8000.0},
    min_side=112,
    attacker_train_32={"small-cnn": 10000.0, "vgg-small": 8000.0, "resnet18-quarter": 6000.0, "resnet18": 2500.0},
    attacker_fixed_s=3.0, startup_s=15.0,
)


def _host_work_of(base: Hardware, host: Hardware) -> Hardware:
    """``base`` with the host-CPU costs (K-means, t-SNE, JPEG, quality) of ``host``: a GPU runtime does these on
    its CPU."""
    return replace(base, kmeans_s_10k=host.kmeans_s_10k, tsne_s_10k=host.tsne_s_10k, tsne_fixed_s=host.tsne_fixed_s,
                   jpeg_ms_per_image=host.jpeg_ms_per_image, quality_ms_per_image=host.quality_ms_per_image)


def _scaled(base: Hardware, factor: float, name: str, source: str) -> Hardware:
    """``base`` with every device throughput multiplied by ``factor`` (host work unchanged)."""
    mul = lambda d: {k: v * factor for k, v in d.items()}  # noqa: E731
    return replace(base, name=name, source=source, surrogate_fwd_224=mul(base.surrogate_fwd_224),
                   surrogate_fwdbwd_224=mul(base.surrogate_fwdbwd_224), attacker_train_32=mul(base.attacker_train_32),
                   em_train_32=base.em_train_32 * factor, em_delta_32=base.em_delta_32 * factor)


_T4 = replace(_host_work_of(_T4, _CPU), em_train_32=_T4.attacker_train_32["small-cnn"] / 4,
              em_delta_32=_T4.attacker_train_32["small-cnn"])  # assumption: the CPU's ratios to a training pass

#: Hardware the model knows. Only ``cpu`` is measured; the GPUs are stated assumptions.
HARDWARE: dict[str, Hardware] = {
    "cpu": _CPU,
    "t4": _T4,
    "a100": _scaled(_T4, 4.0, "NVIDIA A100 (bf16 autocast)",
                    "assumption, not measured here: the T4 figures × 4 (datasheet bandwidth ratio 6.4×, "
                    "discounted for small models); host work from the measured 2-core CPU"),
    "h100": _scaled(_T4, 6.0, "NVIDIA H100 (bf16 autocast)",
                    "assumption, not measured here: the T4 figures × 6 (datasheet bandwidth ratio 10.5×, "
                    "discounted for small models); host work from the measured 2-core CPU"),
}


def hardware_for(gpu: str | None) -> Hardware:
    """A :data:`HARDWARE` entry from a key (``t4``) or a device name as CUDA reports it (``Tesla T4``,
    ``NVIDIA A100-SXM4-40GB``, ``NVIDIA H200``); ``None`` / ``cpu``: the CPU. An unknown GPU gets the T4
    figures (the slowest GPU the model knows), with ``(unknown GPU: T4 figures)`` in its name."""
    if gpu is None:
        return HARDWARE["cpu"]
    key = str(gpu).lower()
    if key in HARDWARE:
        return HARDWARE[key]
    norm = key.replace(" ", "").replace("-", "")
    for tag, k in (("t4", "t4"), ("a100", "a100"), ("h100", "h100"), ("h200", "h100")):
        if tag in norm:
            return HARDWARE[k]
    return replace(HARDWARE["t4"], name=f"{gpu} (unknown GPU: T4 figures)")


def clip_expected(environ: dict | None = None) -> bool:
    """Whether notebook 02 can be expected to get its CLIP weights: not when ``HF_HUB_OFFLINE`` is set (tests,
    CI, ``make``), where it falls back to its offline surrogate (unless the weights happen to be cached)."""
    env = os.environ if environ is None else environ
    return str(env.get("HF_HUB_OFFLINE", "")).strip().lower() not in ("1", "true", "yes", "on")


def _family(surrogate: str) -> str:
    s = str(surrogate)
    if s.startswith("clip:RN50"):
        return "clip:RN50"
    if s.startswith("clip:"):
        return "clip:ViT-B-32"
    return "tiny" if s == "tiny" else "imagenet"


def _side(resolution: int | None, surrogate: str) -> int:
    """The side the surrogate sees: 224 for CLIP (fixed) or when no resolution is set."""
    return 224 if (resolution is None or str(surrogate).startswith("clip:")) else int(resolution)


def _per_image(hw: Hardware, table: dict, surrogate: str, side: int) -> float:
    """Seconds per image through the surrogate at ``side`` px: the 224-px cost × (side / 224) ** side_exponent,
    no lower than at ``hw.min_side``."""
    return (max(side, hw.min_side) / 224) ** hw.side_exponent / table[_family(surrogate)]


def _attack_runs_s(hw: Hardware, cfg: dict, runs: int, n_tr: int, n_te: int) -> float:
    """``runs`` attacker trainings of ``cfg['epochs']`` epochs over n_tr images, each epoch followed by a test
    pass over n_te images (a forward: a third of a training image's cost)."""
    rate = hw.attacker_train_32.get(cfg.get("model") or "small-cnn", min(hw.attacker_train_32.values()))
    per_run = (n_tr + n_te / 3) * int(cfg.get("epochs") or 10) / rate + hw.attacker_fixed_s
    return runs * per_run


def _kmeans_s(hw: Hardware, n: int, p: int, n_init: int = 10) -> float:
    return hw.kmeans_s_10k * (n / 10000) * (p / 10) * (n_init / 10)


def _tsne_s(hw: Hardware, n: int) -> float:
    """t-SNE of n points: a fixed cost plus the 10k cost scaled as N log N."""
    return hw.tsne_fixed_s + hw.tsne_s_10k * (n / 10000) * math.log(max(n, 2)) / math.log(10000)


def _craft_uc_s(hw: Hardware, cfg: dict, surrogate: str, p: int) -> float:
    """One UC crafting: steps × p × batch_per_cluster forward+backward passes at the crafting side."""
    side = _side(cfg.get("craft_resolution") or cfg.get("surrogate_resolution"), surrogate)
    images = int(cfg.get("steps") or 60) * p * int(cfg.get("batch_per_cluster") or 8)
    return images * _per_image(hw, hw.surrogate_fwdbwd_224, surrogate, side)


def _features_s(hw: Hardware, n: int, cfg: dict, surrogate: str) -> float:
    side = _side(cfg.get("surrogate_resolution"), surrogate)
    return n * _per_image(hw, hw.surrogate_fwd_224, surrogate, side)


def _surrogate_used(work: dict, clip: bool) -> str:
    """The surrogate the notebook ends up with: its ``fallback`` when a CLIP surrogate is not expected."""
    s = str(work.get("surrogate", "imagenet:efficientnet_lite0"))
    return work["fallback"] if (s.startswith("clip:") and not clip and work.get("fallback")) else s


def _protection_parts(hw: Hardware, cfg: dict, work: dict, surrogate: str, n_tr: int) -> dict[str, float]:
    """Features + one K-means per cluster method, UC steps per crafted method, quality of each protected set."""
    p, parts = int(work.get("p", 10)), {}
    clustered = cluster_methods(work)
    if clustered:
        parts["features"] = _features_s(hw, n_tr, cfg, surrogate)
        parts["kmeans"] = len(clustered) * _kmeans_s(hw, n_tr, p)
    crafted = crafted_methods(work)
    if crafted:
        parts["uc_steps"] = len(crafted) * _craft_uc_s(hw, cfg, surrogate, p)
    protected = [m for m in dict.fromkeys(work.get("methods", [])) if method_name(m) != "clean"]
    if protected:
        parts["quality"] = len(protected) * n_tr * hw.quality_ms_per_image / 1000
    return parts


def _countermeasure_parts(hw: Hardware, work: dict, n_tr: int, n_te: int) -> dict[str, float]:
    """Data-level countermeasures on every attacked set (train + test), and the survival table of notebook 05
    (each squeeze on the clean and the protected training images of every protected method)."""
    defenses = [d for d in work.get("defenses", ["none"]) if d != "none"]
    if not defenses:
        return {}
    methods = list(dict.fromkeys(work.get("methods", [])))
    protected = [m for m in methods if method_name(m) != "clean"]
    squeezes = list(dict.fromkeys([*SURVIVAL_SQUEEZES, *defenses]))
    images = len(defenses) * len(methods) * (n_tr + n_te) + 2 * len(squeezes) * len(protected) * n_tr
    return {"countermeasures": images * hw.jpeg_ms_per_image / 1000}


def _clustering_study_parts(hw: Hardware, cfg: dict, work: dict, surrogate: str, n_tr: int) -> dict[str, float]:
    """Notebook 02: features of its images (``images="training"``: the training images the later notebooks cluster;
    else ``n_features`` of them), K-means at ``p`` (n_init 10) and at each of ``p_values`` (n_init 3), the 2-d
    projection (of at most ``n_features`` points)."""
    shown = min(n_tr, int(cfg.get("n_features") or n_tr))
    images = work.get("images", "training")
    n = n_tr if images == "training" else shown if images == "n_features" else min(n_tr, int(images))
    p = int(work.get("p", 10))
    return {"features": _features_s(hw, n, cfg, surrogate),
            "kmeans": _kmeans_s(hw, n, p) + sum(_kmeans_s(hw, n, q, n_init=3) for q in work.get("p_values", [])),
            "projection": _tsne_s(hw, shown) if cfg.get("projection", "tsne") == "tsne" else 1.0}


def estimate_notebook(name: str, cfg: dict, hw: Hardware | str | None = "cpu", clip: bool | None = None,
                      **knobs) -> dict:
    """Seconds one notebook takes under the resolved settings ``cfg`` (a profile's values with the notebook's
    overrides: data, n_train, n_test, epochs, model, seeds, surrogate_resolution, craft_resolution, steps,
    batch_per_cluster, n_features, projection) and the notebook's own parameters ``knobs`` (methods, views,
    defenses, surrogate, p, …; defaults: its plan in :data:`ucs_lite.profiles.NOTEBOOK_WORK`). ``clip``:
    whether CLIP weights can be had (``None``: :func:`clip_expected`); without them notebook 02 is costed with
    its fallback surrogate, as it runs.

    Returns ``{"seconds": total, "parts": {what: seconds}, "hardware": name, "measured": bool, "surrogate"}``."""
    hw = hw if isinstance(hw, Hardware) else hardware_for(hw)
    if name not in NOTEBOOK_WORK:
        raise InputError(f"unknown notebook {name!r}: {', '.join(NOTEBOOK_WORK)}")
    work = {**NOTEBOOK_WORK[name], **{a: b for a, b in knobs.items() if b is not None}}
    surrogate = _surrogate_used(work, clip_expected() if clip is None else clip)
    n_tr, n_te = data_sizes(cfg)
    parts: dict[str, float] = {"startup": hw.startup_s, "data": hw.download_s.get(str(cfg.get("data")), 0.0)}
    if name == "02_clip_clustering":
        parts.update(_clustering_study_parts(hw, cfg, work, surrogate, n_tr))
    else:
        parts.update(_protection_parts(hw, cfg, work, surrogate, n_tr))
    probes = int(work.get("feature_probes", 0))  # sets of 300 protected images encoded (notebook 03)
    if probes:
        parts["features"] = parts.get("features", 0.0) + probes * _features_s(hw, min(n_tr, 300), cfg, surrogate)
    runs = attacker_runs(name, work, len(cfg.get("seeds") or [0]))
    if runs:
        parts["attacker"] = _attack_runs_s(hw, cfg, runs, n_tr, n_te)
    parts.update(_countermeasure_parts(hw, work, n_tr, n_te))
    return {"seconds": round(sum(parts.values()), 1), "parts": {a: round(b, 1) for a, b in parts.items()},
            "hardware": hw.name, "measured": hw.measured, "surrogate": surrogate, "attacker_runs": runs}


def estimate_profile(profile: str, gpu: str | None = "t4", clip: bool | None = None) -> dict:
    """:func:`estimate_notebook` for every notebook at its defaults under ``profile`` on ``gpu`` (a
    :data:`HARDWARE` key or a CUDA device name; ``cpu`` for the CPU). Returns a JSON-ready dict with
    ``seconds`` per notebook, the parts, the surrogate each is costed with, and where the throughputs come from."""
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    hw = hardware_for(gpu)
    res = {n: estimate_notebook(n, PROFILES[profile], hw, clip=clip) for n in NOTEBOOKS}
    return {"profile": profile, "hardware": hw.name, "measured": hw.measured, "source": hw.source,
            "seconds": {n: r["seconds"] for n, r in res.items()}, "parts": {n: r["parts"] for n, r in res.items()},
            "surrogate": {n: r["surrogate"] for n, r in res.items()},
            "attacker_runs": {n: r["attacker_runs"] for n, r in res.items()}}


def describe(est: dict) -> str:
    """One line for a notebook: ``estimated ~4.2 min on NVIDIA T4 (... assumption ...): attacker 180 s, ...``."""
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(est["parts"].items(), key=lambda kv: -kv[1]) if v >= 1)
    kind = "measured throughputs" if est["measured"] else "assumed throughputs, not measured"
    return f"estimated time for this notebook: ~{est['seconds'] / 60:.1f} min on {est['hardware']} ({kind}): {parts}"


def hardware_table() -> list[dict]:
    """Every :data:`HARDWARE` entry as a dict (for docs and the CLI)."""
    return [asdict(h) for h in HARDWARE.values()]


def measured_times(path: str | os.PathLike | None = None) -> dict | None:
    """The stored measured run (:data:`MEASURED_TIMES`), or ``None`` outside a checkout."""
    p = Path(path) if path else MEASURED_TIMES
    return json.loads(p.read_text()) if p.is_file() else None


#: (profile, hardware key, CLIP weights expected) of each column of :func:`markdown_table`.
TABLE_COLUMNS = (("gpu-class", "t4", True), ("gpu-class", "a100", True), ("gpu-paper", "t4", True),
                 ("gpu-paper", "a100", True), ("cpu-quick", "cpu", False))


def _seconds(s: float) -> str:
    return f"{s:,.0f}"


#: Plan keys a notebook gained after a stored measurement, with the value that reproduces what ran then (a stored
#: run's ``work`` does not name them): notebook 02 clustered ``n_features`` images before it clustered the training set.
LEGACY_PLAN: dict[str, dict] = {"02_clip_clustering": {"images": "n_features"}}


def stored_plan(name: str, run: dict) -> dict:
    """The plan a stored measured run of notebook ``name`` ran: its ``work``, with :data:`LEGACY_PLAN`'s values for
    the keys it does not name."""
    return {**LEGACY_PLAN.get(name, {}), **run.get("work", {})}


def _measured_cells(name: str, measured: dict) -> list[str]:
    """The measured columns of one notebook: its reference time (CPU or wall seconds) and the model's estimate
    for the plan that ran then (``work``) divided by it."""
    run = measured.get("notebooks", {}).get(name)
    if not run:
        return ["—", "—"]
    ref = measured.get("reference", "seconds")
    model = estimate_notebook(name, PROFILES[measured.get("profile", "cpu-quick")], "cpu", clip=False,
                              **stored_plan(name, run))["seconds"]
    return [_seconds(run[ref]), f"{model / run[ref]:.2f}"]


def markdown_table(measured: dict | None = None) -> str:
    """The estimates table of docs/gpu.md (seconds per notebook, one column per :data:`TABLE_COLUMNS` entry),
    with the measured ``cpu-quick`` run (:func:`measured_times`) beside the model when given: its reference time
    and the model's estimate for the plan that ran divided by it. GPU columns assume CLIP weights download
    (Colab); the ``cpu-quick`` column is costed offline (notebook 02 on its fallback surrogate), as CI runs it."""
    est = {(pr, hw): estimate_profile(pr, hw, clip=c)["seconds"] for pr, hw, c in TABLE_COLUMNS}
    head = [f"`{pr}` on {hw}" for pr, hw, _ in TABLE_COLUMNS]
    if measured:
        what = "CPU s" if measured.get("reference") == "cpu_seconds" else "s"
        head += [f"`cpu-quick` measured ({what}, {measured.get('commit', '?')})", "model / measured"]
    lines = ["| notebook | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for n in NOTEBOOKS:
        row = [_seconds(est[(pr, hw)][n]) for pr, hw, _ in TABLE_COLUMNS]
        if measured:
            row += _measured_cells(n, measured)
        lines.append(f"| `{n}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def hardware_markdown_table() -> str:
    """The throughputs table of docs/gpu.md (images/s) from :data:`HARDWARE`."""
    lines = ["| hardware | source | EfficientNet-Lite0 fwd / fwd+bwd | CLIP RN50 fwd / fwd+bwd | small CNN | "
             "ResNet-18 ¼ | ResNet-18 | min side | cost ∝ side^k |", "|---|---|---|---|---|---|---|---|---|"]
    def num(x: float) -> str:
        return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"

    for key, h in HARDWARE.items():
        src = "measured, calibrated" if h.measured else "**assumed**"
        f, b, a = h.surrogate_fwd_224, h.surrogate_fwdbwd_224, h.attacker_train_32
        lines.append(f"| `{key}` | {src} | {num(f['imagenet'])} / {num(b['imagenet'])} | "
                     f"{num(f['clip:RN50'])} / {num(b['clip:RN50'])} | {num(a['small-cnn'])} | "
                     f"{num(a['resnet18-quarter'])} | {num(a['resnet18'])} | {h.min_side} | {h.side_exponent:g} |")
    c = HARDWARE["cpu"]
    lines += ["", f"Host CPU work (all hardware): K-means {c.kmeans_s_10k:g} s at N = 10k, p = 10, n_init = 10; "
              f"t-SNE {c.tsne_fixed_s:g} s + {c.tsne_s_10k:g} s × (N log N at N = 10k); JPEG / grayscale {c.jpeg_ms_per_image:g} ms and PSNR + SSIM "
              f"{c.quality_ms_per_image:g} ms per 32-px image; start-up {c.startup_s:g} s per notebook on the CPU, "
              f"{HARDWARE['t4'].startup_s:g} s on a GPU; CIFAR-10 download {c.download_s['cifar10']:g} s (assumed)."]
    return "\n".join(lines)


def em_passes(n: int, rounds: int = 20, train_steps: int = 20, batch_size: int = 256,
              pgd_steps: int = 1) -> tuple[float, float]:
    """(model-training passes, δ passes) one error-minimising crafting of ``n`` images makes when it runs all
    ``rounds`` (:func:`ucs_lite.noise.em.craft_em`): per round ``train_steps`` batches train the model, then
    ``pgd_steps`` forward + backward passes over every image move δ and a forward pass (a third of one) checks it."""
    return rounds * train_steps * batch_size, rounds * n * (pgd_steps + 1 / 3)


def protection_seconds(n: int, hw: Hardware | str | None, surrogate: str, p: int, clusters: bool,
                       em: dict | None = None, uc: dict | None = None) -> dict:
    """Seconds of protecting ``n`` 32-px images on ``hw``: the surrogate's features and K-means when ``clusters``;
    crafting by error-minimising rounds when ``em`` gives their settings (rounds, train_steps, batch_size,
    pgd_steps; all rounds run, an early stop only shortens it) or by UC steps when ``uc`` gives theirs.
    Returns ``{"seconds", "parts", "hardware", "measured"}`` like :func:`estimate_notebook`; callers resolve a
    method's settings (:func:`ucs_lite.protect.estimate_protect`)."""
    hw = hw if isinstance(hw, Hardware) else hardware_for(hw)
    parts: dict[str, float] = {}
    if clusters:
        parts["features"] = _features_s(hw, n, {}, surrogate)
        parts["kmeans"] = _kmeans_s(hw, n, p)
    if em is not None:
        train, delta = em_passes(n, *(int(em[k]) for k in ("rounds", "train_steps", "batch_size", "pgd_steps")))
        parts["crafting"] = train / hw.em_train_32 + delta / hw.em_delta_32
    elif uc is not None:
        parts["crafting"] = _craft_uc_s(hw, uc, surrogate, p)
    return {"seconds": round(sum(parts.values()), 1), "parts": {a: round(b, 1) for a, b in parts.items()},
            "hardware": hw.name, "measured": hw.measured}
