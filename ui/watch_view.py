"""Replay the latent map forming: one plotly figure with animation frames, and its Streamlit block.

Left: the probe images' 2-D map at one snapshot; right: the loss curve with a
line at the same step. Plotly's own play button and step slider move both
in the browser (frames update the class traces and the step marker), so
playing costs no rerun.
"""
from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.watch import FILE, Frames, normalised

from .figures import PALETTE, styled

SPAN = 2.5  # axis half-width for the normalised frames (unit spread)
MARKER = "#d62728"


def typed(values: np.ndarray) -> dict[str, str]:
    """A float array as plotly.js's typed-array JSON (base64 float32): what plotly itself sends for arrays."""
    return {"dtype": "f4", "bdata": base64.b64encode(np.ascontiguousarray(values, np.float32).tobytes()).decode()}


class FramedFigure(go.Figure):
    """A figure whose animation frames stay plain dicts until Streamlit serialises it (``to_dict``)."""

    def __init__(self, fig: go.Figure, frames: list[dict[str, Any]]):
        super().__init__(fig)
        self._raw_frames = frames

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "frames": self._raw_frames}


def _groups(labels: np.ndarray | None, classes: Sequence[str] | None, n: int) -> list[tuple[str, np.ndarray, str]]:
    """(name, point indices, colour) per trace: one per class, or one for unlabeled data."""
    if labels is None:
        return [("images", np.arange(n), PALETTE[0])]
    k = max(len(classes or ()), int(labels.max()) + 1 if len(labels) else 0)
    names = [str(c) for c in classes] if classes else [str(i) for i in range(k)]
    return [(names[c] if c < len(names) else str(c), np.flatnonzero(labels == c), PALETTE[c % len(PALETTE)])
            for c in range(k) if (labels == c).any()]


def _map_traces(xy: np.ndarray, groups: list[tuple[str, np.ndarray, str]]) -> list[go.Scatter]:
    """One scatter per class of a snapshot's (N, 2) map."""
    return [go.Scatter(x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name,
                       marker={"size": 5, "color": colour, "opacity": 0.8}, hovertemplate=f"{name}<extra></extra>")
            for name, idx, colour in groups]


def _map_axes(fig: go.Figure, **where: int) -> None:
    """The map's fixed square axes without ticks (frames are normalised to a unit spread)."""
    fig.update_xaxes(range=[-SPAN, SPAN], showticklabels=False, zeroline=False, **where)
    fig.update_yaxes(range=[-SPAN, SPAN], showticklabels=False, zeroline=False, scaleanchor="x", **where)


def watch_figure(frames: Frames, classes: Sequence[str] | None = None,
                 curve: dict[str, Sequence[float]] | None = None, height: int = 460,
                 start: int | None = None) -> go.Figure:
    """The animated figure: map + loss curve, one frame per snapshot, play button and step slider."""
    xy = normalised(frames.xy)  # (T, N, 2)
    t_last = len(frames) - 1
    t0 = t_last if start is None else max(0, min(int(start), t_last))
    groups = _groups(frames.labels, classes, xy.shape[1])
    steps = frames.steps.tolist()
    c_steps = np.asarray((curve or {}).get("step") or steps, float)
    c_loss = np.asarray((curve or {}).get("loss") or frames.loss, float)
    finite = c_loss[np.isfinite(c_loss)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    def loss_at(t: int) -> float:
        return float(frames.loss[t]) if np.isfinite(frames.loss[t]) else float("nan")

    fig = make_subplots(1, 2, column_widths=[0.58, 0.42], horizontal_spacing=0.08,
                        subplot_titles=("Where the probe images sit", "Training loss"))
    for trace in _map_traces(xy[t0], groups):
        fig.add_trace(trace, 1, 1)
    fig.add_trace(go.Scatter(x=c_steps, y=c_loss, mode="lines", name="loss", showlegend=False,
                             line={"color": "#555", "width": 2}, hovertemplate="step %{x}: %{y:.4f}<extra></extra>"),
                  1, 2)
    n_map = len(groups)
    fig.add_trace(go.Scatter(x=[steps[t0], steps[t0]], y=[lo, hi], mode="lines", showlegend=False,
                             line={"color": MARKER, "width": 2, "dash": "dot"}, hoverinfo="skip"), 1, 2)
    fig.add_trace(go.Scatter(x=[steps[t0]], y=[loss_at(t0)], mode="markers", showlegend=False,
                             marker={"color": MARKER, "size": 11}, hoverinfo="skip"), 1, 2)
    moving = [*range(n_map), n_map + 1, n_map + 2]  # the class traces and the step marker
    # Frames as plain JSON-ready dicts, never plotly objects: building 40 frames x 12 traces as objects
    # (even unvalidated) took ~0.1 s of the interpreter lock per figure; see FramedFigure.
    frame_dicts = [{"name": str(t), "traces": moving, "data": [
        *({"type": "scatter", "x": typed(xy[t, idx, 0]), "y": typed(xy[t, idx, 1])} for _, idx, _ in groups),
        {"type": "scatter", "x": [steps[t], steps[t]], "y": [lo, hi]},
        {"type": "scatter", "x": [steps[t]], "y": [loss_at(t)]}]} for t in range(len(frames))]
    anim = {"mode": "immediate", "frame": {"duration": 250, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.075, "xanchor": "left",
                      "yanchor": "top", "pad": {"t": 0, "r": 10}, "showactive": False, "buttons": [
                          {"label": "▶ Play", "method": "animate",
                           "args": [None, anim]},  # always from the first snapshot
                          {"label": "❚❚ Pause", "method": "animate",
                           "args": [[None], {**anim, "frame": {"duration": 0, "redraw": False}}]}]}],
        sliders=[{"active": t0, "x": 0.2, "len": 0.8, "y": -0.02, "yanchor": "top", "pad": {"t": 0},
                  "currentvalue": {"prefix": "step ", "font": {"size": 14}, "xanchor": "right"},
                  "steps": [{"label": str(s), "method": "animate",
                             "args": [[str(t)], {**anim, "frame": {"duration": 0, "redraw": True}}]}
                            for t, s in enumerate(steps)]}])
    styled(fig, height, legend=True)
    fig.update_layout(legend={"orientation": "v", "x": 0.555, "y": 1.0, "xanchor": "right", "font": {"size": 13}},
                      margin={"l": 10, "r": 10, "t": 40, "b": 90})
    _map_axes(fig, row=1, col=1)
    fig.update_xaxes(showgrid=False, row=1, col=2)  # the slider below names the step
    return FramedFigure(fig, frame_dicts)


def caption(frames: Frames, latent_dim: int | None = None) -> str:
    """What the map shows, in a sentence."""
    how = ("the 2-D code itself" if frames.method == "code" else
           "one PCA fitted on the final map and applied to every snapshot")
    return (f"{frames.xy.shape[1]:,} test images encoded at {len(frames)} moments of training, drawn with {how} "
            "(each frame centred and scaled to the same spread). Press ▶ Play or drag the slider: the red "
            "line on the loss curve marks the same step.")


def show_watch(frames: Frames | None, classes: Sequence[str] | None, key: str,
               curve: dict[str, Sequence[float]] | None = None, height: int = 460,
               fig: go.Figure | None = None, note: str | None = None) -> bool:
    """Draw the replay (or ``fig``, with ``note`` under it) in Streamlit; False and nothing drawn without frames."""
    import streamlit as st

    if frames is None or len(frames) == 0:
        return False
    st.plotly_chart(fig or watch_figure(frames, classes, curve, height), key=key, width="stretch",
                    config={"displayModeBar": False})
    st.caption(note or caption(frames))
    return True


def map_figure(frames: Frames, classes: Sequence[str] | None = None, height: int = 400) -> go.Figure:
    """The map at the latest snapshot only: what a running job shows (no frames, no slider).

    A browser draws it in a fraction of the replay's time (the replay carries every snapshot), so a
    class full of tabs watching their trainings does not slow the server's two cores with drawing.
    """
    xy = normalised(frames.xy)[-1]  # (N, 2)
    fig = go.Figure(_map_traces(xy, _groups(frames.labels, classes, xy.shape[0])))
    styled(fig, height, legend=True)
    fig.update_layout(legend={"orientation": "v", "x": 1.0, "y": 1.0, "xanchor": "left", "font": {"size": 13}},
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    _map_axes(fig)
    return fig


def show_live_watch(watch: dict[str, Any], classes: Sequence[str] | None, key: str, job_id: int,
                    running: bool = False, run_path: str | Path | None = None) -> None:
    """A job's map at its latest snapshot (it moves while the job runs), rebuilt only when a new snapshot
    has arrived; once the job has ended and its run is saved, the replay of every snapshot below it, in
    the lazy expander that Runs and Latent space use (built and sent only when opened).

    The replay carries every snapshot (~0.3 MB for 359 points, 43 frames): drawn on every visit to Train
    it was the page's heaviest part for the browser.
    """
    import streamlit as st

    replay = f"{key}_replay"
    if not running and run_path and st.session_state.get(f"{replay}_open") and \
            show_run_watch(run_path, classes, replay):
        return  # opened: the replay ends on the same map, so the map is not drawn twice
    stamp = (job_id, len(watch["steps"]), running)
    cached = st.session_state.get(f"_{key}_fig")
    if cached is None or cached[0] != stamp:
        frames = live_frames(watch)
        cached = (stamp, frames, map_figure(frames, classes))
        st.session_state[f"_{key}_fig"] = cached
    frames = cached[1]
    where = f"Where {frames.xy.shape[1]:,} test images sit at step {int(frames.steps[-1]):,} (snapshot {len(frames)})"
    note = (f"{where}: they are encoded again every few steps, so the map moves as the model learns. When the "
            "training ends, you can replay every snapshot.") if running else f"{where}, the last one."
    show_watch(frames, classes, key, fig=cached[2], note=note)
    if not running and run_path:
        show_run_watch(run_path, classes, replay)


def run_frames(run_path: str | Path) -> Frames | None:
    """The frames a saved run kept (None for runs without them)."""
    return Frames.load(run_path)


def live_frames(watch: dict[str, Any]) -> Frames | None:
    """Frames from a running job's snapshot()['watch'] (None until the first snapshot)."""
    if not watch or not watch.get("steps"):
        return None
    return Frames.from_codes(watch["steps"], watch["codes"], watch["loss"], watch.get("labels"))


def history_curve(meta: dict[str, Any]) -> dict[str, list[float]] | None:
    """A saved run's loss curve (step, loss) from run.json's history."""
    h = meta.get("history") or {}
    return {"step": h["step"], "loss": h["loss"]} if h.get("step") and h.get("loss") else None


def show_run_watch(run_path: str | Path, classes: Sequence[str] | None, key: str, expanded: bool = False) -> bool:
    """The replay of a saved run in an expander (nothing when the run kept no frames).

    The replay is built and sent only while the expander is open (Streamlit's lazy expander): a page
    visit that does not open it costs neither the server nor the browser the figure's every snapshot.
    """
    import streamlit as st

    try:
        stamp = (Path(run_path) / "run.json").stat().st_mtime
    except OSError:
        return False
    if not (Path(run_path) / FILE).is_file():
        return False
    box = st.expander("Replay how the latent map formed during training", expanded=expanded,
                      key=f"{key}_open", on_change="rerun")
    if not box.open:
        return True
    built = _run_replay(str(run_path), stamp, tuple(classes) if classes else None)
    if built is None:
        with box:
            st.caption("This run's snapshots cannot be read.")
        return False
    frames, fig = built
    with box:
        return show_watch(frames, classes, key, fig=fig)


@functools.lru_cache(maxsize=8)
def _run_replay(run_path: str, stamp: float, classes: tuple[str, ...] | None) -> tuple[Frames, go.Figure] | None:
    """A saved run's frames and replay figure, built once per server (~0.25 s each) and shared read-only."""
    import json

    frames = run_frames(run_path)
    if frames is None:
        return None
    try:
        meta = json.loads((Path(run_path) / "run.json").read_text())
    except (OSError, ValueError):
        meta = {}
    return frames, watch_figure(frames, classes, history_curve(meta))
