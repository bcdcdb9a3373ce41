"""The attacker: train a model on (protected) training images with *their own* labels; report clean
test accuracy after every epoch.

Label protocols (``labels=``): ``same`` (the protector's labels, read from the bundle's meta),
``fine``, ``coarse``, ``regroup:n:seed`` — any view of :class:`ucs_lite.data.ImageSet`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import Bundle, ImageSet
from .models import build_model
from .precision import autocast, grad_scaler
from .surrogates import resolve_device

__all__ = ["AttackConfig", "evaluate", "resolve_view", "random_crop_flip", "chance_rate", "ATTACKERS"]

ATTACKERS = ("small-cnn", "resnet18", "resnet18-quarter", "vgg-small", "linear-probe")
_MEAN, _STD = 0.5, 0.25


@dataclass
class AttackConfig:
    """How the attacker trains. Defaults: the CPU attacker (small CNN, 12 epochs, crop+flip)."""

    model: str = "small-cnn"
    epochs: int = 12
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    seed: int = 0
    size: int | None = None  # resize images to size×size first (None: keep)
    defense: str = "none"
    probe_surrogate: str = "imagenet:efficientnet_lite0"  # encoder of the linear-probe attacker
    device: str = "auto"


def resolve_view(bundle: Bundle, labels: str) -> str:
    """``same`` -> the protector's label view recorded in a protected bundle's meta (``fine`` for
    clean bundles and for label-free methods); any other view is returned unchanged."""
    if labels != "same":
        return labels
    return bundle.meta().get("labels") or "fine"


def chance_rate(y_test: np.ndarray, n_classes: int) -> float:
    """What a constant guess reaches: max(1/n, majority share of the test labels)."""
    return float(max(1.0 / n_classes, np.bincount(y_test, minlength=n_classes).max() / len(y_test)))


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding ``pad``) and horizontal flip of a batch N×3×H×W, one draw per image,
    without a Python loop over images."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # n×h
    cols = (dx[:, None] + torch.arange(w)[None]).to(x.device)  # n×w
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # n×h×w×c
    return out.permute(0, 3, 1, 2)


def _as_tensor(s: ImageSet, size: int | None) -> torch.Tensor:
    x = s.to_float()
    if size and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


@torch.no_grad()
def _test_accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dev: torch.device, bs: int = 1000) -> float:
    net.eval()
    correct = 0
    for s in range(0, len(x), bs):
        correct += int((net(((x[s:s + bs].to(dev)) - _MEAN) / _STD).argmax(1).cpu() == y[s:s + bs]).sum())
    return correct / max(1, len(x))


def _linear_probe(bundle: Bundle, view: str, cfg: AttackConfig, progress: bool) -> list[dict]:
    """Pretrained-encoder attacker: logistic regression on frozen surrogate features (offline default
    surrogate). One 'epoch' = one full pass of L-BFGS; reported once."""
    from sklearn.linear_model import LogisticRegression

    from .cluster import extract_features
    from .surrogates import create_surrogate

    s = create_surrogate(cfg.probe_surrogate, device=cfg.device)
    ftr = extract_features(s, bundle.train.images, progress=progress)
    fte = extract_features(s, bundle.test.images, progress=progress)
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    ytr, _ = bundle.train.view(view)
    yte, _ = bundle.test.view(view)
    clf = LogisticRegression(max_iter=300, C=0.5, random_state=cfg.seed).fit((ftr - mu) / sd, ytr)
    return [{"epoch": 1, "train_acc": float(clf.score((ftr - mu) / sd, ytr)),
             "test_acc": float(clf.score((fte - mu) / sd, yte)), "train_loss": float("nan")}]


def evaluate(bundle: Bundle, labels: str = "fine", config: AttackConfig | None = None, progress: bool = True,
             **overrides) -> dict:
    """Train the attacker on ``bundle.train`` (protected or clean) with the ``labels`` view and test on
    the untouched ``bundle.test`` after every epoch.

    Returns a JSON-ready dict: ``test_acc_final``, ``test_acc_peak``, ``per_epoch`` (epoch, train_loss,
    train_acc, test_acc), ``labels``, ``n_classes``, ``chance``, ``seconds``, ``config``, ``method``.
    """
    cfg = config or AttackConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise TypeError(f"unknown attack option {k!r}")
        setattr(cfg, k, v)
    view = resolve_view(bundle, labels)
    side = cfg.size or min(bundle.train.images.shape[1:3])
    if cfg.model in ("small-cnn", "vgg-small") and side < 8:
        raise ValueError(f"the {cfg.model} attacker pools three times: it needs images of at least 8×8 px, "
                         f"got {side} px; use --model resnet18 or larger images")
    ytr_np, names = bundle.train.view(view)
    yte_np, _ = bundle.test.view(view)
    n_classes = len(names)
    t0 = time.time()
    from .defenses import apply_defense, batch_defense

    if cfg.model == "linear-probe":
        per_epoch = _linear_probe(apply_defense(bundle, cfg.defense, cfg.seed), view, cfg, progress)
    else:
        dev = resolve_device(cfg.device)
        b = apply_defense(bundle, cfg.defense, cfg.seed)
        xtr, xte = _as_tensor(b.train, cfg.size), _as_tensor(b.test, cfg.size)
        ytr, yte = torch.from_numpy(ytr_np), torch.from_numpy(yte_np)
        if dev.type == "cuda" and xtr.numel() * 4 <= 2e9:  # training images stay on the GPU (no copy per batch)
            xtr = xtr.to(dev)
        gen = torch.Generator().manual_seed(cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = build_model(cfg.model, n_classes).to(dev).to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        steps = cfg.epochs * ((len(xtr) + cfg.batch_size - 1) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        step_fn = batch_defense(cfg.defense, gen)
        scaler = grad_scaler(dev)  # AMP on CUDA (bf16, or fp16 with loss scaling); fp32 on a CPU
        per_epoch = []
        bar = tqdm(range(cfg.epochs), desc=f"attack [{cfg.model}, {view}]", disable=not progress, unit="epoch")
        for epoch in bar:
            net.train()
            order = torch.randperm(len(xtr), generator=gen)
            tot_loss, correct = 0.0, 0
            for s in range(0, len(xtr), cfg.batch_size):
                idx = order[s:s + cfg.batch_size]
                xb, yb = xtr[idx], ytr[idx]
                if cfg.augment:
                    xb = random_crop_flip(xb, gen)
                xb, yb = xb.to(dev), yb.to(dev)
                if dev.type == "cuda":
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with autocast(dev):
                    loss, out = step_fn(net, (xb - _MEAN) / _STD, yb)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                tot_loss += float(loss.detach()) * len(idx)
                correct += int((out.argmax(1) == yb).sum())
            with autocast(dev):
                acc = _test_accuracy(net, xte, yte, dev)
            per_epoch.append({"epoch": epoch + 1, "train_loss": tot_loss / len(xtr), "train_acc": correct / len(xtr),
                              "test_acc": acc})
            bar.set_postfix(test_acc=f"{acc:.3f}")
    accs = [e["test_acc"] for e in per_epoch]
    meta = bundle.meta()
    from .experiment import provenance

    run = {"attack": {k: v for k, v in asdict(cfg).items() if k != "device"}, "labels": view,
           "train": bundle.train.fingerprint(), "test": bundle.test.fingerprint()}
    return {**provenance(run, cfg.seed, resolve_device(cfg.device)),
            "method": meta.get("method", "clean"), "labels": view, "n_classes": n_classes,
            "chance": chance_rate(yte_np, n_classes),
            "test_acc_final": accs[-1] if accs else float("nan"), "test_acc_peak": max(accs) if accs else float("nan"),
            "per_epoch": per_epoch, "seconds": time.time() - t0, "config": asdict(cfg),
            "n_train": len(bundle.train), "n_test": len(bundle.test)}
