"""Profiles, data sizes and each notebook's work plan: the facts the notebooks, the demo and the time model
(:mod:`ucs_lite.estimate`) share, in one torch-free module (importing it costs nothing).

* :data:`PROFILES`: the values a notebook parameter left at ``None`` takes (``cpu-quick``, ``gpu-class``,
  ``gpu-paper``);
* :data:`DATA_SIZES`: train / test images of each named data source;
* :data:`NOTEBOOK_WORK`: each notebook's work-sizing parameters at their defaults (the methods it protects
  with, the label views and countermeasures it attacks under, the surrogate, ``p``);
* :func:`attacker_runs`, :func:`crafted_methods`, :func:`cluster_methods`: how many attacker runs and which
  crafted sets a notebook's plan makes (what :mod:`ucs_lite.estimate` multiplies throughputs by).

``tests/test_estimate.py`` checks :data:`NOTEBOOK_WORK` against the notebooks' parameters cells and
:data:`DATA_SIZES` against the embedded sample, so a notebook edit cannot drift from the time model silently.
"""
from __future__ import annotations

from .methods import METHOD_TABLE

__all__ = ["ATTACKERS", "NOTEBOOKS", "PROFILES", "DATA_SIZES", "NOTEBOOK_WORK", "CLUSTER_METHODS", "CRAFTED_METHODS",
           "NOT_PARAMETERS", "MULTI_SEED", "SURVIVAL_SQUEEZES", "data_sizes", "attacker_runs", "crafted_methods",
           "cluster_methods", "method_name"]

#: Attacker architectures :func:`ucs_lite.attack.evaluate` trains (a profile's ``model`` is one of them).
ATTACKERS = ("small-cnn", "resnet18", "resnet18-quarter", "vgg-small", "linear-probe")

NOTEBOOKS = ("00_quickstart", "01_label_consistency_failure", "02_clip_clustering", "03_crafting_cluster_noise",
             "04_label_agnostic_evaluation", "05_countermeasures")

#: Values a notebook parameter left at ``None`` takes, per profile.
PROFILES: dict[str, dict] = {
    "cpu-quick": {                   # the demo's choices too (ucs_lite.demo.DEMO reads them from here)
        "data": "sample",            # embedded 4,000 train / 1,000 test CIFAR-10 images
        "n_train": 4000, "n_test": 1000,
        "epochs": 12, "model": "small-cnn", "seeds": [0],
        "surrogate_resolution": 128,  # features at 128 px (3× cheaper than 224 px on a CPU)
        "craft_resolution": 64, "steps": 30, "batch_per_cluster": 4,
        "n_features": 1000, "projection": "tsne",
    },
    "gpu-class": {                   # a lesson: each notebook ≤ 10 min on a T4 (``ucs-lite estimate``)
        "data": "cifar10",           # torchvision download; class-balanced 10k / 2k subsets (below)
        "n_train": 10000, "n_test": 2000,
        # the configuration docs/results.md measured its effects at (10k / 2k CIFAR-10, small CNN, 12 epochs,
        # UC at 224 px with 60 steps × 8 images per cluster), so the notebooks' effects are meant to hold here
        "epochs": 12, "model": "small-cnn", "seeds": [0],
        "surrogate_resolution": None,  # the surrogate's own (224 px)
        "craft_resolution": None, "steps": 60, "batch_per_cluster": 8,
        "n_features": 10000, "projection": "tsne",
    },
    "gpu-paper": {                   # paper scale: hours on a T4 (notebook 04 ≈ 10 ResNet-18 runs of 40 epochs)
        "data": "cifar10",           # the full 50k / 10k CIFAR-10
        "n_train": None, "n_test": None,
        "epochs": 40, "model": "resnet18", "seeds": [0],
        "surrogate_resolution": None,
        "craft_resolution": None, "steps": 300, "batch_per_cluster": 32,
        "n_features": 10000, "projection": "tsne",
    },
}

#: Train / test images of each named data source (``ucs_lite/assets/cifar10_sample.npz`` is ``sample``;
#: ``shared`` is ../shared's 10k / 10k CIFAR-10; the torchvision sets are complete).
DATA_SIZES: dict[str, tuple[int, int]] = {"sample": (4000, 1000), "shared": (10000, 10000),
                                          "cifar10": (50000, 10000), "cifar100": (50000, 10000)}

#: Methods that cluster surrogate features with K-means before crafting (features cached per image set and
#: resolution; one K-means per crafted method) — read from the method table.
CLUSTER_METHODS = frozenset(m.name for m in METHOD_TABLE if m.clusters)
#: Methods whose δ is optimised through the surrogate (forward + backward per step) — read from the method table.
CRAFTED_METHODS = frozenset(m.name for m in METHOD_TABLE if m.crafted)

#: Each notebook's plan: its work-sizing parameters at their defaults (the names of its parameters cell), and what
#: it fixes in its code (:data:`NOT_PARAMETERS`). ``methods``: the method specs it protects the training images with
#: (``clean`` included when it trains a clean attacker); ``views`` (× ``defenses``): the label views each is attacked
#: under; ``crafts``: extra ``cache.craft`` calls (each its own K-means and UC steps); ``feature_probes``: sets of
#: 300 protected images whose surrogate features it compares.
NOTEBOOK_WORK: dict[str, dict] = {
    "00_quickstart": {"surrogate": "imagenet:efficientnet_lite0", "p": 10,
                      "methods": ["clean", "random-class@fine", "random-class@coarse", "gen-cluster", "uc"],
                      "views": ["fine"]},
    "01_label_consistency_failure": {"method": "random-class", "protector_views": ["fine", "coarse", "regroup:2:0"],
                                     "attacker_view": "fine"},
    "02_clip_clustering": {"surrogate": "imagenet:efficientnet_lite0", "fallback": "imagenet:efficientnet_lite0",
                           "p": 10, "p_values": [2, 5, 10, 20, 50], "images": "training"},
    "03_crafting_cluster_noise": {"surrogate": "imagenet:efficientnet_lite0", "p": 10,
                                  "methods": ["clean", "random-cluster", "uc", "gen-cluster"], "views": ["fine"],
                                  "crafts": ["uc"], "feature_probes": 4},
    "04_label_agnostic_evaluation": {"surrogate": "imagenet:efficientnet_lite0", "p": 10,
                                     "methods": ["clean", "random-class@fine", "random-class@coarse",
                                                 "gen-cluster", "uc"],
                                     "views": ["fine", "coarse"]},
    "05_countermeasures": {"surrogate": "imagenet:efficientnet_lite0", "p": 10,
                           "methods": ["clean", "random-class@fine", "gen-cluster", "jpeg-cluster"],
                           "defenses": ["none", "jpeg:10"], "views": ["fine"]},
}
#: Entries of NOTEBOOK_WORK that are not in a notebook's parameters cell (fixed in its code: 00's ``names``, 03's
#: ``families`` and its ``cache.craft("uc", ...)``; tests/test_estimate.py reads them from the notebooks' code).
NOT_PARAMETERS: dict[str, tuple[str, ...]] = {
    "00_quickstart": ("methods", "views"),
    "03_crafting_cluster_noise": ("methods", "views", "crafts", "feature_probes")}
#: Notebooks whose attacker runs repeat for every seed of the profile's ``seeds`` (the others take one ``seed``).
MULTI_SEED = ("04_label_agnostic_evaluation", "05_countermeasures")

#: The countermeasures notebook 05's survival table always shows (its ``defenses`` that squeeze data are added).
SURVIVAL_SQUEEZES: tuple[str, ...] = ("jpeg:10", "jpeg:30", "grayscale", "blur:1")
def method_name(spec: str) -> str:
    """``random-class@coarse`` -> ``random-class``."""
    return str(spec).partition("@")[0]


def data_sizes(cfg: dict) -> tuple[int, int]:
    """(train, test) images a notebook loads under resolved settings ``cfg`` (``data``, ``n_train``,
    ``n_test``): the data source's size, capped by the subset sizes. An unknown source (a path) counts as
    10k / 2k."""
    n_tr, n_te = DATA_SIZES.get(str(cfg.get("data")), (10000, 2000))
    if cfg.get("n_train"):
        n_tr = min(n_tr, int(cfg["n_train"]))
    if cfg.get("n_test"):
        n_te = min(n_te, int(cfg["n_test"]))
    return n_tr, n_te


def attacker_runs(name: str, work: dict, seeds: int = 1) -> int:
    """Attacker trainings notebook ``name`` runs under its plan ``work`` (a :data:`NOTEBOOK_WORK` entry,
    possibly with overrides) and ``seeds`` attacker seeds.

    00, 03, 04, 05: every method × view × defense (× seed in :data:`MULTI_SEED`). 01: one clean run per
    distinct view, then for each protector view its consistent run and, if different, the attacker-view run.
    02: none (no views)."""
    if name == "01_label_consistency_failure":
        pv, av = list(work["protector_views"]), work["attacker_view"]
        return len(dict.fromkeys(pv + [av])) + sum(len(dict.fromkeys([v, av])) for v in pv)
    if "methods" not in work:
        return 0
    per_seed = len(work["methods"]) * len(work.get("views", [])) * len(work.get("defenses", ["none"]))
    return per_seed * (int(seeds) if name in MULTI_SEED else 1)


def cluster_methods(work: dict) -> list[str]:
    """The clusterings a plan runs: one K-means per distinct cluster method it protects with, and one per extra
    ``crafts`` entry (surrogate features are cached, K-means is not)."""
    protected = dict.fromkeys(m for m in map(method_name, work.get("methods", [])) if m in CLUSTER_METHODS)
    return [*protected, *(m for m in work.get("crafts", []) if m in CLUSTER_METHODS)]


def crafted_methods(work: dict) -> list[str]:
    """The optimisations through the surrogate (UC steps) a plan runs: one per entry of :func:`cluster_methods`
    that is a :data:`CRAFTED_METHODS` method."""
    return [m for m in cluster_methods(work) if m in CRAFTED_METHODS]
