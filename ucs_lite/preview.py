"""``preview.html``: an offline page to judge protected photos before publishing them.

Per image: the original and the protected version side by side, a zoom on the region that changed most
(by CIEDE2000, both versions, pixels enlarged without smoothing) and the visibility figures
(:func:`ucs_lite.metrics.visibility`). Everything is in the one file: images are embedded as base64
(JPEG thumbnails, lossless PNG zooms), the style is inline, there is no script and no link to the network.
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np

from .data import atomic_write_bytes
from .metrics import JND_DE2000

__all__ = ["preview_entry", "write_preview", "MAX_IMAGES"]

#: at most this many images are shown (a preview of thousands of photos would be a huge file)
MAX_IMAGES = 200


def _data_uri(img: np.ndarray, fmt: str = "PNG", max_side: int | None = None) -> str:
    """uint8 H×W×3 -> ``data:image/...;base64,...`` (shrunk to ``max_side`` on its long side first)."""
    from PIL import Image

    im = Image.fromarray(img)
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {"compress_level": 6}))
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def preview_entry(name: str, clean: np.ndarray, protected: np.ndarray, vis: dict, thumb: int = 480) -> dict:
    """What the preview shows of one image (uint8 H×W×3 clean and protected, ``vis`` from
    :func:`ucs_lite.metrics.visibility`): small embedded images, kept instead of the full photos."""
    y0, x0, bh, bw = vis["changed_box"]
    return {"name": name, "size": [int(clean.shape[1]), int(clean.shape[0])], "visibility": vis,
            "clean": _data_uri(clean, "JPEG", thumb), "protected": _data_uri(protected, "JPEG", thumb),
            "zoom_clean": _data_uri(np.ascontiguousarray(clean[y0:y0 + bh, x0:x0 + bw]), "PNG", 512),
            "zoom_protected": _data_uri(np.ascontiguousarray(protected[y0:y0 + bh, x0:x0 + bw]), "PNG", 512)}


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em}.img{background:#fff;border:1px solid #ddd;padding:1em;margin:1em 0}
.row{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}figure{margin:0}
figcaption{font-size:.85em;color:#555}.thumb{max-width:400px;height:auto}.zooms{display:flex;gap:.5em}
.zoom{width:200px;height:200px;image-rendering:pixelated;object-fit:contain;background:#eee}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
.warn{color:#a40}.ok{color:#060}"""


def _figures_table(v: dict) -> str:
    cls = "ok" if v["de2000_mean"] <= 3 else "warn"
    return ("<table><tr><th>PSNR</th><th>SSIM</th><th>ΔE00 mean</th><th>ΔE00 95th pct.</th>"
            f"<th>pixels ΔE00 &gt; {JND_DE2000}</th></tr><tr><td>{v['psnr']:.1f} dB</td><td>{v['ssim']:.3f}</td>"
            f"<td class='{cls}'>{v['de2000_mean']:.2f}</td><td>{v['de2000_p95']:.2f}</td>"
            f"<td>{100 * v['de2000_share_jnd']:.0f} %</td></tr></table>")


def write_preview(path: str | os.PathLike, entries: list[dict], summary: dict) -> Path:
    """Write the self-contained ``preview.html`` for ``entries`` (from :func:`preview_entry`) atomically;
    ``summary`` gives the strength, ε and counts shown at the top. Returns the path."""
    path = Path(path)
    c = summary.get("construction", {})
    head = (f"<p>{summary.get('written', len(entries))} image(s) protected with strength "
            f"<b>{html.escape(str(summary.get('strength', '?')))}</b> (ε = {summary.get('eps_255', 0):.0f}/255, "
            f"{c.get('cells', '?')} cells, {html.escape(str(c.get('colour', '?')))}"
            f"{', texture mask' if c.get('mask_floor') is not None else ''}). "
            "ΔE00 is the CIEDE2000 colour difference per pixel: about 2.3 is just noticeable side by side; "
            "a mean up to 3 is hard to see in a photo viewed on its own. The zoom shows the region that changed "
            "most, pixels enlarged.</p>")
    shown = entries[:MAX_IMAGES]
    if summary.get("written", len(entries)) > len(shown):
        head += f"<p class='warn'>Showing the first {len(shown)} of {summary['written']} images.</p>"
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>ucs-lite preview</title>",
             f"<style>{_CSS}</style></head><body><h1>ucs-lite: protected images, before and after</h1>", head]
    for e in shown:
        name = html.escape(e["name"])
        y0, x0, bh, bw = e["visibility"]["changed_box"]
        parts.append(
            f"<div class='img'><h2>{name} <small>({e['size'][0]}×{e['size'][1]} px)</small></h2>"
            f"{_figures_table(e['visibility'])}<div class='row'>"
            f"<figure><img class='thumb' src='{e['clean']}' alt='{name}, original'><figcaption>original"
            "</figcaption></figure>"
            f"<figure><img class='thumb' src='{e['protected']}' alt='{name}, protected'><figcaption>protected"
            "</figcaption></figure>"
            f"<div class='zooms'><figure><img class='zoom' src='{e['zoom_clean']}' alt='zoom, original'><figcaption>zoom, original"
            f"<br>{bw}×{bh} px at ({x0}, {y0})</figcaption></figure>"
            f"<figure><img class='zoom' src='{e['zoom_protected']}' alt='zoom, protected'><figcaption>zoom, "
            "protected</figcaption></figure></div></div></div>")
    parts.append("</body></html>")
    atomic_write_bytes(path, "".join(parts).encode("utf-8"))
    return path
