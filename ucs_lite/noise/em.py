"""Error-minimising noise (Huang et al., ICLR 2021): bilevel min-min with a small model trained on the
protector's labels. ``class`` mode: one δ per class; ``sample`` mode: one δ per image."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..defenses import differentiable_defense, random_crop_flip
from ..models import build_model
from ..precision import autocast, grad_scaler, optimizer_step, precision_label
from .base import Perturbation, check_eps
from ..errors import InputError

__all__ = ["craft_em"]

_MEAN, _STD = 0.5, 0.25


def craft_em(images: np.ndarray, labels: np.ndarray, eps: float = 16 / 255, seed: int = 0, mode: str = "class",
             rounds: int = 8, train_steps: int = 20, pgd_steps: int = 5, batch_size: int = 256,
             stop_acc: float = 0.99, model: str = "small-cnn", device: str | torch.device = "cpu",
             label_view: str = "fine", through: str = "", augment: bool = False,
             progress: bool = True) -> Perturbation:
    """Error-minimising noise.

    Each round: ``train_steps`` SGD steps of the model on x + δ, then ``pgd_steps`` signed-gradient
    steps (size ε/10... at least ε/4 per round budget) *minimising* the loss w.r.t. δ over every image;
    stops early once the model's accuracy on x + δ reaches ``stop_acc`` (above 1: never, all ``rounds`` run).
    images: uint8 N×H×W×3; labels: (N,) protector labels. Returns δ (K×3×H×W for class mode,
    N×3×H×W for sample mode) and the assignment.

    ``through`` (e.g. ``"jpeg:10,grayscale,grayscale+jpeg:10"``): crafting through countermeasures (expectation
    over transformations) — every batch, of the model's steps and of δ's, goes through one of ``none`` and the
    listed countermeasures (drawn uniformly from ``seed``'s generator, in their differentiable forms,
    :func:`ucs_lite.defenses.differentiable_defense`), so δ is chosen for what survives them. Empty: plain EM.
    ``augment``: after the countermeasure, every batch also gets the attacker's random crop + flip
    (:func:`ucs_lite.defenses.random_crop_flip`), so δ is chosen for what survives the attacker's augmentation.

    On CUDA the model runs under :mod:`ucs_lite.precision`'s autocast (bf16, or fp16 with a gradient scaler whose
    scale also multiplies δ's loss, which leaves the sign step unchanged); the countermeasures (8-bit rounding,
    JPEG's quantisation) stay in float32. On a CPU everything is float32, as before.
    """
    eps = check_eps(eps)
    if mode not in ("class", "sample"):
        raise InputError("EM mode must be 'class' or 'sample'")
    views = [differentiable_defense(s) for s in ("none", *[t for t in through.split(",") if t.strip()])]
    t0 = time.time()
    dev = torch.device(device)
    n, h, w = images.shape[:3]
    k = int(labels.max()) + 1
    g = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    y_all = torch.from_numpy(labels.astype(np.int64))
    groups = k if mode == "class" else n
    assign = y_all if mode == "class" else torch.arange(n)
    delta = (torch.rand(groups, 3, h, w, generator=g) * 2 - 1) * eps
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(model, k).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    scaler = grad_scaler(dev)  # enabled only under fp16 autocast

    def logits(xb: torch.Tensor) -> torch.Tensor:
        """The model's float32 logits of countermeasured [0,1] images (its forward under autocast on CUDA)."""
        with autocast(dev):
            return net((xb.float() - _MEAN) / _STD).float()
    alpha = eps / 10 if pgd_steps >= 10 else eps / 4

    def view() -> Callable[[torch.Tensor], torch.Tensor]:
        """The countermeasure this batch goes through (no draw, so plain EM's random stream is unchanged,
        when there is only ``none``)."""
        cm = views[int(torch.randint(0, len(views), (1,), generator=g))] if len(views) > 1 else views[0]
        return (lambda t: random_crop_flip(cm(t), g)) if augment else cm

    acc, history = 0.0, []
    for r in tqdm(range(rounds), desc=f"EM-{mode}", disable=not progress):
        net.train()
        for _ in range(train_steps):
            idx = torch.randint(0, n, (batch_size,), generator=g)
            xb = view()((x_all[idx] + delta[assign[idx]]).clamp(0, 1).to(dev))
            loss = F.cross_entropy(logits(xb), y_all[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            optimizer_step(scaler, opt)
        net.eval()
        correct = 0
        order = torch.randperm(n, generator=g)
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            xb, yb = x_all[idx].to(dev), y_all[idx].to(dev)
            gi = assign[idx]
            d = delta[gi].clone().to(dev).requires_grad_(True) if mode == "sample" else None
            cm = view()
            for _ in range(pgd_steps):
                dd = d if mode == "sample" else delta.to(dev).requires_grad_(True)
                db = dd if mode == "sample" else dd[gi.to(dev)]
                loss = F.cross_entropy(logits(cm((xb + db).clamp(0, 1))), yb)
                grad, = torch.autograd.grad(scaler.scale(loss), dd)  # a positive scale keeps the sign
                with torch.no_grad():
                    if mode == "sample":
                        d = (d - alpha * grad.sign()).clamp(-eps, eps).requires_grad_(True)
                    else:
                        delta = (dd - alpha * grad.sign()).clamp(-eps, eps).detach().cpu()
            if mode == "sample":
                delta[gi] = d.detach().cpu()
            with torch.no_grad():
                out = logits(cm((xb + delta[gi].to(dev)).clamp(0, 1)))
                correct += int((out.argmax(1) == yb).sum())
        acc = correct / n
        history.append(acc)
        if acc >= stop_acc:
            break
    meta = {"mode": mode, "rounds_run": len(history), "train_acc_history": history, "train_steps": train_steps,
            "pgd_steps": pgd_steps, "through": through, "augment": augment, "labels": label_view, "model": model, "precision": precision_label(dev),
            "seconds": time.time() - t0}
    return Perturbation(delta.numpy(), assign.numpy(), f"em-{mode}", eps, seed, meta=meta)
