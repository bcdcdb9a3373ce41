"""The :class:`Perturbation` artefact shared by every method, and :func:`apply`."""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..data import DataError, atomic_write_bytes
from ..metrics import check_linf
from ..errors import InputError

__all__ = ["Perturbation", "apply", "eps_from_255", "resize_delta", "check_eps"]


def check_eps(eps: float) -> float:
    """Validate ε on the [0,1] scale (0 < ε ≤ 64/255); returns it as float."""
    eps = float(eps)
    if not 0 < eps <= 64 / 255 + 1e-9:
        raise InputError(f"ε = {eps * 255:.3g}/255 is out of range: use 0 < ε ≤ 64/255 (the paper uses 16/255)")
    return eps


def eps_from_255(eps255: float) -> float:
    """ε given on the 0–255 scale (e.g. 16) -> [0,1] scale, validated."""
    return check_eps(float(eps255) / 255.0)


@dataclass
class Perturbation:
    """Bounded noise per group and the group of every image.

    Attributes:
        delta: float32 G×3×h×w in [-ε, ε] (pixel space of [0,1] images); resized to each image on apply.
        assignment: int64 (N,) group index of each training image, in [0, G).
        method: method name (``uc``, ``random-class``, ...).
        eps: L∞ bound on the [0,1] scale.
        seed: the seed it was crafted with.
        surrogate: surrogate name, or "" for methods that use none.
        version: ucs_lite version that made it.
        meta: anything else (config, timings, cluster metrics, centroids for new images).
    """

    delta: np.ndarray
    assignment: np.ndarray
    method: str
    eps: float
    seed: int
    surrogate: str = ""
    version: str = __version__
    meta: dict = field(default_factory=dict)
    centroids: np.ndarray | None = None  # p×D raw-feature centroids (cluster methods): assigns new images

    def __post_init__(self) -> None:
        self.delta = np.asarray(self.delta, dtype=np.float32)
        self.assignment = np.asarray(self.assignment, dtype=np.int64)
        self.validate()

    @property
    def groups(self) -> int:
        return len(self.delta)

    def validate(self) -> None:
        """Check shapes, the ε bound and that the assignment indexes existing groups."""
        check_eps(self.eps)
        if self.delta.ndim != 4 or self.delta.shape[1] != 3:
            raise DataError(f"perturbation delta must be G×3×h×w, got {self.delta.shape}")
        if not np.isfinite(self.delta).all() or np.abs(self.delta).max(initial=0) > self.eps + 1e-6:
            raise DataError(f"perturbation delta exceeds ε = {self.eps:.5f} (max {np.abs(self.delta).max():.5f})")
        if self.assignment.ndim != 1 or (len(self.assignment) and
                                         (self.assignment.min() < 0 or self.assignment.max() >= self.groups)):
            raise DataError(f"assignment must be (N,) ints in [0, {self.groups})")

    def save(self, path: str | os.PathLike) -> Path:
        """Write as one ``.npz`` file, atomically (temporary name + rename). Returns the path."""
        path = Path(path)
        header = {"method": self.method, "eps": self.eps, "seed": self.seed, "surrogate": self.surrogate,
                  "version": self.version, "meta": self.meta}
        arrays = {"delta": self.delta, "assignment": self.assignment, "header": np.array(json.dumps(header))}
        if self.centroids is not None:
            arrays["centroids"] = np.asarray(self.centroids, np.float32)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Perturbation":
        """Read a file written by :meth:`save`; checks keys, ε bound and assignment."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
            header = json.loads(str(d["header"]))
            return cls(d["delta"], d["assignment"], header["method"], header["eps"], header["seed"],
                       header.get("surrogate", ""), header.get("version", "?"), header.get("meta", {}),
                       d.get("centroids"))
        except DataError as e:
            raise DataError(f"{path}: {e}") from None
        except Exception as e:
            raise DataError(f"{path}: not a ucs_lite perturbation file ({type(e).__name__}: {e})") from None


def resize_delta(delta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize G×3×h×w noise to G×3×H×W. Bilinear (a convex combination, so the ε bound holds);
    identity when the size already matches."""
    if tuple(delta.shape[-2:]) == tuple(size):
        return delta
    return F.interpolate(delta, size=size, mode="bilinear", align_corners=False)


def apply(images: np.ndarray, perturbation: Perturbation, assignment: np.ndarray | None = None,
          batch_size: int = 1024) -> np.ndarray:
    """Protected images: quantise(clip(x + δ[group], 0, 1)), uint8 N×H×W×3 like the input.

    ``assignment`` defaults to the perturbation's own (one group per training image). The result
    satisfies |protected − clean| ≤ ε·255 + 1 (checked).
    """
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(f"apply expects uint8 N×H×W×3 images, got {images.dtype} {images.shape}")
    a = perturbation.assignment if assignment is None else np.asarray(assignment, np.int64)
    if len(a) != len(images):
        raise DataError(f"the assignment covers {len(a)} images but {len(images)} were given")
    delta = resize_delta(torch.from_numpy(perturbation.delta), images.shape[1:3])
    out = np.empty_like(images)
    for s in range(0, len(images), batch_size):
        x = torch.from_numpy(images[s:s + batch_size]).permute(0, 3, 1, 2).float() / 255.0
        y = (x + delta[torch.from_numpy(a[s:s + batch_size])]).clamp_(0, 1).mul_(255).round_()
        out[s:s + batch_size] = y.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    check_linf(images, out, perturbation.eps)
    return out
