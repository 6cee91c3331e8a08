"""ui.figures and ui.images: the latent-space scatter and image grids (pure drawing, no streamlit).

Each test imports its module itself, so one missing module fails its own test, not the collection.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ui.selection import selection_to_indices, trace_index_map


def test_image_grid_shapes_and_padding():
    from ui.images import image_grid

    imgs = torch.zeros(5, 1, 8, 8)
    g = image_grid(imgs, nrow=3, padding=2)
    assert g.dtype == np.uint8 and g.shape == (2 * 10 + 2, 3 * 10 + 2)
    assert g[0, 0] == 255 and g[2, 2] == 0  # white padding, black image
    rgb = image_grid(torch.ones(4, 3, 6, 6), nrow=2, padding=0)
    assert rgb.shape == (12, 12, 3) and rgb.min() == 255
    assert image_grid(torch.rand(1, 8, 8)).shape == (8, 8)  # one (C, H, W) image: no padding
    with pytest.raises(ValueError):
        image_grid(torch.zeros(0, 1, 8, 8))


def test_projection_figure_points_carry_their_index():
    from ui.figures import projection_figure

    rng = np.random.default_rng(0)
    proj = rng.normal(size=(30, 2)).astype(np.float32)
    labels = np.arange(30) % 3
    errors = rng.uniform(size=30)
    fig = projection_figure(proj, labels, ["a", "b", "c"], errors)
    # SVG for a few thousand points (a WebGL context per visit cost the browser more), WebGL beyond.
    assert [t.type for t in fig.data] == ["scatter"] * 3 and [t.name for t in fig.data] == ["a", "b", "c"]
    big = projection_figure(rng.normal(size=(2_001, 2)).astype(np.float32), np.arange(2_001) % 3, ["a", "b", "c"])
    assert {t.type for t in big.data} == {"scattergl"}
    tmap = trace_index_map(labels, 3)
    for c, t in enumerate(fig.data):
        cd = np.asarray(t.customdata)
        assert list(cd[:, 0].astype(int)) == list(tmap[c])  # customdata index == trace map
        assert np.allclose(np.asarray(t.x), proj[tmap[c], 0])
    # A plotly selection of trace 2, point 4 maps the same way with or without customdata.
    pt = {"curve_number": 2, "point_index": 4}
    with_cd = dict(pt, customdata=list(np.asarray(fig.data[2].customdata)[4]))
    assert selection_to_indices([pt], tmap)[0] == selection_to_indices([with_cd])[0] == tmap[2][4]
    by_error = projection_figure(proj, labels, None, errors, color_by="error")
    assert len(by_error.data) == 1 and by_error.data[0].marker.showscale
    three = projection_figure(rng.normal(size=(30, 3)), None)
    assert three.data[0].type == "scatter3d" and len(three.data) == 1
