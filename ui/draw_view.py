"""The Draw page's parts: the canvas (or a photo), the map with a star, neighbours and probabilities."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.draw import DrawError, image_from_bytes
from core.store import list_runs

from .figures import PALETTE, projection_figure, styled
from .format import plain
from .images import grid_image

CANVAS_PX = 280  # 10 screen pixels per MNIST pixel


def drawing(key: str) -> tuple[np.ndarray | None, str]:
    """The user's picture as an array (None until there is one) and where it came from.

    The canvas is streamlit-drawable-canvas (a kept component, checked in headless
    Chromium with the pinned Streamlit); a photo upload always works, and is the
    fallback if the component is not installed.
    """
    try:
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st_canvas = None
    how = st.radio("Input", ["Draw", "Upload a photo"] if st_canvas else ["Upload a photo"], horizontal=True,
                   key=f"{key}_src", label_visibility="collapsed")
    if how == "Draw":
        st.caption("Draw one digit, big, in the middle. The bin icon above the canvas clears it.")
        st.write("")  # room for the canvas's toolbar, which floats above it
        res = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS_PX,
                        width=CANVAS_PX, drawing_mode="freedraw", return_image_data=True, key=f"{key}_canvas")
        data = res.image_data if res is not None else None
        return (np.asarray(data) if data is not None else None), "drawing"
    up = st.file_uploader("A photo of one digit (PNG or JPEG)", type=["png", "jpg", "jpeg"], key=f"{key}_photo")
    if up is None:
        return None, "photo"
    try:
        return image_from_bytes(up.getvalue()), "photo"
    except DrawError as e:
        st.error(plain(f"{up.name}: {e}", 600))
        return None, "photo"


def map_with_star(layout: np.ndarray, star: np.ndarray, labels: np.ndarray | None, classes: Sequence[str],
                  how: str, height: int = 440) -> go.Figure:
    """The test images' map (by class) with the drawing as a big star."""
    fig = projection_figure(layout, labels, classes, None, "label", height=height)
    fig.add_trace(go.Scatter(x=[star[0]], y=[star[1]], mode="markers", name="your digit",
                             marker={"symbol": "star", "size": 26, "color": "#FFD43B",
                                     "line": {"color": "black", "width": 2}},
                             hovertemplate="your digit<extra></extra>"))
    fig.update_layout(dragmode="pan", showlegend=True, legend={"orientation": "v", "x": 1.0, "y": 1.0,
                                                             "font": {"size": 13}},
                      title={"text": "the 2-D code" if how == "code" else "PCA of the test codes",
                             "font": {"size": 13}})
    return fig


def probs_figure(probs: Sequence[float], classes: Sequence[str], title: str, height: int = 280) -> go.Figure:
    """Class probabilities as bars, the top one highlighted."""
    p = np.asarray(probs, float)
    colours = [PALETTE[0] if i == int(p.argmax()) else "#ADB5BD" for i in range(len(p))]
    fig = go.Figure(go.Bar(x=[str(c) for c in classes], y=p, marker_color=colours, text=[f"{v:.0%}" for v in p],
                           textposition="outside", hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    styled(fig, height, title, legend=False, yaxis_range=[0, 1.15], yaxis_tickformat=".0%")
    fig.update_xaxes(type="category")
    return fig


def image_row(images: Any, captions: Sequence[str], px: int = 84) -> None:
    """Images in one row, each with its own caption under it."""
    for col, img, cap in zip(st.columns(len(captions)), images, captions):
        col.image(grid_image(img[None], nrow=1, scale=max(1, round(px / img.shape[-1]))), caption=plain(cap),
                  output_format="PNG")  # sharp pixels, no JPEG blur


def classifier_runs(shape: Sequence[int]) -> list[dict[str, Any]]:
    """Saved classifiers (newest first) that take images of this shape."""
    return [m for m in list_runs() if "error" not in m and m.get("family") == "classifier"
            and list(m.get("shape", [])) == list(shape)]
