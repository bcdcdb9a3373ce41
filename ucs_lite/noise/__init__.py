"""Noise methods. Each returns a :class:`Perturbation`; :func:`apply` turns it into protected images.

| method | needs labels | groups | module |
|---|---|---|---|
| ``gen-cluster`` (**the default**: an untrained generator's pattern per K-means cluster) | no | clusters | :mod:`.random` |
| ``uc`` (Unlearnable Clusters, our fast configuration: 4-px-block δ optimised in feature space) | no | K-means clusters | :mod:`.uc` |
| ``uc-robust`` (UC with achromatic δ in 2-px blocks: survives grayscale and JPEG chroma subsampling) | no | clusters | :mod:`.uc` |
| ``jpeg-cluster`` (one achromatic, mirror-symmetric 8×8 tile of slow DCT waves per cluster on JPEG's grid: survives JPEG and grayscale; weaker than ``gen-cluster`` without a countermeasure; docs/countermeasures.md) | no | clusters | :mod:`.random`, :mod:`.robust` |
| ``eot-cluster`` (class-wise error-minimising noise on the K-means clusters, crafted through a differentiable JPEG 10 / grayscale; docs/countermeasures.md) | no | clusters | :mod:`.em`, :mod:`ucs_lite.defenses` |
| ``uc-official`` (the authors' schedule: generators, all images, 224 px) | no | clusters | :mod:`.uc` |
| ``random-cluster`` (one random pattern per cluster; the ablation) | no | clusters | :mod:`.random` |
| ``random-multi`` (random patterns of K-means clusters at several p, composed in one δ) | no | code tuples | :mod:`.multi` |
| ``random-class`` (one random pattern per protector class) | yes | classes | :mod:`.random` |
| ``em-class`` / ``em-sample`` (error-minimising, Huang et al. 2021) | yes | classes / images | :mod:`.em` |
"""
from __future__ import annotations

from .base import Perturbation, apply, eps_from_255, resize_delta
from .registry import DEFAULT_METHOD, METHODS, craft, needs_labels

__all__ = ["Perturbation", "apply", "craft", "METHODS", "DEFAULT_METHOD", "needs_labels", "eps_from_255", "resize_delta"]
