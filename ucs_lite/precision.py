"""Which floating-point precision runs where — the one place that decides it for the surrogate, the UC steps
and the attacker.

CPU: float32 always. CUDA: autocast to bfloat16 where the GPU has fast bf16 kernels
(``torch.cuda.is_bf16_supported()``: Ampere and newer), else float16 with a gradient scaler (e.g. a T4).
Results made in different precisions differ, so caches key on :func:`precision_label`.

Gradient scaling is dynamic everywhere (:func:`grad_scaler`, torch's ``GradScaler``): a step whose gradients
are not finite is skipped and the scale halved (:func:`optimizer_step`), so one fp16 overflow never reaches the
parameters. The attacker starts at torch's default scale; UC crafting (:func:`uc_grad_scaler`) at
:data:`UC_INIT_SCALE`, since its losses are small (a KL divergence between softmaxes) and every skipped step is
a step of a short schedule lost. Where no scaler is needed (CPU, bf16) the scaler is disabled: ``scale`` returns
the loss itself and ``step`` is a plain optimiser step, so float32 results are bit-identical to unscaled code.
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast_dtype", "precision_label", "autocast", "grad_scaler", "uc_grad_scaler", "optimizer_step",
           "UC_INIT_SCALE"]

#: Initial loss scale of UC crafting under float16 (the static scale earlier versions used, now a starting point).
UC_INIT_SCALE = 1024.0


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


def grad_scaler(device: str | torch.device, init_scale: float | None = None) -> "torch.amp.GradScaler":
    """A gradient scaler, enabled only where autocast runs in float16 (bf16 and fp32 need none); ``init_scale``:
    its starting scale (``None``: torch's default, 2¹⁶)."""
    dev = torch.device(device)
    kw = {} if init_scale is None else {"init_scale": float(init_scale)}
    return torch.amp.GradScaler(dev.type if dev.type == "cuda" else "cpu",
                                enabled=autocast_dtype(dev) == torch.float16, **kw)


def uc_grad_scaler(device: str | torch.device) -> "torch.amp.GradScaler":
    """The scaler of UC crafting (``uc``, ``uc-robust``, ``uc-official``): :func:`grad_scaler` starting at
    :data:`UC_INIT_SCALE`."""
    return grad_scaler(device, init_scale=UC_INIT_SCALE)


def optimizer_step(scaler: "torch.amp.GradScaler", optimizer: torch.optim.Optimizer) -> bool:
    """Unscale, check and apply the gradients of ``optimizer``'s parameters (``scaler.step`` + ``update``).
    Returns False when the step was skipped because a gradient was inf or NaN (the scale is then halved)."""
    if not scaler.is_enabled():
        optimizer.step()
        return True
    before = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    return scaler.get_scale() >= before
