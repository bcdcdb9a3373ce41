"""Plotly figures and ipywidgets controls the notebooks use, plus :func:`record` (re-exported from
:mod:`ucs_lite.records`) for their headline numbers.

Every figure function returns a ``plotly.graph_objects.Figure`` (call ``.show()``; interactive in
JupyterLab and Colab). Widgets are plain ``ipywidgets`` (sliders / dropdowns redrawing PNG ``Image``
widgets), so they need nothing beyond ipywidgets itself and never block headless runs. Images come in as uint8 N×H×W×3 like everywhere at the
library's edges; δ as float G×3×h×w within ±ε.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "configure_renderer", "record", "recorded", "RECORD_ENV",
    "accuracy_curves", "accuracy_bars", "project_2d", "projection_scatter", "mosaic", "image_grid",
    "cluster_grid", "delta_to_image", "delta_grid", "loss_curve", "metric_vs_p", "cluster_label_heatmap",
    "protect_with_eps", "eps_slider", "cluster_browser",
]

# the record store lives in ucs_lite.records; re-exported so ``viz.record(...)`` keeps working
from .records import RECORD_ENV, record, recorded  # noqa: E402
from .errors import InputError


# ---------------------------------------------------------------- figures that survive the kernel

def configure_renderer() -> str:
    """Make ``fig.show()`` work live AND in saved notebooks: outside Colab, every figure is output both as
    plotly's own MIME type (interactive in JupyterLab / VS Code) and as HTML with plotly.js inlined once per
    notebook (what ``jupyter nbconvert --to html`` keeps, so an executed notebook under ``runs/`` shows its
    figures offline, without a kernel or a network). On Colab, whose output frames are separate, plotly's
    own ``colab`` renderer is kept. Returns the renderer string in use."""
    import sys

    import plotly.io as pio

    if "google.colab" in sys.modules:
        pio.renderers.default = "colab"
    else:
        pio.renderers.default = "plotly_mimetype+notebook"
    return pio.renderers.default


# ---------------------------------------------------------------- accuracy

def accuracy_curves(results: Mapping[str, dict], title: str = "Clean test accuracy per epoch",
                    chance: float | None = None):
    """One line per attacker run: ``results`` maps a legend name to an :func:`ucs_lite.attack.evaluate`
    result (``per_epoch`` list of dicts with ``epoch`` and ``test_acc``). A dashed line marks chance
    (given, or the first result's)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, r in results.items():
        ep = [e["epoch"] for e in r["per_epoch"]]
        fig.add_trace(go.Scatter(x=ep, y=[e["test_acc"] for e in r["per_epoch"]], mode="lines+markers", name=name))
    if chance is None and results:
        chance = next(iter(results.values())).get("chance")
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dash", line_color="gray", annotation_text=f"chance {chance:.2f}",
                      annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="clean test accuracy", yaxis_range=[0, 1],
                      template="plotly_white", height=380)
    return fig


def accuracy_bars(df, x: str = "method", facet: str = "labels", title: str = "Attacker accuracy on clean test images"):
    """Grouped bars of final and peak accuracy (mean over seeds) per ``x`` value and ``facet``
    (label view), with chance (dashed) and the clean reference (dotted) of each facet.

    ``df`` is a :func:`ucs_lite.experiment.compare` table (columns method, labels, test_acc_final,
    test_acc_peak, chance, clean_peak).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    facets = list(dict.fromkeys(df[facet]))
    fig = make_subplots(rows=1, cols=len(facets), subplot_titles=[f"{facet} = {f}" for f in facets],
                        shared_yaxes=True)
    for j, f in enumerate(facets, start=1):
        d = df[df[facet] == f]
        g = d.groupby(x, sort=False)[["test_acc_final", "test_acc_peak"]].mean()
        err = d.groupby(x, sort=False)[["test_acc_final", "test_acc_peak"]].std().fillna(0.0)
        for col, color, label in (("test_acc_final", "#4c78a8", "final"), ("test_acc_peak", "#f58518", "peak")):
            fig.add_trace(go.Bar(x=list(g.index), y=g[col], name=label, marker_color=color, showlegend=j == 1,
                                 error_y=dict(type="data", array=err[col], visible=bool((err[col] > 0).any()))),
                          row=1, col=j)
        ch = float(d["chance"].iloc[0])
        fig.add_hline(y=ch, line_dash="dash", line_color="gray", row=1, col=j,
                      annotation_text=f"chance {ch:.2f}", annotation_position="top left")
        if "clean_peak" in d and d["clean_peak"].notna().any():
            cp = float(d["clean_peak"].mean())
            fig.add_hline(y=cp, line_dash="dot", line_color="green", row=1, col=j,
                          annotation_text=f"clean peak {cp:.2f}", annotation_position="top right")
    fig.update_layout(title=title, barmode="group", yaxis_title="clean test accuracy", yaxis_range=[0, 1],
                      template="plotly_white", height=420)
    return fig


# ---------------------------------------------------------------- features and clusters

def removed_matrix(rows: Sequence[Mapping], title: str = "Protection (removed, worst over attacker seeds)",
                   row: str = "noise", col: str = "view", value: str = "removed_peak",
                   row_order: Sequence[str] | None = None, col_order: Sequence[str] | None = None):
    """Heatmap of ``value`` (default: chance-normalised protection, 1 = nothing learnable left, 0 = none) per
    noise (rows) and attacker label view (columns), the worst (smallest) over repeated rows such as seeds.
    ``rows``: dicts with ``row``, ``col`` and ``value`` keys (e.g. ``granularity.json``'s ``attacks``);
    ``row_order`` / ``col_order``: the order to draw them in (default: first seen)."""
    import pandas as pd
    import plotly.express as px

    df = pd.DataFrame(list(rows))
    m = df.groupby([row, col], sort=False)[value].min().unstack(col)
    m = m.reindex(index=list(row_order) if row_order else m.index, columns=list(col_order) if col_order else m.columns)
    return px.imshow(m.round(2), text_auto=True, zmin=0, zmax=1, color_continuous_scale="Blues", aspect="auto",
                     title=title, labels={"x": "attacker's labels", "y": "noise built from", "color": value})


def removed_bars(rows: Sequence[Mapping], title: str = "Protection (removed, worst over attacker seeds)",
                 row: str = "noise", col: str = "view", value: str = "removed_peak",
                 order: Sequence[str] | None = None):
    """Grouped bars of ``value`` per noise, one colour per attacker view, the worst (smallest) over repeated
    rows (seeds); the number of seeds behind each bar in its hover text. ``rows`` as :func:`removed_matrix`;
    ``order``: the noises to draw, in this order (default: all, first seen)."""
    import pandas as pd
    import plotly.express as px

    df = pd.DataFrame(list(rows))
    df = df[df[value].notna()]
    if order:
        df = df[df[row].isin(order)]
    w = df.groupby([row, col], sort=False).agg(worst=(value, "min"), seeds=(value, "size")).reset_index()
    if order:
        w = w.sort_values(row, key=lambda c: c.map({n: i for i, n in enumerate(order)}), kind="stable")
    fig = px.bar(w, x=row, y="worst", color=col, barmode="group", hover_data=["seeds"], title=title,
                 category_orders={row: list(order)} if order else None, template="plotly_white",
                 labels={"worst": f"{value} (worst seed)", row: ""})
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="0.5", annotation_position="top left")
    return fig.update_yaxes(range=[min(0.0, float(w["worst"].min()) - 0.05), 1.0])


def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0, max_points: int | None = None) -> np.ndarray:
    """N×D features -> N×2 coordinates by ``pca`` or ``tsne`` (t-SNE after a 50-d PCA; scikit-learn).
    Features are L2-normalised first (as the clustering sees them)."""
    from sklearn.decomposition import PCA

    f = np.asarray(features, dtype=np.float64)
    f = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(f)
    if method == "tsne":
        from sklearn.manifold import TSNE

        f = PCA(n_components=min(50, f.shape[1], len(f)), random_state=seed).fit_transform(f)
        return TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30.0, (len(f) - 1) / 3)).fit_transform(f)
    raise InputError(f"unknown projection {method!r}: pca or tsne")


def projection_scatter(coords: np.ndarray, color: Sequence, symbol: Sequence | None = None,
                       hover: Sequence[str] | None = None, title: str = "", color_name: str = "cluster",
                       symbol_name: str = "label"):
    """2-D scatter (from :func:`project_2d`) coloured by ``color`` (e.g. cluster id), optionally shaped by
    ``symbol`` (e.g. true class), with ``hover`` text per point."""
    import pandas as pd
    import plotly.express as px

    d = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], color_name: [str(c) for c in color]})
    if symbol is not None:
        d[symbol_name] = [str(s) for s in symbol]
    if hover is not None:
        d["info"] = list(hover)
    order = sorted(d[color_name].unique(), key=lambda s: (len(s), s))
    fig = px.scatter(d, x="x", y="y", color=color_name, symbol=symbol_name if symbol is not None else None,
                     hover_data=["info"] if hover is not None else None, category_orders={color_name: order},
                     title=title, opacity=0.75)
    fig.update_traces(marker_size=6)
    fig.update_layout(template="plotly_white", height=520, xaxis_title="", yaxis_title="")
    return fig


def mosaic(images: np.ndarray, ncols: int = 8, pad: int = 2, fill: int = 255) -> np.ndarray:
    """uint8 N×H×W×3 -> one uint8 image with the N images on a grid of ``ncols`` columns."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, ncols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = images[i]
    return out


def _imshow(img: np.ndarray, title: str = "", height: int | None = None):
    import plotly.express as px

    fig = px.imshow(img, binary_string=True, title=title)
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    fig.update_layout(margin=dict(l=10, r=10, t=40 if title else 10, b=10), height=height)
    return fig


def image_grid(images: np.ndarray, ncols: int = 8, title: str = "", scale: int = 3):
    """A grid of uint8 N×H×W×3 images as one plotly image (upscaled ``scale``× for visibility)."""
    m = mosaic(np.asarray(images), ncols)
    if scale > 1:
        m = m.repeat(scale, 0).repeat(scale, 1)
    return _imshow(m, title, height=min(900, m.shape[0] + 60))


def cluster_grid(images: np.ndarray, clusters: np.ndarray, labels: np.ndarray | None = None,
                 class_names: Sequence[str] | None = None, per_cluster: int = 10, show: Iterable[int] | None = None,
                 seed: int = 0, scale: int = 2, title: str = "Images per cluster (one row per cluster)"):
    """One row of ``per_cluster`` random member images per cluster; the y-axis names each cluster with
    its size and majority label (and that label's share)."""
    import plotly.express as px

    rng = np.random.default_rng(seed)
    show = list(show) if show is not None else sorted(np.unique(clusters).tolist())
    h, w = images.shape[1:3]
    rows, names = [], []
    for k in show:
        idx = np.flatnonzero(clusters == k)
        pick = rng.choice(idx, size=min(per_cluster, len(idx)), replace=False) if len(idx) else idx
        row = images[pick]
        if len(row) < per_cluster:
            row = np.concatenate([row, np.full((per_cluster - len(row), h, w, 3), 255, np.uint8)])
        rows.append(mosaic(row, ncols=per_cluster))
        name = f"c{k} (n={len(idx)})"
        if labels is not None and len(idx):
            cnt = np.bincount(labels[idx])
            top = int(cnt.argmax())
            lab = class_names[top] if class_names is not None else str(top)
            name += f" {lab} {cnt[top] / len(idx):.0%}"
        names.append(name)
    m = np.concatenate(rows, 0)
    if scale > 1:
        m = m.repeat(scale, 0).repeat(scale, 1)
    fig = px.imshow(m, binary_string=True, title=title)
    row_h = m.shape[0] / len(rows)
    fig.update_yaxes(tickvals=[row_h * (i + 0.5) for i in range(len(rows))], ticktext=names)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=min(1400, int(m.shape[0] * 1.1) + 80), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def cluster_label_heatmap(clusters: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None,
                          title: str = "Which classes each cluster holds (share of the cluster)"):
    """Heatmap cluster × class of the share of each cluster's images in each class."""
    import plotly.express as px

    ks = sorted(np.unique(clusters).tolist())
    n_cls = int(labels.max()) + 1
    table = np.stack([np.bincount(labels[clusters == k], minlength=n_cls) for k in ks]).astype(float)
    table /= table.sum(1, keepdims=True)
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_cls)]
    fig = px.imshow(table, x=names, y=[f"c{k}" for k in ks], color_continuous_scale="Blues", zmin=0, zmax=1,
                    text_auto=".2f", aspect="auto", title=title)
    fig.update_layout(height=max(300, 28 * len(ks) + 120))
    return fig


def metric_vs_p(df, x: str = "p", y: Sequence[str] = ("purity", "nmi"), color: str = "labels",
                baseline_col: str | None = "random_purity", title: str = "Cluster quality against p"):
    """Lines of cluster metrics against the number of clusters p (one colour per label view); the
    purity of random clusters of the same sizes as a dotted baseline when ``baseline_col`` is there."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(y), subplot_titles=list(y))
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2"]
    for j, metric in enumerate(y, start=1):
        for i, (view, d) in enumerate(df.groupby(color, sort=False)):
            c = palette[i % len(palette)]
            fig.add_trace(go.Scatter(x=d[x], y=d[metric], mode="lines+markers", name=f"{view}", legendgroup=view,
                                     line_color=c, showlegend=j == 1), row=1, col=j)
            if metric == "purity" and baseline_col and baseline_col in d:
                fig.add_trace(go.Scatter(x=d[x], y=d[baseline_col], mode="lines", line_dash="dot", line_color=c,
                                         name=f"{view}: random clusters", legendgroup=view, showlegend=j == 1),
                              row=1, col=j)
        fig.update_xaxes(title_text=x, type="log", row=1, col=j)
    fig.update_layout(title=title, template="plotly_white", height=380, yaxis_range=[0, 1])
    return fig


# ---------------------------------------------------------------- noise

def delta_to_image(delta: np.ndarray, eps: float, size: int | None = None) -> np.ndarray:
    """δ G×3×h×w within ±ε -> uint8 G×h×w×3 mapped linearly (−ε black, 0 grey, +ε white per channel),
    optionally upsampled (nearest) to ``size``."""
    d = np.asarray(delta, dtype=np.float32)
    img = np.clip((d / max(eps, 1e-12) + 1) / 2, 0, 1).transpose(0, 2, 3, 1)
    img = np.round(img * 255).astype(np.uint8)
    if size and img.shape[1] != size:
        r = max(1, size // img.shape[1])
        img = img.repeat(r, 1).repeat(r, 2)
    return img


def delta_grid(delta: np.ndarray, eps: float, ncols: int = 10, title: str = "δ per cluster (−ε black … +ε white)",
               scale: int = 3):
    """Every group's δ side by side (see :func:`delta_to_image`)."""
    return image_grid(delta_to_image(delta, eps), ncols=ncols, title=title, scale=scale)


def loss_curve(losses: Sequence[float], title: str = "UC crafting loss (KL to the target centroid)", smooth: int = 5):
    """The crafting loss per step, raw and as a running mean of ``smooth`` steps."""
    import plotly.graph_objects as go

    y = np.asarray(losses, dtype=float)
    fig = go.Figure(go.Scatter(y=y, mode="lines", name="per step", line_color="#bbbbbb"))
    if smooth > 1 and len(y) >= smooth:
        k = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        fig.add_trace(go.Scatter(x=np.arange(smooth - 1, len(y)), y=k, mode="lines", name=f"mean of {smooth}"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss", template="plotly_white", height=340)
    return fig


def protect_with_eps(images: np.ndarray, delta: np.ndarray, assignment: np.ndarray, eps: float,
                     new_eps: float) -> np.ndarray:
    """Protected uint8 images with δ rescaled from ``eps`` to ``new_eps`` (what the ε slider shows):
    quantise(clip(x + δ·new_eps/eps)). ``delta`` is G×3×h×w, resized to the images' size."""
    import torch

    from .noise.base import resize_delta

    d = resize_delta(torch.from_numpy(np.asarray(delta, np.float32)), images.shape[1:3]).numpy()
    d = d[np.asarray(assignment)].transpose(0, 2, 3, 1) * (new_eps / eps)
    return np.clip(np.round((images.astype(np.float32) / 255 + d) * 255), 0, 255).astype(np.uint8)


def _png(img: np.ndarray, scale: int = 1) -> bytes:
    """uint8 H×W×3 -> PNG bytes (nearest-neighbour upscaled ``scale``×)."""
    from .files import png_bytes

    return png_bytes(img, scale)


def _with_static_view(children: list, images: list, info) -> "object":
    """A ``VBox`` of ``children`` that also carries a static HTML snapshot of itself (``info``'s HTML and the
    current PNGs of ``images``) in its display data. Live front ends show the widget; a notebook saved by
    :func:`ucs_lite.notebooks.run_notebooks` keeps the snapshot instead, so an HTML export shows the picture
    rather than an empty widget placeholder."""
    import base64

    import ipywidgets as W

    class StaticFallbackBox(W.VBox):
        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs) or {}
            pngs = "".join(f'<img src="data:image/png;base64,{base64.b64encode(im.value).decode()}">'
                           for im in images if im.value)
            data["text/html"] = (f"<div>{info.value}<br>{pngs}<br><small>(static view of an interactive widget: "
                                 f"run the notebook to use it)</small></div>")
            return data

    return StaticFallbackBox(children)


def eps_slider(images: np.ndarray, delta: np.ndarray, assignment: np.ndarray, eps: float, max_eps255: int = 32,
               n_show: int = 6, scale: int = 4):
    """An ipywidgets control: a slider for ε (0–``max_eps255``/255) that redraws clean images, the same
    images protected with δ scaled to that ε, and their difference (amplified), with PSNR / SSIM.

    Returns the widget (a ``VBox``); ``.slider``, ``.info`` (HTML with the numbers) and ``.image`` (the
    PNG shown) are attributes, so ``w.slider.value = 8`` updates it programmatically too. Images are
    plain ``ipywidgets.Image`` PNGs (no Output capture), which keeps headless runs (papermill, nbval)
    from waiting on widget output.
    """
    import ipywidgets as W

    from .metrics import psnr, ssim

    x = np.asarray(images[:n_show])
    a = np.asarray(assignment[:n_show])
    slider = W.IntSlider(value=int(round(eps * 255)), min=0, max=max_eps255, step=1, description="ε (/255)",
                         continuous_update=False)
    info = W.HTML()
    image = W.Image(format="png")
    caption = W.HTML("<small>rows: clean · protected · difference (amplified, grey = 0)</small>")

    def render(*_):
        e = slider.value / 255
        prot = protect_with_eps(x, delta, a, eps, e) if e > 0 else x.copy()
        diff = np.clip((prot.astype(np.int16) - x.astype(np.int16)) * (127 / max(1, max_eps255)) + 128, 0, 255)
        p, s = psnr(x, prot), ssim(x, prot)
        info.value = (f"<b>ε = {slider.value}/255</b>: PSNR {p:.1f} dB, SSIM {s:.3f}, "
                      f"max |δ| = {int(np.abs(prot.astype(int) - x.astype(int)).max())}/255")
        image.value = _png(mosaic(np.concatenate([x, prot, diff.astype(np.uint8)]), ncols=len(x)), scale)

    slider.observe(render, names="value")
    render()
    box = _with_static_view([slider, info, image, caption], [image], info)
    box.slider, box.info, box.image = slider, info, image
    return box


def cluster_browser(images: np.ndarray, clusters: np.ndarray, protected: np.ndarray | None = None,
                    delta: np.ndarray | None = None, eps: float | None = None, labels: np.ndarray | None = None,
                    class_names: Sequence[str] | None = None, n_show: int = 10, seed: int = 0, scale: int = 3):
    """An ipywidgets control to page through clusters: for the chosen cluster, its size, label make-up,
    its δ (when given), member images and their protected versions.

    Returns the widget (a ``VBox``) with ``.dropdown``, ``.info``, ``.delta_image`` and ``.image`` attributes.
    """
    import ipywidgets as W

    ks = sorted(np.unique(clusters).tolist())
    dropdown = W.Dropdown(options=[(f"cluster {k}", k) for k in ks], value=ks[0], description="cluster")
    info = W.HTML()
    delta_image = W.Image(format="png")
    image = W.Image(format="png")
    rng = np.random.default_rng(seed)
    picks = {k: rng.choice(np.flatnonzero(clusters == k), size=min(n_show, int((clusters == k).sum())), replace=False)
             for k in ks}

    def render(*_):
        k = dropdown.value
        idx = picks[k]
        text = f"<b>cluster {k}</b>: {int((clusters == k).sum())} images"
        if labels is not None:
            n_cls = max(int(labels.max()) + 1, len(class_names) if class_names else 0)
            cnt = np.bincount(labels[clusters == k], minlength=n_cls)
            top = np.argsort(cnt)[::-1][:3]
            text += " — " + ", ".join(f"{class_names[c] if class_names else c} {cnt[c] / cnt.sum():.0%}"
                                      for c in top if cnt[c])
        rows = [images[idx]] + ([protected[idx]] if protected is not None else [])
        text += "<br><small>" + ("δ of this cluster (−ε black … +ε white); " if delta is not None and eps else "")
        text += "members: clean" + (" · protected" if protected is not None else "") + "</small>"
        info.value = text
        if delta is not None and eps is not None:
            delta_image.value = _png(delta_to_image(delta[k:k + 1], eps)[0], 4)
        image.value = _png(mosaic(np.concatenate(rows), ncols=len(idx)), scale)

    dropdown.observe(render, names="value")
    render()
    shown = [delta_image] if delta is not None and eps is not None else []
    box = _with_static_view([dropdown, info] + shown + [image], shown + [image], info)
    box.dropdown, box.info, box.delta_image, box.image = dropdown, info, delta_image, image
    return box
