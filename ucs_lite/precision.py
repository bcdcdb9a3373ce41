"""Which floating-point precision runs where — the one place that decides it for the surrogate, the UC steps
and the attacker.

CPU: float32 always. CUDA: autocast to bfloat16 where the GPU has fast bf16 kernels
(``torch.cuda.is_bf16_supported()``: Ampere and newer), else float16 with a gradient scaler (e.g. a T4).
Results made in different precisions differ, so caches key on :func:`precision_label`.
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast_dtype", "precision_label", "autocast", "grad_scaler"]


def autocast_dtype(device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device`` (``None``: run in float32, e.g. on a CPU)."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def precision_label(device: str | torch.device) -> str:
    """A short label such as ``cpu``, ``cuda-bfloat16`` or ``cuda-float16`` (what cache keys record)."""
    dev = torch.device(device)
    dt = autocast_dtype(dev)
    return dev.type if dt is None else f"{dev.type}-{str(dt).removeprefix('torch.')}"


def autocast(device: str | torch.device) -> contextlib.AbstractContextManager:
    """Context manager running the enclosed forward passes in :func:`autocast_dtype` (a no-op in float32)."""
    dev = torch.device(device)
    dt = autocast_dtype(dev)
    if dt is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=dt)


def grad_scaler(device: str | torch.device) -> "torch.amp.GradScaler":
    """A gradient scaler, enabled only where autocast runs in float16 (bf16 and fp32 need none)."""
    dev = torch.device(device)
    return torch.amp.GradScaler(dev.type if dev.type == "cuda" else "cpu",
                                enabled=autocast_dtype(dev) == torch.float16)
