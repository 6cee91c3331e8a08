"""Drawn digits made MNIST-style, photos read safely, and the small maths on codes."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from core.draw import (DrawError, image_from_bytes, ink, knn_probs, mnist_style, nearest, percentile_of,
                       place_on_map)


def _stroke(h=280, w=280, box=(40, 100, 200, 160)) -> np.ndarray:
    """A white bar on black, RGBA like the canvas sends."""
    a = np.zeros((h, w, 4), np.uint8)
    a[..., 3] = 255
    y0, x0, y1, x1 = box
    a[y0:y1, x0:x1, :3] = 255
    return a


def test_mnist_style_fits_a_20px_box_and_centres_the_mass():
    out = mnist_style(_stroke(box=(10, 10, 170, 70)))  # a tall bar in the top-left corner
    assert out.shape == (28, 28) and 0 <= out.min() and out.max() <= 1
    rows, cols = np.flatnonzero(out.max(1) > 0.15), np.flatnonzero(out.max(0) > 0.15)
    assert rows[-1] - rows[0] + 1 in (19, 20, 21)  # the long side fills the 20-pixel box
    assert cols[-1] - cols[0] + 1 < 12  # aspect kept: the bar stays narrow
    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_an_mnist_digit_survives_the_preprocessing():
    from core.datasets import load_dataset
    x = load_dataset("mnist5k").x_train[:20, 0].numpy()
    corr = []
    for img in x:
        out = mnist_style((img * 255).astype(np.uint8))
        corr.append(np.corrcoef(out.ravel(), img.ravel())[0, 1])
    assert np.median(corr) > 0.8 and min(corr) > 0.5  # already MNIST-style: roughly unchanged


def test_dark_ink_on_paper_is_inverted_and_8x8_gets_a_6px_box():
    paper = np.full((100, 100), 230, np.uint8)
    paper[20:80, 45:55] = 20  # a dark "1"
    g = ink(paper)
    assert g[50, 50] > 0.9 and g[5, 5] < 0.05
    out = mnist_style(paper, side=8)
    assert out.shape == (8, 8)
    rows = np.flatnonzero(out.max(1) > 0.15)
    assert rows[-1] - rows[0] + 1 <= 7


def test_transparent_png_strokes_are_the_ink():
    a = np.zeros((50, 50, 4), np.uint8)
    a[10:40, 20:30] = (0, 0, 0, 255)  # black strokes on a see-through background
    g = ink(a)
    assert g[20, 25] == pytest.approx(1.0) and g[0, 0] == 0


@pytest.mark.parametrize("blank", [np.zeros((50, 50), np.uint8), np.full((50, 50, 4), 255, np.uint8)])
def test_nothing_drawn_is_a_one_line_message(blank):
    with pytest.raises(DrawError, match="nothing drawn"):
        mnist_style(blank)


def test_photos_are_read_and_bad_files_refused():
    buf = io.BytesIO()
    paper = np.full((600, 400), 240, np.uint8)
    paper[100:500, 180:220] = 10
    Image.fromarray(paper).save(buf, format="JPEG")
    g = image_from_bytes(buf.getvalue())
    assert max(g.shape) <= 512 and g.max() > 0.9
    with pytest.raises(DrawError, match="not an image"):
        image_from_bytes(b"GIF89a this is not really a picture")
    huge = io.BytesIO()
    Image.new("1", (8000, 6000)).save(huge, format="PNG")  # 48 MP, a few KB on disk
    with pytest.raises(DrawError, match="megapixels"):
        image_from_bytes(huge.getvalue())


def test_nearest_knn_map_and_percentile():
    codes = np.array([[0, 0], [1, 0], [5, 5], [6, 5]], np.float32)
    idx, d = nearest(codes, np.array([0.9, 0.1]), 2)
    assert list(idx) == [1, 0] and d[0] < d[1]
    p = knn_probs(codes, np.array([0, 0, 1, 1]), np.array([5.5, 5.0]), 3, k=2)
    assert p.tolist() == [0.0, 1.0, 0.0]
    lay, star, how = place_on_map(codes, np.array([1.0, 0.0]))
    assert how == "code" and star.tolist() == [1.0, 0.0] and lay.shape == (4, 2)
    rng = np.random.default_rng(0)
    big = rng.normal(size=(50, 6))
    lay, star, how = place_on_map(big, big[3])
    assert how == "pca" and np.allclose(star, lay[3], atol=1e-5)
    assert percentile_of(2.5, [1, 2, 3, 4]) == 50.0
