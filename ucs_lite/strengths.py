"""Photo strengths: how a cluster's δ looks on a photo in folder mode (``protect --input-dir --strength NAME``).

Torch-free, so that ``ucs-lite --help`` and argument errors answer without importing torch;
:mod:`ucs_lite.noise.photo` builds the patterns these describe.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import InputError, OptionError

__all__ = ["COLOURS", "Construction", "STRENGTHS", "DEFAULT_STRENGTH", "resolve_strength"]

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
            raise OptionError(f"unknown colour mode {self.colour!r}: {', '.join(COLOURS)}")
        if not 0 < self.eps255 <= 64:
            raise InputError(f"ε = {self.eps255}/255 is out of range: use 0 < ε ≤ 64")
        if self.cells < 1:
            raise InputError("cells must be ≥ 1")
        if self.mask_floor is not None and not 0 <= self.mask_floor <= 1:
            raise InputError("mask_floor must be in [0, 1]")

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
    """The :class:`Construction` of a strength name; a one-line :class:`~ucs_lite.errors.OptionError` naming the
    choices otherwise."""
    if name not in STRENGTHS:
        raise OptionError(f"unknown strength {name!r}; choose one of {', '.join(STRENGTHS)}")
    return STRENGTHS[name]
