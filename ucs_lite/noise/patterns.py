"""Pattern families and the methods that add one fixed pattern per group: random patterns, an untrained generator's
output, the JPEG-grid forms (:mod:`ucs_lite.noise.jpeg_grid`), learnable δ per group (what ``uc`` optimises), and
``random-class`` / ``random-cluster`` / ``gen-cluster`` / ``jpeg-cluster`` (:func:`craft_random_class`,
:func:`craft_random_cluster`).

``random-class`` with ``form="lowfreq"`` is the classic synthetic-shortcut baseline (Yu et al., KDD 2022);
``random-cluster`` is UC's ablation: clusters without UC's optimisation.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import jpeg_grid
from .base import Perturbation, check_eps
from .jpeg_grid import JPEG_KEEP, achromatic, fill_eps, grid_shape, jpeg_code_patterns, jpeg_lowpass, luma
from ..errors import InputError

if TYPE_CHECKING:
    from ..cluster import Clustering

__all__ = ["random_patterns", "generator_patterns", "seeded_generator", "DeltaField", "ResnetGenerator", "GeneratorField", "FORMS",
           "PATTERN_FORMS", "gen_jpeg_patterns", "split_patterns", "craft_random_class", "craft_random_cluster"]

#: forms of a learnable δ (:class:`DeltaField`)
FORMS = ("pixel", "lowfreq")
#: forms of a random pattern (:func:`random_patterns`): those, ``generator`` (an untrained generator's output) and
#: the countermeasure-robust forms of :mod:`ucs_lite.noise.jpeg_grid` (and :func:`gen_jpeg_patterns`, :func:`split_patterns`)
ROBUST_FORMS = ("jpeg-code", "jpeg-sign", "jpeg-tile", "jpeg-mirror", "jpeg-mirror-distinct", "gen-jpeg", "split")
PATTERN_FORMS = FORMS + ("generator",) + ROBUST_FORMS


def _upsample_nearest(z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(z, size=size, mode="nearest")


def random_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, form: str = "lowfreq",
                    dist: str = "sign", lowfreq_res: int = 8, gray: bool = False) -> np.ndarray:
    """One random pattern per group: float32 G×3×H×W within ±ε.

    ``form``: ``pixel`` (independent pixels), ``lowfreq`` (``lowfreq_res``² values upsampled to blocks) or
    ``generator`` (:func:`generator_patterns`: an untrained image generator's clamped output).
    ``jpeg-code`` / ``jpeg-sign`` / ``jpeg-tile`` / ``jpeg-mirror`` / ``jpeg-mirror-distinct`` / ``gen-jpeg`` /
    ``split``: achromatic codes on the lowest DCT coefficients of JPEG's 8×8 blocks (:mod:`ucs_lite.noise.jpeg_grid`;
    ``jpeg-mirror`` is ``jpeg-tile`` with tiles that are their own left-right flip, ``jpeg-mirror-distinct`` the
    same with the tiles chosen from 256 candidates to differ up to a shift; ``dist``, ``lowfreq_res`` and ``gray``
    do not apply).
    ``dist``: ``sign`` (every value ±ε: high energy) or ``uniform`` (U[-ε, ε]).
    ``gray``: the same value on the three channels (achromatic noise: survives grayscale conversion and
    JPEG's chroma subsampling).
    """
    if form not in PATTERN_FORMS:
        raise InputError(f"unknown noise form {form!r}: {PATTERN_FORMS}")
    if form in ROBUST_FORMS:
        if form in ("jpeg-mirror", "jpeg-mirror-distinct"):
            return jpeg_grid.jpeg_tile_patterns(groups, tuple(size), eps, seed, mirror=True,
                                                distinct=256 if form == "jpeg-mirror-distinct" else 0)
        fn = {"jpeg-code": jpeg_grid.jpeg_code_patterns, "jpeg-sign": jpeg_grid.jpeg_sign_patterns,
              "jpeg-tile": jpeg_grid.jpeg_tile_patterns, "gen-jpeg": gen_jpeg_patterns,
              "split": split_patterns}[form]
        return fn(groups, tuple(size), eps, seed)
    if form == "generator":
        if gray:
            raise InputError("gray=True is not available with form='generator'")
        return generator_patterns(groups, size, eps, seed)
    g = torch.Generator().manual_seed(int(seed))
    h, w = (lowfreq_res, lowfreq_res) if form == "lowfreq" else size
    u = torch.rand(groups, 1 if gray else 3, h, w, generator=g) * 2 - 1
    u = u.expand(groups, 3, h, w) if gray else u
    z = torch.sign(u) if dist == "sign" else u
    if dist not in ("sign", "uniform"):
        raise InputError(f"unknown noise distribution {dist!r}: sign or uniform")
    return (_upsample_nearest(z, size) * eps).numpy().astype(np.float32)


def seeded_generator(k: int, seed: int, noise_size: int, eps: float, ngf: int = 64, n_blocks: int = 6) -> "GeneratorField":
    """Group ``k``'s generator (one :class:`GeneratorField` of a single group, seed ``seed·1000 + k``), built under a
    forked RNG so that building it leaves the global torch RNG untouched: the one construction shared by
    :func:`ucs_lite.noise.uc.craft_uc_official` and :func:`generator_patterns`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1000 + k)
        return GeneratorField(1, (noise_size, noise_size), eps, seed * 1000 + k, ngf=ngf, n_blocks=n_blocks)


def generator_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, noise_size: int = 224,
                       ngf: int = 64, n_blocks: int = 6) -> np.ndarray:
    """One pattern per group from an **untrained** ResNet generator (the architecture of UC's authors):
    δ_k = clamp(G_k(z_k), ±ε) at ``noise_size``², resized bilinearly to ``size``; float32 G×3×H×W within ±ε.

    Generator k is built exactly as :func:`ucs_lite.noise.uc.craft_uc_official` builds its k-th generator
    (seed ``seed·1000 + k``), so this is that schedule's δ with 0 training epochs. Most values sit at ±ε
    (the tanh output is clamped, not scaled) in a fine, image-sized texture — a stronger shortcut per cluster
    than 4-px blocks in the granularity study (docs/results.md "Many classes")."""
    out = []
    for k in range(groups):
        gen = seeded_generator(k, seed, noise_size, eps, ngf=ngf, n_blocks=n_blocks)
        with torch.no_grad():
            out.append(gen().clamp(-eps, eps))
    delta = torch.cat(out)
    if tuple(delta.shape[-2:]) != tuple(size):
        delta = F.interpolate(delta, size=tuple(size), mode="bilinear", align_corners=False)
    return delta.numpy().astype(np.float32)


class DeltaField(nn.Module):
    """Learnable δ for G groups: ε·tanh(w), with w at full size (``pixel``) or at ``lowfreq_res``² and
    upsampled to blocks (``lowfreq``). Initialised from a random sign pattern (ε·tanh(±2) ≈ ±0.96ε),
    so zero optimisation steps give exactly a random structured pattern per group."""

    def __init__(self, groups: int, size: tuple[int, int], eps: float, seed: int, form: str = "lowfreq",
                 lowfreq_res: int = 8, gray: bool = False) -> None:
        super().__init__()
        if form not in FORMS:
            raise InputError(f"unknown noise form {form!r}: {FORMS}")
        self.size, self.eps, self.form = tuple(size), eps, form
        init = random_patterns(groups, size if form == "pixel" else (lowfreq_res, lowfreq_res), 1.0, seed,
                               form="pixel", dist="sign", gray=gray)
        self.gray = gray
        self.w = nn.Parameter(torch.from_numpy(init[:, :1] if gray else init) * 2.0)

    def forward(self) -> torch.Tensor:
        """δ: G×3×H×W within ±ε."""
        d = self.eps * torch.tanh(self.w)
        d = d.expand(-1, 3, -1, -1) if self.gray else d
        return d if self.form == "pixel" else _upsample_nearest(d, self.size)


class _ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.BatchNorm2d(c), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image-to-image ResNet generator (the architecture family UC's authors use): 7×7 stem, two stride-2
    downsamplings, ``n_blocks`` residual blocks, two transposed-conv upsamplings, 7×7 head, tanh.
    Input and output 1×3×H×W with H, W divisible by 4; output in [-1, 1]."""

    def __init__(self, ngf: int = 64, n_blocks: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.BatchNorm2d(ngf), nn.ReLU(True)]
        c = ngf
        for _ in range(2):
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.BatchNorm2d(2 * c), nn.ReLU(True)]
            c *= 2
        layers += [_ResBlock(c) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class GeneratorField(nn.Module):
    """G generators, each mapping its own fixed uniform seed image to δ_k = clamp(G_k(z_k), −ε, ε) (the
    authors clamp the tanh output rather than scaling it, which leaves most pixels saturated at ±ε)."""

    def __init__(self, groups: int, size: tuple[int, int], eps: float, seed: int, ngf: int = 64,
                 n_blocks: int = 6) -> None:
        super().__init__()
        if size[0] % 4 or size[1] % 4:
            raise InputError(f"generator noise size {size} must be divisible by 4")
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("seeds", torch.rand(groups, 1, 3, *size, generator=g))
        with torch.random.fork_rng():
            torch.manual_seed(int(seed))
            self.gens = nn.ModuleList(ResnetGenerator(ngf, n_blocks) for _ in range(groups))
        self.eps, self.size = eps, tuple(size)

    def delta_of(self, k: int) -> torch.Tensor:
        """δ_k: 1×3×H×W within ±ε."""
        return self.gens[k](self.seeds[k]).clamp(-self.eps, self.eps)

    def forward(self) -> torch.Tensor:
        """δ for all groups: G×3×H×W within ±ε."""
        return torch.cat([self.delta_of(k) for k in range(len(self.gens))])


def gen_jpeg_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, keep: int = JPEG_KEEP,
                      quantile: float = 0.95) -> np.ndarray:
    """The untrained-generator pattern of each group (:func:`generator_patterns`, what
    ``gen-cluster`` adds) reduced to what JPEG-10 and grayscale keep: its luminance, projected onto the first
    ``keep`` zigzag DCT coefficients of each 8×8 block, rescaled with :func:`fill_eps`. G×3×H×W within ±ε."""
    h, w = grid_shape(size)
    y = luma(generator_patterns(groups, (h, w), eps, seed))
    return achromatic(fill_eps(jpeg_lowpass(y, keep), eps, quantile), size)


def split_patterns(groups: int, size: tuple[int, int], eps: float, seed: int, share: float = 0.5,
                   keep: int = JPEG_KEEP) -> np.ndarray:
    """A split budget: ``share``·ε of a JPEG-robust code (:func:`jpeg_code_patterns`, seed + 1) plus
    (1 − share)·ε of the generator pattern, so each countermeasure removes only one part. G×3×H×W within ±ε."""
    if not 0 < share < 1:
        raise InputError(f"share must be in (0, 1), got {share}")
    robust = jpeg_code_patterns(groups, size, share * eps, seed + 1, keep)
    gen = generator_patterns(groups, tuple(size), eps, seed) * (1 - share)
    return np.clip(robust + gen, -eps, eps).astype(np.float32)




def craft_random_class(labels: np.ndarray, size: tuple[int, int], eps: float = 16 / 255, seed: int = 0,
                       form: str = "lowfreq", dist: str = "sign", lowfreq_res: int = 8, gray: bool = False,
                       label_view: str = "fine") -> Perturbation:
    """One random pattern (G×3×H×W, ±ε) per class of ``labels`` (N,), which are the protector's labels.
    ``form``, ``dist``, ``lowfreq_res``, ``gray``: see :func:`random_patterns`."""
    eps = check_eps(eps)
    t0 = time.time()
    k = int(labels.max()) + 1
    delta = random_patterns(k, size, eps, seed, form=form, dist=dist, lowfreq_res=lowfreq_res, gray=gray)
    meta = {"form": form, "dist": dist, "lowfreq_res": lowfreq_res, "gray": gray, "labels": label_view,
            "seconds": time.time() - t0}
    return Perturbation(delta, labels, "random-class", eps, seed, meta=meta)


def craft_random_cluster(clustering: Clustering, size: tuple[int, int], eps: float = 16 / 255, seed: int = 0,
                         form: str = "lowfreq", dist: str = "sign", lowfreq_res: int = 8, gray: bool = False,
                         surrogate: str = "") -> Perturbation:
    """One random pattern per K-means cluster (no labels, no optimisation); options as
    :func:`craft_random_class`."""
    eps = check_eps(eps)
    delta = random_patterns(clustering.p, size, eps, seed, form=form, dist=dist, lowfreq_res=lowfreq_res, gray=gray)
    meta = {"form": form, "dist": dist, "lowfreq_res": lowfreq_res, "gray": gray, "p": clustering.p,
            "feature_mode": clustering.mode, "cluster_sizes": np.bincount(clustering.labels, minlength=clustering.p).tolist()}
    return Perturbation(delta, clustering.labels, "random-cluster", eps, seed, surrogate, meta=meta,
                        centroids=clustering.centroids)
