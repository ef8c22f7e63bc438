"""HTML for the notebooks: predictions with probability bars, tables, and the weights warning.

Functions return HTML strings (easy to test and to put in a widget); ``show`` wraps one for
Jupyter's display. Every piece of text that came from outside (a file name, a label, an error
message) is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from IPython.display import HTML
from PIL import Image, UnidentifiedImageError

from model_server.protocol import UNTRAINED, Prediction, PredictReply, ServerInfo

THUMBNAIL_SIZE = (224, 224)
UNTRAINED_NOTE = (
    "<strong>Untrained weights.</strong> This ResNet50 has seeded random weights, not the "
    "ImageNet ones (<code>LAB_WEIGHTS=random</code> asked for them, or the ImageNet weights were "
    "neither cached nor downloadable). "
    "<strong>Its labels are meaningless; its timings are real</strong>: it does exactly the same "
    "computation. Notebook 01 says how to get the real weights."
)


def weights_note(weights: str | None) -> str:
    """A loud warning for untrained weights, a one-line note otherwise."""
    if weights is None:
        return "<p>The server does not say which weights answered.</p>"
    if weights == UNTRAINED:
        return (f'<div style="border:2px solid #c0392b;background:#fdecea;padding:8px;'
                f'margin:6px 0">&#9888; {UNTRAINED_NOTE}</div>')
    return f"<p>Weights: <code>{html.escape(weights)}</code>: the labels are real predictions.</p>"


def runtime_text(reply: PredictReply | ServerInfo) -> str:
    """Which runtime computed the answer, e.g. "openvino f32"; older servers do not say."""
    if reply.runtime is None:
        return "runtime not reported"
    return f"{reply.runtime} {reply.precision}"


def predictions_html(predictions: Sequence[Prediction]) -> str:
    """The predictions as a table, each with a bar as long as its probability."""
    rows = []
    for p in predictions:
        width = max(0.0, min(100.0, p.probability * 100))
        rows.append(
            f"<tr><td>{html.escape(p.label)}</td><td><code>{html.escape(p.wnid)}</code></td>"
            f'<td style="width:220px"><div style="background:#dde;width:200px;height:12px">'
            f'<div class="bar" style="background:#3b6fb6;width:{width:.1f}%;height:12px"></div>'
            f"</div></td><td style=\"text-align:right\">{p.probability:.1%}</td></tr>"
        )
    return ('<table class="predictions"><tr><th>label</th><th>WordNet id</th>'
            '<th colspan="2">probability</th></tr>' + "".join(rows) + "</table>")


def table_html(rows: Iterable[Mapping[str, Any]], caption: str | None = None) -> str:
    """Rows of equal keys as an HTML table; floats are shown as they are (round them first)."""
    rows = list(rows)
    if not rows:
        return "<p>(no rows)</p>"
    headers = list(rows[0])
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(h, '')))}</td>" for h in headers) + "</tr>"
        for row in rows
    )
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<tr>{head}</tr>{body}</table>"


def thumbnail_data_uri(image: bytes) -> str | None:
    """A small PNG of the image as a ``data:`` URI, or ``None`` if Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(image)) as original:
            original.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            original.convert("RGBA").save(out, format="PNG")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def images_html(paths: Sequence[Path]) -> str:
    """Thumbnails of image files side by side, each with its name and size on disk."""
    figures = []
    for path in paths:
        data = path.read_bytes()
        uri = thumbnail_data_uri(data)
        picture = f'<img src="{uri}" style="max-height:120px">' if uri else "(not an image)"
        figures.append(f'<figure style="display:inline-block;margin:4px 12px 4px 0">{picture}'
                       f"<figcaption>{html.escape(path.name)}, {len(data) / 1024:.0f} KiB</figcaption></figure>")
    return "<div>" + "".join(figures) + "</div>"


def show(markup: str) -> HTML:
    """Jupyter's display object for a piece of HTML (the last expression of a cell shows it)."""
    return HTML(markup)
