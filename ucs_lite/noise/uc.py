"""Unlearnable Clusters (Zhang et al., CVPR 2023, arXiv 2301.01217).

1. Embed the training images with a frozen surrogate; K-means into ``p`` clusters (no labels used).
2. One bounded δ_k per cluster, optimised so the surrogate's features of clip(x + δ_k) match the
   centroid of cluster (k + offset) mod p: loss KL(softmax(anchor) ‖ softmax(f(x + δ_k))).
3. Protected image = x + δ_{cluster(x)}.

Two schedules share the objective:

* :func:`craft_uc` — ours: every cluster advances in the same step (one batched surrogate pass over
  ``batch_per_cluster`` images of each cluster), each δ_k trained on its own cluster's images,
  δ at the data's resolution, parametrised as ``lowfreq`` / ``pixel`` fields or generators.
* :func:`craft_uc_official` — the authors' released schedule: one generator per cluster trained
  after another, each on *all* images for ``epochs`` epochs, δ crafted at 224 px.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..cluster import Clustering, cluster_images
from ..data import ImageSet
from ..files import atomic_write_bytes
from ..precision import optimizer_step, uc_grad_scaler
from ..surrogates import Surrogate
from .base import Perturbation, check_eps, resize_delta
from .patterns import DeltaField, GeneratorField, seeded_generator
from ..errors import InputError

__all__ = ["craft_uc", "craft_uc_official", "uc_loss", "uc_step", "official_step", "auto_max_batch",
           "PARAMS"]

PARAMS = ("lowfreq", "pixel", "generator")


def uc_loss(feats: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """UC's objective: KL(softmax(anchor) ‖ softmax(features)), batch mean. feats, anchors: B×D."""
    return F.kl_div(feats.log_softmax(-1), anchors.softmax(-1), reduction="batchmean")


def auto_max_batch(device: str | torch.device, resolution: int, budget_fraction: float = 0.5,
                   bytes_per_image_224: float = 60e6) -> int | None:
    """Images per surrogate forward+backward pass that fit a memory budget: ``None`` (no limit) on a CPU; on
    CUDA ``budget_fraction`` of the free GPU memory divided by an assumed ``bytes_per_image_224`` at 224 px
    (activations kept for the backward pass, scaled by (resolution / 224)²; an assumption sized for
    EfficientNet-Lite0 / RN50 in fp32 with margin, not a measurement — benchmarks/gpu_check.py records the
    real peak). At least 8."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(dev)
    per_image = bytes_per_image_224 * (max(int(resolution), 32) / 224) ** 2
    return max(8, int(budget_fraction * free / per_image))


def _scaled_backward(loss: torch.Tensor, scaler: "torch.amp.GradScaler | None") -> None:
    """``loss.backward()``, through ``scaler`` when given (a disabled scaler returns the loss itself)."""
    (loss if scaler is None else scaler.scale(loss)).backward()


def _chunked_input_grad(delta: torch.Tensor, n: int, max_batch: int, chunk_loss, scaler) -> float:
    """Accumulate the gradient of a batch-mean loss over ``n`` images in chunks of at most ``max_batch``:
    each chunk's loss (``chunk_loss(d, slice)``, a mean over its images, weighted here by its share of the batch)
    is backpropagated to a detached copy ``d`` of ``delta``; the summed gradient then goes through ``delta``'s
    graph (the δ field or generator) in one backward pass. Returns the (unscaled) batch loss."""
    d = delta.detach().requires_grad_(True)
    total = 0.0
    for s in range(0, n, max_batch):  # each chunk's graph is freed by its backward: one chunk in memory at a time
        sl = slice(s, min(n, s + max_batch))
        part = chunk_loss(d, sl) * ((sl.stop - s) / n)
        _scaled_backward(part, scaler)
        total += float(part.detach())
    delta.backward(d.grad)
    return total


def uc_step(field: torch.nn.Module, surrogate: Surrogate, x: torch.Tensor, anchors: torch.Tensor, b: int,
            size: tuple[int, int], max_batch: int | None = None,
            scaler: "torch.amp.GradScaler | None" = None) -> float:
    """Forward + backward of one UC step; leaves the gradient in ``field``'s parameters, returns the loss.

    x: [0,1] (p·b)×3×H×W on the surrogate's device, b images of each cluster in cluster order;
    anchors: p×D target features, one per cluster. The loss (:func:`uc_loss`, a mean over the p·b images)
    is computed in chunks of at most ``max_batch`` images when p·b exceeds it: δ is evaluated once, each
    chunk's gradient with respect to δ is accumulated (weighted by its share of the batch), then pushed
    through the field in one backward pass. Mathematically the same gradient as one pass; in floating point
    the sums run in another order (differences at float32 rounding). Under CUDA autocast the forward runs in
    :func:`ucs_lite.precision.autocast_dtype`; with a ``scaler`` (:func:`ucs_lite.precision.uc_grad_scaler`)
    the gradient left in ``field`` is multiplied by its scale, which
    :func:`ucs_lite.precision.optimizer_step` removes (skipping a step whose gradient is not finite)."""
    n = x.shape[0]
    delta = resize_delta(field(), size)                    # p×3×H×W
    target = anchors.repeat_interleave(b, 0)               # (p·b)×D
    if max_batch is None or n <= max_batch:
        loss = uc_loss(surrogate.encode((x + delta.repeat_interleave(b, 0)).clamp(0, 1)), target)
        _scaled_backward(loss, scaler)
        return float(loss.detach())

    def chunk_loss(d: torch.Tensor, sl: slice) -> torch.Tensor:
        return uc_loss(surrogate.encode((x[sl] + d.repeat_interleave(b, 0)[sl]).clamp(0, 1)), target[sl])

    return _chunked_input_grad(delta, n, max_batch, chunk_loss, scaler)


def official_step(gen: torch.nn.Module, surrogate: Surrogate, x: torch.Tensor, target: torch.Tensor,
                  noise_size: int, max_batch: int | None = None,
                  scaler: "torch.amp.GradScaler | None" = None) -> float:
    """Forward + backward of one step of the released schedule: the batch ``x`` ([0,1] B×3×H×W) resized to
    ``noise_size``², plus the generator's δ, towards one ``target`` feature (D); leaves the (scaled, see
    :func:`uc_step`) gradient in ``gen``'s parameters and returns the loss. With ``max_batch`` < B the batch is
    resized and encoded in chunks (gradients accumulated as in :func:`uc_step`: the same gradient up to
    summation order), so peak memory follows the chunk, not the batch."""
    n = x.shape[0]

    def resized(sl: slice) -> torch.Tensor:
        return F.interpolate(x[sl], size=(noise_size, noise_size), mode="bilinear", align_corners=False)

    delta = gen()                                          # 1×3×S×S
    if max_batch is None or n <= max_batch:
        feats = surrogate.encode((resized(slice(None)) + delta).clamp(0, 1))
        loss = uc_loss(feats, target.expand_as(feats))
        _scaled_backward(loss, scaler)
        return float(loss.detach())

    def chunk_loss(d: torch.Tensor, sl: slice) -> torch.Tensor:
        feats = surrogate.encode((resized(sl) + d).clamp(0, 1))
        return uc_loss(feats, target.expand_as(feats))

    return _chunked_input_grad(delta, n, max_batch, chunk_loss, scaler)


def _batch_indices(members: list[np.ndarray], b: int, rng: np.random.Generator) -> np.ndarray:
    """b indices per cluster (with replacement only where a cluster has fewer than b images): p·b."""
    return np.concatenate([rng.choice(m, size=b, replace=len(m) < b) for m in members])


def _run_fingerprint(images: np.ndarray, labels: np.ndarray, surrogate: Surrogate) -> str:
    """Identifies what a checkpoint was made from: the pixels, the clustering and the surrogate."""
    import hashlib

    h = hashlib.sha256(f"{images.shape}|{surrogate.name}|{surrogate.resolution}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _save_checkpoint(path: Path, state: dict) -> None:
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _resume(ckpt: Path, dev, config: list, field, opt, sched, scaler) -> tuple[int, list[float]]:
    """Load a UC checkpoint into ``field`` / ``opt`` / ``sched`` / ``scaler`` (in place) after checking it was made
    with the same ``config`` (settings + images fingerprint); returns (the step to continue from, the losses so
    far). A one-line ValueError for an unreadable or foreign checkpoint."""
    try:  # tensors and plain values only: no code is loaded from a checkpoint file
        state = torch.load(ckpt, map_location=dev, weights_only=True)
        saved = state["config"]
    except Exception as e:
        raise InputError(f"{ckpt}: not a readable UC checkpoint ({type(e).__name__}); "
                         "delete it to start over, or drop --resume") from None
    if saved != config:
        raise InputError(f"{ckpt}: checkpoint was made with another configuration or other images; "
                         "delete it to start over, or drop --resume")
    field.load_state_dict(state["field"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return state["step"], state["losses"]


def craft_uc(train: ImageSet | np.ndarray, surrogate: Surrogate, p: int = 10, eps: float = 16 / 255,
             seed: int = 0, param: str = "lowfreq", steps: int = 60, batch_per_cluster: int = 8,
             lr: float | None = None, offset: int = 1, data: str = "own", lowfreq_res: int = 8,
             gray: bool = False, feature_mode: str = "standardize", craft_resolution: int | None = None,
             clustering: Clustering | None = None, checkpoint: str | os.PathLike | None = None,
             checkpoint_every: int = 10, resume: bool = False, max_batch: int | None = None,
             progress: bool = True) -> Perturbation:
    """Craft UC noise with all clusters batched in each step.

    Args:
        train: training images (uint8 N×H×W×3, or an ImageSet).
        surrogate: frozen encoder (see :mod:`ucs_lite.surrogates`); its resolution is used for the
            clustering features; ``craft_resolution`` (default: the same) for the optimisation.
        p: number of clusters; eps: L∞ bound on the [0,1] scale; seed: everything random.
        param: ``lowfreq`` (δ at ``lowfreq_res``² upsampled to blocks), ``pixel`` or ``generator``.
        steps: optimisation steps (0 = random structured pattern per cluster, no optimisation).
        batch_per_cluster: images of each cluster per step (p × this go through the surrogate).
        data: ``own`` (each δ_k sees its cluster's images) or ``all`` (every image, as the released code).
        gray: achromatic δ (one value for the three channels; ``lowfreq``/``pixel`` only) — with
            ``lowfreq_res=16`` the ``uc-robust`` variant, which survives grayscale conversion and JPEG's
            chroma subsampling.
        clustering: reuse a clustering (e.g. to compare parametrisations on the same clusters).
        checkpoint / resume: save state every ``checkpoint_every`` steps; with ``resume`` continue from
            it. Batches come from a per-step seeded generator, so a resumed run gives the same δ.
        max_batch: most images per surrogate pass; a step's p × batch_per_cluster images are split into
            chunks of at most this many and their gradients accumulated (same δ up to float rounding; see
            :func:`uc_step`). ``None``: :func:`auto_max_batch` (no limit on a CPU, a memory budget on CUDA).
    Returns:
        :class:`Perturbation` with δ at the data's resolution and the cluster of every image.
    """
    eps = check_eps(eps)
    if param not in PARAMS:
        raise InputError(f"unknown UC parametrisation {param!r}: {PARAMS}")
    if data not in ("own", "all"):
        raise InputError("data must be 'own' or 'all'")
    images = train.images if isinstance(train, ImageSet) else train
    n, h, w = images.shape[:3]
    t0 = time.time()
    if clustering is None:
        _, clustering = cluster_images(images, surrogate, p, seed=seed, mode=feature_mode, progress=progress)
    p = clustering.p
    t_cluster = time.time() - t0
    dev = surrogate.device
    anchors = torch.from_numpy(clustering.centroids).to(dev)
    targets = (torch.arange(p) + offset) % p
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2)  # uint8, converted per batch
    members = [np.flatnonzero(clustering.labels == k) for k in range(p)] if data == "own" else [np.arange(n)] * p
    if any(len(m) == 0 for m in members):
        raise InputError("a cluster is empty; use fewer clusters")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        field = (GeneratorField(p, (h, w), eps, seed) if param == "generator"
                 else DeltaField(p, (h, w), eps, seed, form=param, lowfreq_res=lowfreq_res, gray=gray)).to(dev)
    lr = lr if lr is not None else (1e-3 if param == "generator" else 0.05)
    opt = torch.optim.Adam(field.parameters(), lr=lr, weight_decay=5e-4 if param == "generator" else 0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    scaler = uc_grad_scaler(dev)  # disabled (a plain step) unless CUDA runs in float16
    losses: list[float] = []
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    config = ([p, eps, seed, param, steps, batch_per_cluster, lr, offset, data, lowfreq_res, n, craft_resolution, gray,
               _run_fingerprint(images, clustering.labels, surrogate)] if ckpt is not None else None)
    if resume and ckpt is not None and ckpt.is_file():
        start, losses = _resume(ckpt, dev, config, field, opt, sched, scaler)
    old_res = surrogate.resolution
    if craft_resolution:
        surrogate.resolution = int(craft_resolution)
    chunk = max_batch if max_batch is not None else auto_max_batch(dev, surrogate.resolution)
    try:
        for step in tqdm(range(start, steps), desc=f"UC craft ({param}, p={p})", disable=not progress,
                         initial=start, total=steps, unit="step"):
            rng = np.random.default_rng([seed, step])
            idx = _batch_indices(members, batch_per_cluster, rng)
            x = x_all[torch.from_numpy(idx)].to(dev).float().div_(255)
            opt.zero_grad(set_to_none=True)
            loss = uc_step(field, surrogate, x, anchors[targets], batch_per_cluster, (h, w), chunk, scaler)
            optimizer_step(scaler, opt)
            sched.step()
            losses.append(loss)
            if ckpt is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                _save_checkpoint(ckpt, {"step": step + 1, "field": field.state_dict(), "opt": opt.state_dict(),
                                        "sched": sched.state_dict(), "losses": losses, "config": config,
                                        "scaler": scaler.state_dict()})
    finally:
        surrogate.resolution = old_res
    with torch.no_grad():
        field.eval() if param != "generator" else None  # generators keep batch statistics of their seed
        delta = field().clamp(-eps, eps).cpu().numpy()
    meta = {"p": p, "param": param, "steps": steps, "batch_per_cluster": batch_per_cluster, "lr": lr,
            "offset": offset, "data": data, "lowfreq_res": lowfreq_res, "gray": gray, "feature_mode": clustering.mode,
            "surrogate_resolution": surrogate.resolution, "craft_resolution": craft_resolution or surrogate.resolution,
            "loss_curve": losses, "seconds_cluster": t_cluster, "seconds": time.time() - t0,
            "cluster_sizes": np.bincount(clustering.labels, minlength=p).tolist(), "resumed_from_step": start}
    return Perturbation(delta, clustering.labels, "uc-robust" if gray else "uc", eps, seed, surrogate.name,
                        meta=meta, centroids=clustering.centroids)


def craft_uc_official(train: ImageSet | np.ndarray, surrogate: Surrogate, p: int = 10, eps: float = 16 / 255,
                      seed: int = 0, epochs: int = 50, batch_size: int = 256, noise_size: int = 224,
                      lr: float = 1e-4, offset: int = 1, feature_mode: str = "none", ngf: int = 64, n_blocks: int = 6,
                      clustering: Clustering | None = None, max_images: int | None = None,
                      max_batch: int | None = None, progress: bool = True) -> Perturbation:
    """The authors' released schedule: for k = 0..p-1 in turn, a fresh ResNet generator (64 channels,
    6 blocks) fed a fixed uniform seed image of ``noise_size``² is trained for ``epochs`` epochs over
    *all* training images (Adam ``lr``, weight decay 5e-4, cosine to 1e-6), δ_k = clamp(G_k(z), ±ε),
    loss KL(softmax(anchor_{k+offset}) ‖ softmax(f(x + δ_k))). K-means on raw features (``none``).
    δ stays at ``noise_size`` and is resized to each image on apply. Cost ≈ p × epochs × N surrogate
    forward+backward passes.

    Not in the released code: ``max_images`` = M trains each generator on its own random subsample of
    min(M, N) images (drawn once per generator, seeded), so the cost, p × epochs × min(M, N) passes, stops
    growing with N; ``epochs=0`` gives the untrained generators' δ (no optimisation).

    ``max_batch``: most images per surrogate pass; each batch of ``batch_size`` images at ``noise_size``² is
    encoded in chunks of at most this many (:func:`official_step`; same δ up to float rounding). ``None``:
    :func:`auto_max_batch` at the larger of ``noise_size`` and the surrogate's resolution (no limit on a CPU,
    the memory budget on CUDA). Precision and loss
    scaling come from :mod:`ucs_lite.precision` (autocast in the surrogate,
    :func:`~ucs_lite.precision.uc_grad_scaler`)."""
    eps = check_eps(eps)
    if epochs < 0:
        raise InputError(f"epochs must be >= 0, got {epochs}")
    if max_images is not None and max_images < 1:
        raise InputError(f"max_images must be a positive number of images or None, got {max_images}")
    images = train.images if isinstance(train, ImageSet) else train
    n = len(images)
    m = n if max_images is None else min(int(max_images), n)
    t0 = time.time()
    if clustering is None:
        _, clustering = cluster_images(images, surrogate, p, seed=seed, mode=feature_mode, progress=progress)
    p = clustering.p
    dev = surrogate.device
    anchors = torch.from_numpy(clustering.centroids).to(dev)
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2)
    deltas, losses = [], []
    steps_per_epoch = (m + batch_size - 1) // batch_size
    # memory per image follows the larger of the two sides an image has on the way: noise_size and the surrogate's
    chunk = max_batch if max_batch is not None else auto_max_batch(dev, max(noise_size, surrogate.resolution))
    for k in range(p):
        pool = (np.arange(n) if m == n
                else np.sort(np.random.default_rng([seed, k, 7919]).choice(n, size=m, replace=False)))
        gen = seeded_generator(k, seed, noise_size, eps, ngf=ngf, n_blocks=n_blocks).to(dev)
        scaler = uc_grad_scaler(dev)  # disabled (a plain step) unless CUDA runs in float16
        opt = torch.optim.Adam(gen.parameters(), lr=lr, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * steps_per_epoch), eta_min=1e-6)
        target = anchors[(k + offset) % p]
        for epoch in tqdm(range(epochs), desc=f"UC official: generator {k + 1}/{p}", disable=not progress):
            order = pool[np.random.default_rng([seed, k, epoch]).permutation(m)]
            for s in range(0, m, batch_size):
                x = x_all[torch.from_numpy(order[s:s + batch_size])].to(dev).float().div_(255)
                opt.zero_grad(set_to_none=True)
                losses.append(official_step(gen, surrogate, x, target, noise_size, chunk, scaler))
                optimizer_step(scaler, opt)
                sched.step()
        with torch.no_grad():
            deltas.append(gen().clamp(-eps, eps).cpu())
    delta = torch.cat(deltas).numpy()
    meta = {"p": p, "param": "generator", "schedule": "official", "epochs": epochs, "batch_size": batch_size,
            "noise_size": noise_size, "lr": lr, "offset": offset, "feature_mode": clustering.mode,
            "max_images": max_images, "images_per_generator": m,
            "loss_curve": losses[:: max(1, len(losses) // 500)], "seconds": time.time() - t0,
            "cluster_sizes": np.bincount(clustering.labels, minlength=p).tolist()}
    return Perturbation(delta, clustering.labels, "uc-official", eps, seed, surrogate.name, meta=meta,
                        centroids=clustering.centroids)
