"""The attacker: train a model on (protected) training images with *their own* labels; report clean
test accuracy after every epoch.

Label protocols (``labels=``): ``same`` (the protector's labels, read from the bundle's meta),
``fine``, ``coarse``, ``regroup:n:seed`` — any view of :class:`ucs_lite.data.ImageSet`.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .cluster import extract_features
from .data import Bundle, DataError, ImageSet
from .defenses import apply_defense, batch_defense, random_crop_flip
from .models import build_model
from .profiles import ATTACKERS  # defined torch-free: the command line's --help reads it
from .precision import autocast, grad_scaler
from .provenance import provenance
from .surrogates import create_surrogate, resolve_device
from .errors import InputError

__all__ = ["AttackConfig", "evaluate", "resolve_view", "chance_rate", "validation_split",
           "ATTACKERS", "VAL_FRACTION"]

_MEAN, _STD = 0.5, 0.25
#: Share of the test images held out as the clean validation split that picks ``test_acc_valsel``'s epoch.
VAL_FRACTION = 0.2


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
    """What a constant guess reaches: max(1/n, majority share of the test labels). Raises ValueError when
    there are no test labels or no classes (never NaN)."""
    if len(y_test) == 0 or n_classes < 1:
        raise InputError(f"chance rate needs test labels and classes, got {len(y_test)} labels, {n_classes} classes")
    return float(max(1.0 / n_classes, np.bincount(y_test, minlength=n_classes).max() / len(y_test)))


def validation_split(n_test: int, fraction: float = VAL_FRACTION, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (validation, scored) index arrays over ``n_test`` test images: ``round(fraction · n)`` images
    (at least 1, at most n − 1) chosen at random by ``seed`` pick an epoch, the rest score it. Needs n ≥ 2."""
    if n_test < 2:
        raise InputError(f"a validation split needs at least 2 test images, got {n_test}")
    n_val = min(n_test - 1, max(1, int(round(fraction * n_test))))
    order = np.random.default_rng(seed).permutation(n_test)
    return np.sort(order[:n_val]), np.sort(order[n_val:])


def _epoch_scores(correct: np.ndarray, val: np.ndarray | None, scored: np.ndarray | None) -> dict:
    """Per-epoch accuracies from a boolean vector over the test images: ``test_acc`` on all of them,
    ``val_acc`` / ``heldout_acc`` on the validation / scored parts (absent without a split)."""
    out = {"test_acc": float(correct.mean())}
    if val is not None:
        out["val_acc"], out["heldout_acc"] = float(correct[val].mean()), float(correct[scored].mean())
    return out


def _as_tensor(s: ImageSet, size: int | None) -> torch.Tensor:
    x = s.to_float()
    if size and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


@torch.no_grad()
def _test_correct(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dev: torch.device,
                  bs: int = 1000) -> np.ndarray:
    """Boolean (N,): whether ``net`` classifies each test image right."""
    net.eval()
    out = [(net(((x[s:s + bs].to(dev)) - _MEAN) / _STD).argmax(1).cpu() == y[s:s + bs]) for s in range(0, len(x), bs)]
    return torch.cat(out).numpy()


def _linear_probe(bundle: Bundle, view: str, cfg: AttackConfig, progress: bool, val, scored) -> list[dict]:
    """Pretrained-encoder attacker: logistic regression on frozen surrogate features (offline default
    surrogate). One 'epoch' = one full pass of L-BFGS; reported once."""
    from sklearn.linear_model import LogisticRegression  # scikit-learn loads slowly: only when probing

    s = create_surrogate(cfg.probe_surrogate, device=cfg.device)
    ftr = extract_features(s, bundle.train.images, progress=progress)
    fte = extract_features(s, bundle.test.images, progress=progress)
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    ytr, _ = bundle.train.view(view)
    yte, _ = bundle.test.view(view)
    clf = LogisticRegression(max_iter=300, C=0.5, random_state=cfg.seed).fit((ftr - mu) / sd, ytr)
    correct = clf.predict((fte - mu) / sd) == yte
    return [{"epoch": 1, "train_acc": float(clf.score((ftr - mu) / sd, ytr)), "train_loss": float("nan"),
             **_epoch_scores(correct, val, scored)}]


def evaluate(bundle: Bundle, labels: str = "fine", config: AttackConfig | None = None, progress: bool = True,
             **overrides) -> dict:
    """Train the attacker on ``bundle.train`` (protected or clean) with the ``labels`` view and test on
    the untouched ``bundle.test`` after every epoch.

    ``config`` is never modified: ``overrides`` (e.g. ``epochs=3``) apply to a copy.

    Returns a JSON-ready dict: ``test_acc_final`` (last epoch, all test images); ``test_acc_peak`` (the best
    epoch **selected on the test images themselves**: optimistic, what the docs judge by); ``test_acc_valsel``
    (the epoch a clean validation split would pick: :data:`VAL_FRACTION` of the test images, chosen by
    :func:`validation_split`, pick the epoch, and the disjoint rest score it; ``None`` with < 2 test images);
    ``per_epoch`` (epoch, train_loss, train_acc, test_acc, val_acc, heldout_acc), ``labels``, ``n_classes``,
    ``chance``, ``seconds``, ``config``, ``method``. Raises :class:`~ucs_lite.data.DataError` when the
    bundle has no test images.
    """
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(AttackConfig)})
    if unknown:
        raise TypeError(f"unknown attack option {unknown[0]!r}")
    cfg = dataclasses.replace(config or AttackConfig(), **overrides)
    if len(bundle.test) == 0:
        raise DataError(f"{bundle.source or 'this bundle'}: no test images to score the attacker on (an image folder "
                        "is read without a test split); hold some out: ucs-lite evaluate --test-fraction 0.2, "
                        "or load(folder, test_fraction=0.2)")
    view = resolve_view(bundle, labels)
    side = cfg.size or min(bundle.train.images.shape[1:3])
    if cfg.model in ("small-cnn", "vgg-small") and side < 8:
        raise InputError(f"the {cfg.model} attacker pools three times: it needs images of at least 8×8 px, "
                         f"got {side} px; use --model resnet18 or larger images")
    ytr_np, names = bundle.train.view(view)
    yte_np, _ = bundle.test.view(view)
    n_classes = len(names)
    val, scored = validation_split(len(yte_np)) if len(yte_np) >= 2 else (None, None)
    t0 = time.time()
    if cfg.model == "linear-probe":
        per_epoch = _linear_probe(apply_defense(bundle, cfg.defense, cfg.seed), view, cfg, progress, val, scored)
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
                scores = _epoch_scores(_test_correct(net, xte, yte, dev), val, scored)
            per_epoch.append({"epoch": epoch + 1, "train_loss": tot_loss / len(xtr), "train_acc": correct / len(xtr),
                              **scores})
            bar.set_postfix(test_acc=f"{scores['test_acc']:.3f}")
    accs = [e["test_acc"] for e in per_epoch]
    valsel = None
    if val is not None and per_epoch:
        best = int(np.argmax([e["val_acc"] for e in per_epoch]))  # the first epoch of the best validation score
        valsel = per_epoch[best]["heldout_acc"]
    meta = bundle.meta()
    run = {"attack": {k: v for k, v in asdict(cfg).items() if k != "device"}, "labels": view,
           "train": bundle.train.fingerprint(), "test": bundle.test.fingerprint()}
    return {**provenance(run, cfg.seed, resolve_device(cfg.device)),
            "method": meta.get("method", "clean"), "labels": view, "n_classes": n_classes,
            "chance": chance_rate(yte_np, n_classes),
            "test_acc_final": accs[-1] if accs else float("nan"), "test_acc_peak": max(accs) if accs else float("nan"),
            "test_acc_valsel": valsel, "peak_selected_on": "test",
            "val_split": {"n_val": len(val), "n_scored": len(scored), "seed": 0} if val is not None else None,
            "per_epoch": per_epoch, "seconds": time.time() - t0, "config": asdict(cfg),
            "n_train": len(bundle.train), "n_test": len(bundle.test)}
