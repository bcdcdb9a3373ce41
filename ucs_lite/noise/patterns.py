"""Noise parametrisations shared by the methods: random patterns and learnable δ per group."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["random_patterns", "generator_patterns", "seeded_generator", "DeltaField", "ResnetGenerator", "GeneratorField", "FORMS",
           "PATTERN_FORMS"]

#: forms of a learnable δ (:class:`DeltaField`)
FORMS = ("pixel", "lowfreq")
#: forms of a random pattern (:func:`random_patterns`): those, ``generator`` (an untrained generator's output) and
#: the countermeasure-robust forms of :mod:`ucs_lite.noise.robust`
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
    ``split``: achromatic codes on the lowest DCT coefficients of JPEG's 8×8 blocks (:mod:`ucs_lite.noise.robust`;
    ``jpeg-mirror`` is ``jpeg-tile`` with tiles that are their own left-right flip, ``jpeg-mirror-distinct`` the
    same with the tiles chosen from 256 candidates to differ up to a shift; ``dist``, ``lowfreq_res`` and ``gray``
    do not apply).
    ``dist``: ``sign`` (every value ±ε: high energy) or ``uniform`` (U[-ε, ε]).
    ``gray``: the same value on the three channels (achromatic noise: survives grayscale conversion and
    JPEG's chroma subsampling).
    """
    if form not in PATTERN_FORMS:
        raise ValueError(f"unknown noise form {form!r}: {PATTERN_FORMS}")
    if form in ROBUST_FORMS:
        from . import robust

        if form in ("jpeg-mirror", "jpeg-mirror-distinct"):
            return robust.jpeg_tile_patterns(groups, tuple(size), eps, seed, mirror=True,
                                             distinct=256 if form == "jpeg-mirror-distinct" else 0)
        fn = {"jpeg-code": robust.jpeg_code_patterns, "jpeg-sign": robust.jpeg_sign_patterns,
              "jpeg-tile": robust.jpeg_tile_patterns,
              "gen-jpeg": robust.gen_jpeg_patterns,
              "split": robust.split_patterns}[form]
        return fn(groups, tuple(size), eps, seed)
    if form == "generator":
        if gray:
            raise ValueError("gray=True is not available with form='generator'")
        return generator_patterns(groups, size, eps, seed)
    g = torch.Generator().manual_seed(int(seed))
    h, w = (lowfreq_res, lowfreq_res) if form == "lowfreq" else size
    u = torch.rand(groups, 1 if gray else 3, h, w, generator=g) * 2 - 1
    u = u.expand(groups, 3, h, w) if gray else u
    z = torch.sign(u) if dist == "sign" else u
    if dist not in ("sign", "uniform"):
        raise ValueError(f"unknown noise distribution {dist!r}: sign or uniform")
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
            raise ValueError(f"unknown noise form {form!r}: {FORMS}")
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
            raise ValueError(f"generator noise size {size} must be divisible by 4")
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
