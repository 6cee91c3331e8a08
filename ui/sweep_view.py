"""What-if sweep results: the metric against the knob, and for latent size the compression curve."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from .figures import PALETTE, styled

DEFAULT_VALUES = {"latent_dim": "2, 4, 8, 16, 32", "beta": "0.5, 1, 2, 4", "noise": "0, 0.2, 0.4, 0.6",
                  "sparsity": "0, 0.05, 0.2", "lam": "0, 0.5, 1, 2", "dropout": "0, 0.3, 0.6"}


def metric_of(row: dict[str, Any]) -> tuple[str, float | None]:
    """(name, value) of a finished training's headline test metric."""
    m = row["metrics"]
    if "accuracy" in m:
        return "test accuracy", m["accuracy"]
    return "test reconstruction error (BCE per pixel)", m.get("recon_bce")


def metric_figure(rows: Sequence[dict[str, Any]], knob_label: str, height: int = 340) -> go.Figure:
    """The headline metric of each finished training against the knob's value."""
    done = sorted((r for r in rows if r["status"] == "finished"), key=lambda r: r["value"])
    name = metric_of(done[0])[0] if done else "metric"
    fig = go.Figure(go.Scatter(x=[r["value"] for r in done], y=[metric_of(r)[1] for r in done],
                               mode="lines+markers+text", text=[f"{metric_of(r)[1]:.4g}" for r in done],
                               textposition="top center", line={"color": PALETTE[0], "width": 3},
                               marker={"size": 10}, hovertemplate="%{x:g}: %{y:.4f}<extra></extra>"))
    log = len(done) > 2 and min(r["value"] for r in done) > 0 and \
        max(r["value"] for r in done) / min(r["value"] for r in done) >= 8
    styled(fig, height, legend=False, xaxis_title=knob_label, yaxis_title=name,
           xaxis_type="log" if log else "linear")
    if log:
        fig.update_xaxes(tickvals=[r["value"] for r in done], ticktext=[f"{r['value']:g}" for r in done])
    return fig


def compression_figure(table: Sequence[dict[str, Any]], height: int = 360) -> go.Figure:
    """Reconstruction error against the code's bytes, with the image's PNG and raw bytes as lines."""
    fig = go.Figure(go.Scatter(x=[r["code bytes"] for r in table], y=[r["test BCE"] for r in table],
                               mode="lines+markers+text", text=[f"latent {r['latent size']}" for r in table],
                               textposition="top right", line={"color": PALETTE[0], "width": 3},
                               marker={"size": 10}, name="autoencoder code (float32)",
                               hovertemplate="%{x} bytes: BCE %{y:.4f}<extra></extra>"))
    if table:
        ys = [r["test BCE"] for r in table if r["test BCE"] is not None]
        lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        # Reference lines as traces: on a log axis, plotly reads shape and annotation x as log10.
        for x, name, colour in ((table[0]["PNG bytes"], "PNG of the image", PALETTE[1]),
                                (table[0]["raw bytes"], "raw 8-bit pixels", PALETTE[2])):
            fig.add_trace(go.Scatter(x=[x, x], y=[lo, hi], mode="lines+text", name=name,
                                     text=["", f"{name}: {x:,} bytes"], textposition="top left",
                                     textfont={"color": colour, "size": 13}, hoverinfo="skip",
                                     line={"color": colour, "dash": "dash", "width": 2}))
    styled(fig, height, legend=False, xaxis_title="bytes per image (log scale)",
           yaxis_title="test reconstruction error (BCE per pixel)", xaxis_type="log")
    return fig
