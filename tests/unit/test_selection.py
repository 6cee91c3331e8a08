"""ui.selection: plotly selection points (as the browser sends them) -> dataset indices."""
from __future__ import annotations

import numpy as np

from ui.selection import selection_to_indices, trace_index_map


def test_selection_with_one_trace_per_class():
    labels = np.array([2, 0, 1, 0, 2, 1, 0])
    tmap = trace_index_map(labels, 3)
    assert [list(t) for t in tmap] == [[1, 3, 6], [2, 5], [0, 4]]
    points = [
        {"curve_number": 0, "point_number": 2, "point_index": 2, "x": 0.1, "y": 0.2},  # -> 6
        {"curve_number": 2, "point_number": 1, "point_index": 1},  # -> 4
        {"curve_number": 1, "point_index": 0},  # -> 2
        {"curve_number": 2, "point_number": 0},  # point_number only -> 0
        {"curve_number": 0, "point_index": 2},  # duplicate -> 6 once
    ]
    idx = selection_to_indices(points, tmap)
    assert idx.dtype == np.int64 and list(idx) == [0, 2, 4, 6]
    # Selecting a whole trace gives exactly the images of its class.
    for c in range(3):
        pts = [{"curve_number": c, "point_index": k} for k in range(len(tmap[c]))]
        assert list(selection_to_indices(pts, tmap)) == list(np.flatnonzero(labels == c))


def test_selection_customdata_wins_over_trace_map():
    tmap = [np.array([5, 6]), np.array([7])]
    points = [
        {"curve_number": 0, "point_index": 0, "customdata": [42, "label 3"]},  # list: first item
        {"curve_number": 1, "point_index": 0, "customdata": 17},  # scalar
        {"curve_number": 1, "point_index": 0, "customdata": 17.0},
        {"curve_number": 0, "point_index": 1},  # no customdata: trace map -> 6
    ]
    assert list(selection_to_indices(points, tmap)) == [6, 17, 42]


def test_selection_customdata_as_sent_by_the_browser():
    """A real event from st.plotly_chart for a figure whose customdata was a numpy (N, 2) array."""
    points = [  # captured with headless Chromium: box selection over projection_figure's traces
        {"curve_number": 0, "point_number": 1, "point_index": 1, "x": 1.30, "y": 0.94,
         "customdata": {"0": 3, "1": 0.7488998174667358}, "text": "a"},
        {"curve_number": 1, "point_number": 4, "point_index": 4, "customdata": {"0": 13, "1": 0.1}},
        {"curve_number": 2, "point_index": 0, "customdata": {}},  # empty: falls back to the trace map
    ]
    tmap = trace_index_map(np.arange(300) % 3, 3)
    assert list(selection_to_indices(points, tmap)) == [2, 3, 13]
    # Without the map, the point indices of the dict-less points would be wrong, the dict ones still right.
    assert list(selection_to_indices(points[:2])) == [3, 13]


def test_selection_drops_stale_and_malformed_points():
    tmap = [np.array([0, 1]), np.array([2])]
    points = [
        {"curve_number": 5, "point_index": 0},  # no such trace
        {"curve_number": 1, "point_index": 3},  # no such point
        {"curve_number": 0},  # no index at all
        {"curve_number": "x", "point_index": 0},
        {"curve_number": 0, "point_index": None},
        "not a dict",
        {"curve_number": 0, "point_index": 0, "customdata": [99]},  # beyond n
        {"curve_number": 0, "point_index": 0, "customdata": [-1]},
        {"curve_number": 1, "point_index": 0},  # valid -> 2
    ]
    assert list(selection_to_indices(points, tmap, n=10)) == [2]
    assert selection_to_indices(None).size == 0 and selection_to_indices([]).size == 0
    # One trace, no map: the point index is the dataset index.
    assert list(selection_to_indices([{"curve_number": 0, "point_index": 4}], n=5)) == [4]
    assert list(selection_to_indices([{"curve_number": 0, "point_index": 5}], n=5)) == []
