"""Self-contained HTML reports that open offline: images as embedded PNG, plotly.js inlined once per page.

Used by the demo (``runs/demo-*/report.html``); anything that writes a page for a person to read can use it.
"""
from __future__ import annotations

import base64
import html
import os
from typing import Callable, Sequence

import numpy as np

from .files import png_bytes

__all__ = ["png_bytes", "png_data_uri", "image_tag", "figure_div", "html_table", "write_page"]

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; } th, td { padding: 4px 10px; border-bottom: 1px solid #e5e5e5;
       text-align: right; } th { background: #f6f6f6; } td:first-child, th:first-child { text-align: left; }
img.px { image-rendering: pixelated; } .note { color: #555; font-size: 0.92em; }
figure { display: inline-block; margin: 0.4em 1em 0.4em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #444; max-width: 420px; }
"""


def png_data_uri(img: np.ndarray, scale: int = 1) -> str:
    """``data:image/png;base64,...`` of one uint8 image (see :func:`png_bytes`)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img, scale)).decode("ascii")


def image_tag(img: np.ndarray, caption: str = "", scale: int = 1) -> str:
    """An ``<img>`` with the image embedded (pixelated when upscaled), wrapped in a captioned figure."""
    cls = ' class="px"' if scale > 1 else ""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img{cls} src="{png_data_uri(img, scale)}" alt="{html.escape(caption)}">{cap}</figure>'


def figure_div(fig, include_plotlyjs: bool) -> str:
    """A plotly figure as an HTML fragment; ``include_plotlyjs`` inlines plotly.js (do it for the first
    figure of a page only: every later figure reuses it), so the page needs no network."""
    return fig.to_html(full_html=False, include_plotlyjs=bool(include_plotlyjs), config={"displaylogo": False})


def html_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, Callable | None]]) -> str:
    """A plain HTML table. ``columns``: (key, header, formatter or None) per column; numbers default to 3
    decimals, missing values print as —."""
    def cell(v, fmt):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "—"
        if fmt is not None:
            return fmt(v)
        return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(k), f)}</td>" for k, _, f in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_page(path: str | os.PathLike, title: str, body: Sequence[str]) -> None:
    """Write one self-contained HTML page (atomically) from HTML fragments."""
    from .data import atomic_write_bytes

    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>")
    atomic_write_bytes(path, page.encode("utf-8"))
