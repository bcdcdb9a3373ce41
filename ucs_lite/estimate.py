"""How long each notebook takes: a time model (images × epochs × passes ÷ throughput) per notebook and profile.

``ucs-lite estimate --profile gpu-class --gpu t4`` prints seconds per notebook as JSON;
:func:`ucs_lite.notebooks.resolve` prints the running notebook's estimate before its expensive cells.

The model counts, per notebook, the images that go through each kind of work and divides by a throughput:

* surrogate features (forward) and UC steps (forward + backward to the input), at the surrogate's resolution;
* attacker training (n_train × epochs per run) and its test pass (n_test × epochs forwards);
* CPU work that runs on the host in every case: K-means, t-SNE, JPEG / grayscale countermeasures;
* fixed costs: imports and data loading (``cifar10``: a 170 MB torchvision download on a fresh runtime).

Where the numbers come from (:data:`HARDWARE`, every entry says so in its ``source``):

* ``cpu``: **measured** on this project's 2-core machine (``../shared/ENVIRONMENT.md``: images/s at 2 threads;
  ``docs/results.md``: attacker img/s, K-means 45 s at N = 10k). Colab's CPU runtime has 2 vCPUs of the same
  class; other CPUs scale roughly with their core count.
* ``t4``, ``a100``, ``h100``: **assumptions, not measured here** (no GPU was lent to this project's sessions):
  T4 figures are judgement calls for eager PyTorch under AMP, set against NVIDIA's T4 datasheet (65 TFLOPS
  fp16 tensor, 320 GB/s) at a low, small-model utilisation (ResNet-18 at 32 px, 2,500 img/s ≈ 4 TFLOPS
  effective); A100 and H100 are the T4 figures × 4 and × 6, below their datasheet bandwidth ratios (6.4× and
  10.5×: 2.0 and 3.35 TB/s) because small 32-px models do not fill a big GPU. Host-side work (K-means, t-SNE,
  JPEG) uses the measured 2-core CPU figures (Colab's GPU runtimes have 2 vCPUs). ``benchmarks/gpu_check.py``
  measures the real throughputs on any CUDA machine; put them in :data:`HARDWARE` when you have them.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

__all__ = ["Hardware", "HARDWARE", "NOTEBOOK_KNOBS", "DATA_SIZES", "estimate_notebook", "estimate_profile",
           "hardware_for", "describe"]


@dataclass(frozen=True)
class Hardware:
    """Throughputs (images per second unless stated) the time model divides by."""

    name: str
    source: str
    measured: bool
    #: surrogate forward / forward+backward-to-input at 224 px, per surrogate family
    surrogate_fwd_224: dict = field(default_factory=dict)
    surrogate_fwdbwd_224: dict = field(default_factory=dict)
    #: below this side the per-image cost stops falling with r² (kernel-launch / overhead bound)
    min_side: int = 32
    #: attacker training at 32 px (forward + backward + step, batch 128, crop+flip), per model
    attacker_train_32: dict = field(default_factory=dict)
    attacker_fixed_s: float = 2.0        # per attacker run: model build, data to device, first-batch warm-up
    kmeans_s_10k: float = 60.0           # K-means, N = 10k, p = 10, n_init = 10, ~1,280-d (host CPU; 45 s measured
    #                                      in docs/results.md on a shared machine, rounded up)
    tsne_s_10k: float = 180.0            # t-SNE (after PCA to 50-d), N = 10k (host CPU; an assumption, the one
    #                                      measurement here, 80 s at N = 1k, ran on a heavily shared machine)
    jpeg_ms_per_image: float = 0.3       # JPEG / grayscale / blur countermeasure, one 32-px image (host CPU)
    startup_s: float = 10.0              # imports, surrogate build
    download_s: dict = field(default_factory=lambda: {"cifar10": 40.0, "cifar100": 40.0})


_CPU = Hardware(
    name="cpu (2 cores)",
    source="measured: ../shared/ENVIRONMENT.md (2 threads, batch 32) and docs/results.md (attacker img/s, K-means)",
    measured=True,
    surrogate_fwd_224={"imagenet": 98.0, "clip:RN50": 10.0, "clip:ViT-B-32": 20.0, "tiny": 5000.0},
    surrogate_fwdbwd_224={"imagenet": 36.0, "clip:RN50": 6.0, "clip:ViT-B-32": 8.0, "tiny": 2000.0},
    min_side=32,
    attacker_train_32={"small-cnn": 800.0, "vgg-small": 211.0, "resnet18-quarter": 165.0, "resnet18": 38.0},
    attacker_fixed_s=1.0, startup_s=10.0,
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


def _scaled(base: Hardware, factor: float, name: str, source: str) -> Hardware:
    mul = lambda d: {k: v * factor for k, v in d.items()}  # noqa: E731
    return replace(base, name=name, source=source, surrogate_fwd_224=mul(base.surrogate_fwd_224),
                   surrogate_fwdbwd_224=mul(base.surrogate_fwdbwd_224), attacker_train_32=mul(base.attacker_train_32))


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

#: Train / test images of each named data source (n_train / n_test None = all of them).
DATA_SIZES = {"sample": (1000, 500), "shared": (10000, 10000), "cifar10": (50000, 10000), "cifar100": (50000, 10000)}

#: The notebook-level knobs that change how much work a notebook does, at their defaults in the notebooks'
#: parameters cells (tests/test_estimate.py checks they agree). Anything else comes from the profile.
NOTEBOOK_KNOBS: dict[str, dict] = {
    "00_quickstart": {"surrogate": "imagenet:efficientnet_lite0", "p": 10},
    "01_label_consistency_failure": {"protector_views": ["fine", "coarse", "regroup:2:0"], "attacker_view": "fine"},
    "02_clip_clustering": {"surrogate": "clip:RN50/openai", "p": 10, "p_values": [2, 5, 10, 20, 50]},
    "03_crafting_cluster_noise": {"surrogate": "imagenet:efficientnet_lite0", "p": 10},
    "04_label_agnostic_evaluation": {"surrogate": "imagenet:efficientnet_lite0", "p": 10,
                                     "methods": ["clean", "random-class@fine", "random-class@coarse",
                                                 "random-cluster", "uc"],
                                     "views": ["fine", "coarse"]},
    "05_countermeasures": {"surrogate": "imagenet:efficientnet_lite0", "p": 10,
                           "methods": ["clean", "random-class@fine", "uc", "uc-robust"],
                           "defenses": ["none", "jpeg:10", "grayscale"], "views": ["fine"]},
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


def _family(surrogate: str) -> str:
    s = str(surrogate)
    if s.startswith("clip:RN50"):
        return "clip:RN50"
    if s.startswith("clip:"):
        return "clip:ViT-B-32"
    return "tiny" if s == "tiny" else "imagenet"


def _side(resolution: int | None, surrogate: str) -> int:
    return 224 if (resolution is None or str(surrogate).startswith("clip:")) else int(resolution)


def _per_image(hw: Hardware, table: dict, surrogate: str, side: int) -> float:
    """Seconds per image through the surrogate at ``side`` px: the 224-px cost × (side / 224)², no lower than
    at ``hw.min_side``."""
    return (max(side, hw.min_side) / 224) ** 2 / table[_family(surrogate)]


def _sizes(cfg: dict) -> tuple[int, int]:
    n_tr, n_te = DATA_SIZES.get(str(cfg.get("data")), (10000, 2000))
    if cfg.get("n_train"):
        n_tr = min(n_tr, int(cfg["n_train"]))
    if cfg.get("n_test"):
        n_te = min(n_te, int(cfg["n_test"]))
    return n_tr, n_te


def _attack_runs_s(hw: Hardware, cfg: dict, runs: int, n_tr: int, n_te: int) -> float:
    rate = hw.attacker_train_32.get(cfg.get("model") or "small-cnn", min(hw.attacker_train_32.values()))
    per_run = (n_tr + n_te / 3) * int(cfg.get("epochs") or 10) / rate + hw.attacker_fixed_s
    return runs * per_run


def _kmeans_s(hw: Hardware, n: int, p: int, n_init: int = 10) -> float:
    return hw.kmeans_s_10k * (n / 10000) * (p / 10) * (n_init / 10)


def _tsne_s(hw: Hardware, n: int) -> float:
    return hw.tsne_s_10k * (n / 10000) * math.log(max(n, 2)) / math.log(10000)


def _craft_uc_s(hw: Hardware, cfg: dict, surrogate: str, p: int) -> float:
    side = _side(cfg.get("craft_resolution") or cfg.get("surrogate_resolution"), surrogate)
    images = int(cfg.get("steps") or 60) * p * int(cfg.get("batch_per_cluster") or 8)
    return images * _per_image(hw, hw.surrogate_fwdbwd_224, surrogate, side)


def _features_s(hw: Hardware, n: int, cfg: dict, surrogate: str) -> float:
    side = _side(cfg.get("surrogate_resolution"), surrogate)
    return n * _per_image(hw, hw.surrogate_fwd_224, surrogate, side)


def _uses_surrogate(method: str) -> bool:
    return method.split("@")[0] in ("uc", "uc-robust", "uc-official", "random-cluster")


def estimate_notebook(name: str, cfg: dict, hw: Hardware | str | None = "cpu", **knobs) -> dict:
    """Seconds one notebook takes under the resolved settings ``cfg`` (a profile's values with the notebook's
    overrides: data, n_train, n_test, epochs, model, seeds, surrogate_resolution, craft_resolution, steps,
    batch_per_cluster, n_features) and the notebook-level ``knobs`` (defaults: :data:`NOTEBOOK_KNOBS`).

    Returns ``{"seconds": total, "parts": {what: seconds}, "hardware": name, "measured": bool}``."""
    hw = hw if isinstance(hw, Hardware) else hardware_for(hw)
    if name not in NOTEBOOK_KNOBS:
        raise ValueError(f"unknown notebook {name!r}: {', '.join(NOTEBOOK_KNOBS)}")
    k = {**NOTEBOOK_KNOBS[name], **{a: b for a, b in knobs.items() if b is not None}}
    n_tr, n_te = _sizes(cfg)
    seeds = len(cfg.get("seeds") or [0])
    parts: dict[str, float] = {"startup": hw.startup_s,
                               "data": hw.download_s.get(str(cfg.get("data")), 0.0) + 2.0}
    surrogate, p = k.get("surrogate", "imagenet:efficientnet_lite0"), int(k.get("p", 10))
    if name in ("00_quickstart", "03_crafting_cluster_noise"):
        parts["features"] = _features_s(hw, n_tr, cfg, surrogate)
        parts["kmeans"] = _kmeans_s(hw, n_tr, p)
        parts["uc_steps"] = _craft_uc_s(hw, cfg, surrogate, p)
        if name == "00_quickstart":
            parts["attacker"] = _attack_runs_s(hw, cfg, 2, n_tr, n_te)
        else:  # features of the protected images for the feature-shift plot (a subset, cheap)
            parts["features"] += _features_s(hw, min(n_tr, 500), cfg, surrogate)
    elif name == "01_label_consistency_failure":
        pv, av = list(k["protector_views"]), k["attacker_view"]
        runs = len(dict.fromkeys(pv + [av])) + sum(len(dict.fromkeys([v, av])) for v in pv)
        parts["attacker"] = _attack_runs_s(hw, cfg, runs, n_tr, n_te)
    elif name == "02_clip_clustering":
        n = min(n_tr, int(cfg.get("n_features") or n_tr))
        parts["features"] = _features_s(hw, n, cfg, surrogate)
        parts["kmeans"] = _kmeans_s(hw, n, p) + sum(_kmeans_s(hw, n, q, n_init=3) for q in k["p_values"])
        parts["projection"] = _tsne_s(hw, n) if cfg.get("projection", "tsne") == "tsne" else 1.0
    elif name in ("04_label_agnostic_evaluation", "05_countermeasures"):
        methods = list(k["methods"])
        defenses = list(k.get("defenses", ["none"]))
        if any(_uses_surrogate(m) for m in methods):
            parts["features"] = _features_s(hw, n_tr, cfg, surrogate)
            parts["kmeans"] = _kmeans_s(hw, n_tr, p)
        crafted = sum(1 for m in methods if m.split("@")[0] in ("uc", "uc-robust"))
        parts["uc_steps"] = crafted * _craft_uc_s(hw, cfg, surrogate, p)
        runs = len(methods) * len(k["views"]) * len(defenses) * seeds
        parts["attacker"] = _attack_runs_s(hw, cfg, runs, n_tr, n_te)
        squeezes = sum(1 for d in defenses if d != "none")
        if squeezes:  # countermeasures applied to train + test of every method, plus notebook 05's survival table
            parts["countermeasures"] = (squeezes * len(methods) + 4 * len(methods)) * (n_tr + n_te) \
                * hw.jpeg_ms_per_image / 1000
    return {"seconds": round(sum(parts.values()), 1), "parts": {a: round(b, 1) for a, b in parts.items()},
            "hardware": hw.name, "measured": hw.measured}


def estimate_profile(profile: str, gpu: str | None = "t4") -> dict:
    """:func:`estimate_notebook` for every notebook at its defaults under ``profile`` on ``gpu`` (a
    :data:`HARDWARE` key or a CUDA device name; ``cpu`` for the CPU). Returns a JSON-ready dict with
    ``seconds`` per notebook, the parts, and where the throughputs come from."""
    from .notebooks import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    hw = hardware_for(gpu)
    res = {n: estimate_notebook(n, PROFILES[profile], hw) for n in NOTEBOOK_KNOBS}
    return {"profile": profile, "hardware": hw.name, "measured": hw.measured, "source": hw.source,
            "seconds": {n: r["seconds"] for n, r in res.items()}, "parts": {n: r["parts"] for n, r in res.items()}}


def describe(est: dict) -> str:
    """One line for a notebook: ``estimated ~4.2 min on NVIDIA T4 (... assumption ...): attacker 180 s, ...``."""
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(est["parts"].items(), key=lambda kv: -kv[1]) if v >= 1)
    kind = "measured throughputs" if est["measured"] else "assumed throughputs, not measured"
    return f"estimated time for this notebook: ~{est['seconds'] / 60:.1f} min on {est['hardware']} ({kind}): {parts}"


def hardware_table() -> list[dict]:
    """Every :data:`HARDWARE` entry as a dict (for docs and the CLI)."""
    return [asdict(h) for h in HARDWARE.values()]
