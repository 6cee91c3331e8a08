"""Every plotly figure of the app, with one palette and one layout helper.

Pure functions of plain data (no Streamlit): loss curves, bars, the latent
scatter, the comparison's curves, confusion matrices and sweep. Classes are
coloured with plotly's own qualitative D3 palette (10 distinct colours), so
neighbouring clusters can be told apart.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from .selection import trace_index_map

PALETTE: list[str] = list(qualitative.D3)  # 10 distinct colours, class k -> PALETTE[k % 10]
ROLE_COLORS = {"cnn": PALETTE[1], "hybrid": PALETTE[0]}
ROLE_TITLES = {"cnn": "plain CNN", "hybrid": "AE+CNN hybrid"}
UNSELECTED_OPACITY = 0.3  # points outside a box/lasso selection fade but stay visible
SVG_MAX_POINTS = 2_000  # above this, a projection is drawn with WebGL (scattergl)


def styled(fig: go.Figure, height: int, title: str | None = None, legend: bool = True,
           **layout: Any) -> go.Figure:
    """The house layout: white template, tight margins, a horizontal legend above the plot."""
    fig.update_layout(height=height, template="plotly_white", title=title,
                      margin={"l": 10, "r": 10, "t": 40 if title else 30, "b": 10}, **layout)
    if legend:
        fig.update_layout(legend={"orientation": "h", "y": 1.12})
    return fig


def loss_figure(curve: dict[str, list[float]], height: int = 300, unit: str = "") -> go.Figure:
    """Loss curves against step; one line per loss part ('loss' drawn bold); ``unit`` titles the y axis."""
    fig = go.Figure()
    steps = curve.get("step", [])
    # A part identical to the total (e.g. a CAE's only term) would just hide under it.
    parts = [(k, v) for k, v in curve.items() if k != "step" and (k == "loss" or v != curve.get("loss"))]
    for i, (k, v) in enumerate(parts):
        fig.add_trace(go.Scatter(x=steps[: len(v)], y=v, name=k, mode="lines",
                                 line={"width": 3 if k == "loss" else 1.5, "color": PALETTE[i % 10]}))
    return styled(fig, height, xaxis_title="step", yaxis_title=f"loss ({unit})" if unit else "loss")


def quality_figure(curve: dict[str, list[float]], height: int = 300) -> go.Figure:
    """Sample quality against step: FD (left axis, log) and precision, recall, class coverage (right, 0-1)."""
    fig = go.Figure()
    steps = curve.get("step", [])
    fig.add_trace(go.Scatter(x=steps, y=curve.get("fd", []), name="FD", mode="lines+markers",
                             line={"width": 3, "color": PALETTE[0]}))
    for i, (k, name) in enumerate((("precision", "precision"), ("recall", "recall"),
                                   ("class_coverage", "classes covered")), start=1):
        fig.add_trace(go.Scatter(x=steps, y=curve.get(k, []), name=name, mode="lines+markers", yaxis="y2",
                                 line={"width": 1.5, "color": PALETTE[i], "dash": "dot"}))
    return styled(fig, height, xaxis_title="step", yaxis={"title": "FD (lower is better)", "type": "log"},
                  yaxis2={"title": "share", "overlaying": "y", "side": "right", "range": [0, 1.05],
                          "tickformat": ".0%", "showgrid": False})


def bar_figure(labels: list[str], values: list[float], title: str, ytitle: str,
               height: int = 280) -> go.Figure:
    """A simple bar chart (e.g. mean error per class)."""
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=PALETTE[0],
                           hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    return styled(fig, height, title, legend=False, yaxis_title=ytitle)


def projection_figure(proj: Any, labels: Any | None = None, classes: Sequence[str] | None = None,
                      errors: Any | None = None, color_by: str = "label", height: int = 560) -> go.Figure:
    """A scatter of a 2-D (WebGL) or 3-D projection; every point carries its dataset index.

    color_by="label": one trace per class (trace k holds class k, in index order:
    see ``ui.selection.trace_index_map``); "error": one trace coloured by
    reconstruction error. customdata = [index, error], so a selection maps back
    to dataset indices without a trace map.
    """
    p = np.asarray(proj, dtype=np.float32)
    n, dim = p.shape
    idx = np.arange(n)
    err = np.asarray(errors, dtype=np.float32) if errors is not None else np.full(n, np.nan, np.float32)
    custom = np.column_stack([idx, err])  # (N, 2): dataset index, error
    hover = "#%{customdata[0]}" + (" · %{text}" if labels is not None else "") + \
        (" · error %{customdata[1]:.4f}" if errors is not None else "") + "<extra></extra>"
    names = [str(c) for c in classes] if classes else None

    def trace(sel: np.ndarray, **kw: Any) -> Any:
        text = None
        if labels is not None:
            y = np.asarray(labels)[sel]
            text = [names[v] if names and 0 <= v < len(names) else str(v) for v in y.tolist()]
        xyz = {"x": p[sel, 0], "y": p[sel, 1]}
        if dim == 3:
            return go.Scatter3d(**xyz, z=p[sel, 2], mode="markers", customdata=custom[sel], text=text,
                                hovertemplate=hover, **kw)
        return scatter(**xyz, mode="markers", customdata=custom[sel], text=text, hovertemplate=hover,
                            selected={"marker": {"opacity": 1.0}},
                            unselected={"marker": {"opacity": UNSELECTED_OPACITY}}, **kw)

    # SVG up to a few thousand points: a WebGL context per page visit cost the browser more than drawing them.
    scatter = go.Scattergl if n > SVG_MAX_POINTS else go.Scatter
    fig = go.Figure()
    size = 3 if n > 20_000 else 4 if n > 3_000 else 6
    if color_by == "label" and labels is not None:
        k = len(names) if names else int(np.asarray(labels).max()) + 1
        for c, sel in enumerate(trace_index_map(labels, k)):
            fig.add_trace(trace(sel, name=names[c] if names else str(c),
                                marker={"size": size, "color": PALETTE[c % len(PALETTE)], "opacity": 0.85}))
    else:
        marker: dict[str, Any] = {"size": size, "opacity": 0.85}
        if color_by == "error" and errors is not None:
            marker.update(color=err, colorscale="Viridis", showscale=True,
                          colorbar={"title": {"text": "error"}, "thickness": 12})
        else:
            marker["color"] = PALETTE[0]
        fig.add_trace(trace(idx, name="images", showlegend=False, marker=marker))
    styled(fig, height, legend=False, legend_itemsizing="constant",
           dragmode="select" if dim == 2 else "orbit", uirevision="keep")
    fig.update_layout(margin={"t": 36})  # room for the toolbar above the legend
    if dim == 2:
        fig.update_xaxes(showticklabels=False, title=None)
        fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x", scaleratio=1)
    return fig


def curves_figure(curves: dict[str, list[dict[str, list[float]]]], height: int = 320) -> go.Figure:
    """Evaluation accuracy against step: one line per model and seed (role -> list of curves)."""
    fig = go.Figure()
    for role, per_seed in curves.items():
        name = ROLE_TITLES.get(role, role)
        for i, c in enumerate(per_seed):
            fig.add_trace(go.Scatter(x=c.get("step", []), y=c.get("accuracy", []), mode="lines+markers",
                                     name=name, legendgroup=role, showlegend=i == 0,
                                     line={"color": ROLE_COLORS.get(role), "width": 2}, marker={"size": 4},
                                     hovertemplate=f"{name}, seed {i + 1}<br>step %{{x}}: %{{y:.1%}}<extra></extra>"))
    return styled(fig, height, xaxis_title="optimiser step", yaxis_title="accuracy", yaxis_tickformat=".1%")


def confusion_figure(matrix: list[list[int]], classes: list[str], title: str, height: int = 360) -> go.Figure:
    """A confusion-matrix heatmap (rows: true class, columns: predicted)."""
    fig = go.Figure(go.Heatmap(z=matrix, x=classes, y=classes, colorscale="Blues", showscale=False,
                               text=matrix, texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    styled(fig, height, title, legend=False, xaxis_title="predicted", yaxis_title="true",
           yaxis_autorange="reversed")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def sweep_figure(rows: list[dict[str, Any]], height: int = 340) -> go.Figure:
    """Mean accuracy (error bars: std over seeds) against labels per class, for both models."""
    x = [str(r["labels_per_class"]) for r in rows]
    fig = go.Figure()
    for role in ROLE_TITLES:
        fig.add_trace(go.Scatter(x=x, y=[r[role]["mean"] for r in rows], name=ROLE_TITLES[role],
                                 mode="lines+markers", line={"color": ROLE_COLORS[role], "width": 2},
                                 error_y={"type": "data", "array": [r[role]["std"] for r in rows]}))
    return styled(fig, height, xaxis_title="labels per class", xaxis_type="category",
                  yaxis_title="test accuracy", yaxis_tickformat=".0%")


PROBE_COLORS = {"codes": PALETTE[0], "pixels": PALETTE[7], "pca": PALETTE[1]}
PROBE_TITLES = {"codes": "the model's codes", "pixels": "raw pixels", "pca": "PCA of the pixels (same size)"}


def probe_figure(by_labels: dict[str, dict[str, float]], height: int = 340) -> go.Figure:
    """Probe accuracy against labels per class: a line per representation, solid = linear, dashed = k-NN."""
    levels = list(by_labels)
    fig = go.Figure()
    for rep, colour in PROBE_COLORS.items():
        prefix = "" if rep == "codes" else f"{rep}_"
        for clf, dash in (("linear", "solid"), ("knn", "dash")):
            key = f"{prefix}{clf}"
            if not all(key in by_labels[lv] for lv in levels):
                continue
            name = f"{PROBE_TITLES[rep]}, {'logistic regression' if clf == 'linear' else 'k-NN'}"
            fig.add_trace(go.Scatter(x=levels, y=[by_labels[lv][key] for lv in levels], name=name,
                                     mode="lines+markers", line={"color": colour, "dash": dash, "width": 2},
                                     hovertemplate=f"{name}<br>%{{x}} labels per class: %{{y:.1%}}<extra></extra>"))
    styled(fig, height, legend=False, xaxis_title="labeled training images per class", xaxis_type="category",
           yaxis_title="test accuracy", yaxis_tickformat=".0%")
    fig.update_layout(legend={"orientation": "v", "x": 1.02, "y": 1.0})
    return fig


NORMAL_COLOR, ANOMALY_COLOR = PALETTE[0], PALETTE[3]  # blue for normal, red for anomalous


def roc_figure(fpr: Sequence[float], tpr: Sequence[float], auc: float,
               point: tuple[float, float] | None = None, height: int = 340) -> go.Figure:
    """An ROC curve with its AUC, the chance diagonal, and the operating point of a threshold."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUC 0.5)",
                             line={"color": "#bbbbbb", "dash": "dash", "width": 1}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=list(fpr), y=list(tpr), mode="lines", name=f"ROC (AUC {auc:.3f})",
                             line={"color": PALETTE[0], "width": 2.5}, fill="tozeroy",
                             fillcolor="rgba(31, 119, 180, 0.08)",
                             hovertemplate="false alarms %{x:.1%}<br>anomalies found %{y:.1%}<extra></extra>"))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="at the threshold",
                                 marker={"color": ANOMALY_COLOR, "size": 11, "symbol": "x"}))
    styled(fig, height, xaxis_title="false-positive rate", yaxis_title="true-positive rate (recall)")
    # Inside, bottom right: the one corner a useful ROC curve leaves empty.
    fig.update_layout(legend={"orientation": "v", "x": 0.98, "y": 0.03, "xanchor": "right", "yanchor": "bottom",
                              "bgcolor": "rgba(255, 255, 255, 0.85)"})
    fig.update_xaxes(range=[-0.01, 1.01], tickformat=".0%")
    fig.update_yaxes(range=[-0.01, 1.01], tickformat=".0%")
    return fig


def score_histogram(normal: Sequence[float], anomalous: Sequence[float], threshold: float | None = None,
                    xtitle: str = "anomaly score", height: int = 340) -> go.Figure:
    """Overlaid histograms of the scores of normal and anomalous images, and the threshold as a line."""
    lo = float(min(np.min(normal), np.min(anomalous)))
    hi = float(max(np.max(normal), np.max(anomalous)))
    bins = {"start": lo, "end": hi, "size": (hi - lo) / 60 or 1.0}  # the same bins for both
    fig = go.Figure()
    for vals, name, color in ((normal, "normal", NORMAL_COLOR), (anomalous, "anomalous", ANOMALY_COLOR)):
        fig.add_trace(go.Histogram(x=list(vals), name=f"{name} ({len(vals):,})", xbins=bins, opacity=0.6,
                                   marker_color=color, histnorm="percent",
                                   hovertemplate=f"{name}: %{{y:.1f}}% at %{{x}}<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold, line={"color": "#333333", "dash": "dot", "width": 2})
    styled(fig, height, barmode="overlay", xaxis_title=xtitle, yaxis_title="% of their group")
    fig.update_layout(legend={"orientation": "v", "x": 0.98, "y": 0.98, "xanchor": "right", "yanchor": "top",
                              "bgcolor": "rgba(255, 255, 255, 0.85)"})
    return fig


def benchmark_figure(rows: list[dict[str, Any]], score: str, height: int = 320) -> go.Figure:
    """AUC per normal class for the chosen score, beside the Deep SVDD reference where there is one."""
    x = [str(r["class"]) for r in rows]
    fig = go.Figure(go.Bar(x=x, y=[r[score] for r in rows], name="this autoencoder", marker_color=PALETTE[0],
                           hovertemplate="normal %{x}: AUC %{y:.3f}<extra></extra>"))
    if any(r.get("deep_svdd") is not None for r in rows):
        fig.add_trace(go.Bar(x=x, y=[r.get("deep_svdd") for r in rows], name="Deep SVDD (Ruff et al. 2018)",
                             marker_color="#bbbbbb", hovertemplate="Deep SVDD, %{x}: %{y:.3f}<extra></extra>"))
    styled(fig, height, barmode="group", xaxis_title="normal class", xaxis_type="category", yaxis_title="ROC AUC")
    lo = min([r[score] for r in rows] + [r["deep_svdd"] for r in rows if r.get("deep_svdd") is not None])
    fig.update_yaxes(range=[max(0.0, min(0.8, lo - 0.05)), 1.0])
    return fig
