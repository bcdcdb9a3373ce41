"""Classifiers trained from scratch by the attacker (and by EM's inner loop). Input: normalised N×3×H×W."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import InputError

__all__ = ["SmallCNN", "ResNet18", "VGGSmall", "build_model", "MODELS"]


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """4 conv-BN-ReLU layers (24-48-96-192 × ``width``), max-pool after the first three, global average
    pool, linear head. 0.22M parameters at width 1; ~1,000 training images/s at 32 px on 2 CPU cores."""

    def __init__(self, n_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = [max(8, int(round(w * width))) for w in (24, 48, 96, 192)]
        self.features = nn.Sequential(_conv_bn(3, c[0]), nn.MaxPool2d(2), _conv_bn(c[0], c[1]), nn.MaxPool2d(2),
                                      _conv_bn(c[1], c[2]), nn.MaxPool2d(2), _conv_bn(c[2], c[3]))
        self.head = nn.Linear(c[3], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class VGGSmall(nn.Module):
    """A VGG-style net: three blocks of two conv-BN-ReLU (32, 64, 128 × ``width``) with max-pool, GAP, linear."""

    def __init__(self, n_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = [int(w * width) for w in (32, 64, 128)]
        layers, cin = [], 3
        for co in c:
            layers += [_conv_bn(cin, co), _conv_bn(co, co), nn.MaxPool2d(2)]
            cin = co
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(out)) + self.short(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3×3 stem, no max-pool; 11.2M parameters at width 1)."""

    def __init__(self, n_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = [int(w * width) for w in (64, 128, 256, 512)]
        self.stem = nn.Sequential(nn.Conv2d(3, c[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
        layers, cin = [], c[0]
        for i, co in enumerate(c):
            layers += [_Block(cin, co, 1 if i == 0 else 2), _Block(co, co, 1)]
            cin = co
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


MODELS = {"small-cnn": lambda n: SmallCNN(n), "resnet18": lambda n: ResNet18(n),
          "resnet18-quarter": lambda n: ResNet18(n, width=0.25), "vgg-small": lambda n: VGGSmall(n)}


def build_model(name: str, n_classes: int) -> nn.Module:
    """A fresh model by name: ``small-cnn`` (CPU default), ``resnet18`` (GPU profile), ``resnet18-quarter``,
    ``vgg-small``."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} or linear-probe")
    return MODELS[name](n_classes)
