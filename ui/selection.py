"""Browser selections on a latent-space scatter -> dataset indices.

``st.plotly_chart(..., on_select="rerun")`` hands back the selected points as
dicts (trace number, point number, maybe the point's customdata); these pure
functions map them to the indices of the images in the dataset split, so they
can be tested without a browser. No streamlit import here.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

ArrayLike = Any  # np.ndarray | torch.Tensor | nested lists


def trace_index_map(labels: ArrayLike | None, n_classes: int | None = None) -> list[np.ndarray]:
    """Dataset indices held by each trace of a one-trace-per-class figure (trace k = class k)."""
    if labels is None:
        raise ValueError("labels are needed to build per-class traces")
    y = np.asarray(labels).astype(np.int64)
    k = int(n_classes if n_classes is not None else (y.max() + 1 if y.size else 0))
    return [np.flatnonzero(y == c) for c in range(k)]


def _point_customdata(point: dict[str, Any]) -> int | None:
    """The dataset index a point carries in customdata (scalar or first item), if any."""
    cd = point.get("customdata")
    if cd is None:
        return None
    if isinstance(cd, dict):
        # A figure built from numpy arrays ships customdata as a typed array, and
        # the browser hands each point's row back as {"0": index, "1": ...}.
        if not cd:
            return None
        cd = cd.get("0", cd.get(0, next(iter(cd.values()))))
    if isinstance(cd, (list, tuple, np.ndarray)):
        if len(cd) == 0:
            return None
        cd = cd[0]
    try:
        v = float(cd)
    except (TypeError, ValueError):
        return None
    return int(v) if v.is_integer() else None


def selection_to_indices(selection_points: Iterable[dict[str, Any]] | None,
                         trace_index_map: Sequence[Sequence[int]] | None = None,
                         n: int | None = None) -> np.ndarray:
    """Dataset indices (sorted, unique, int64) of the points of a plotly selection.

    Each point is a dict as in ``st.plotly_chart(..., on_select="rerun")``'s
    ``event.selection.points``: it has ``curve_number`` and ``point_index`` (or
    ``point_number``), and ``customdata`` when the figure carries it (a list, a
    scalar, or {"0": ..., "1": ...} for customdata sent as a numpy array). A point's
    customdata (the dataset index) wins; otherwise trace_index_map[curve][point]
    maps it (one trace per class), or the point index is the dataset index when
    no map is given (one trace). Points that do not map (a stale selection from
    an older figure, out of range, malformed) are dropped; ``n`` bounds the indices.
    """
    out: list[int] = []
    for p in selection_points or []:
        if not isinstance(p, dict):
            continue
        idx = _point_customdata(p)
        if idx is None:
            pi = p.get("point_index", p.get("point_number"))
            if pi is None or isinstance(pi, bool):
                continue
            try:
                pi = int(pi)
            except (TypeError, ValueError):
                continue
            if trace_index_map is None:
                idx = pi
            else:
                try:
                    curve = int(p.get("curve_number", 0))
                except (TypeError, ValueError):
                    continue
                if not (0 <= curve < len(trace_index_map)) or not (0 <= pi < len(trace_index_map[curve])):
                    continue
                idx = int(trace_index_map[curve][pi])
        if idx < 0 or (n is not None and idx >= n):
            continue
        out.append(idx)
    return np.unique(np.asarray(out, dtype=np.int64))
