"""Pure drawing helpers (figures and images) plus a few thin Streamlit wrappers."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from core.latent import image_grid

PALETTE = ["#4C6EF5", "#F76707", "#2B8A3E", "#C2255C", "#7048E8", "#1098AD", "#E67700",
           "#5C940D", "#862E9C", "#495057"]


def grid_image(images: torch.Tensor, nrow: int = 8, padding: int = 2, scale: int = 1) -> np.ndarray:
    """core.latent.image_grid, with each pixel repeated ``scale`` times (sharp small images)."""
    arr = image_grid(images, nrow=nrow, padding=padding)
    return arr.repeat(scale, 0).repeat(scale, 1) if scale > 1 else arr


def pairs_rows(preview: torch.Tensor, per_row: int = 8) -> torch.Tensor:
    """[originals; reconstructions] (2N, ...) -> rows alternating originals and their reconstructions."""
    n = preview.shape[0] // 2
    orig, rec = preview[:n], preview[n:]
    rows = [t for i in range(0, n, per_row) for t in (orig[i:i + per_row], rec[i:i + per_row])]
    return torch.cat(rows)


def upscale_for(side: int) -> int:
    """Pixel repeat so small images (8x8 digits) are not blurry blobs on screen."""
    return max(1, math.ceil(56 / side))


def loss_figure(curve: dict[str, list[float]], height: int = 300) -> go.Figure:
    """Loss curves against step; one line per loss part ('loss' drawn bold)."""
    fig = go.Figure()
    steps = curve.get("step", [])
    # A part identical to the total (e.g. a CAE's only term) would just hide under it.
    parts = [(k, v) for k, v in curve.items() if k != "step" and (k == "loss" or v != curve.get("loss"))]
    for i, (k, v) in enumerate(parts):
        fig.add_trace(go.Scatter(x=steps[: len(v)], y=v, name=k, mode="lines",
                                 line={"width": 3 if k == "loss" else 1.5, "color": PALETTE[i % 10]}))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title="step", yaxis_title="loss", legend={"orientation": "h", "y": 1.12},
                      template="plotly_white")
    return fig


def fmt_seconds(s: float | None) -> str:
    """12 -> '0:12', 3725 -> '1:02:05'; None -> '...'."""
    if s is None or not math.isfinite(s):
        return "..."
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def progress_text(snap: dict[str, Any]) -> str:
    """'Epoch 3/12 · step 190/750 · 2,950 img/s · ETA 0:19'."""
    ep = min(int(snap["epoch"]) + 1, int(snap["epochs"]))
    return (f"Epoch {ep}/{snap['epochs']} · step {snap['step']:,}/{snap['total_steps']:,} · "
            f"{snap['images_per_sec']:,.0f} img/s · ETA {fmt_seconds(snap['eta'])}")


def metrics_text(metrics: dict[str, Any]) -> str:
    """One friendly line for a run's test metrics."""
    if "accuracy" in metrics:
        return f"test accuracy **{metrics['accuracy']:.1%}** on {metrics.get('n', 0):,} images"
    if "recon_bce" in metrics:
        approx = " (approximate encoder)" if metrics.get("approximate") else ""
        return (f"test reconstruction BCE **{metrics['recon_bce']:.4f}**/pixel, "
                f"MSE {metrics['recon_mse']:.4f}{approx} on {metrics.get('n', 0):,} images")
    return ""


def bar_figure(labels: list[str], values: list[float], title: str, ytitle: str,
               height: int = 280) -> go.Figure:
    """A simple bar chart (e.g. mean error per class)."""
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=PALETTE[0],
                           hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      yaxis_title=ytitle, template="plotly_white")
    return fig
