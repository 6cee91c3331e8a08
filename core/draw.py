"""A drawn or photographed digit, made to look like an MNIST digit, and what a model makes of it.

MNIST's digits were made this way (LeCun et al.): the ink is cropped, scaled
to fit a 20x20 box keeping its aspect ratio (with anti-aliasing, so grey
edges), then placed in a 28x28 field so that its centre of mass sits at the
centre. ``mnist_style`` does the same, scaled to the model's image side (an
8x8 model gets a 6x6 box). Dark ink on light paper (a photo) is inverted
automatically. The rest is small maths on codes: the nearest training
images, a k-NN vote, where a new code lands on a map, and how unusual its
reconstruction error is.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from scipy import ndimage

MAX_PIXELS = 40_000_000  # a photo larger than this (e.g. a decompression bomb) is refused before decoding
WORK_SIDE = 512  # big photos are shrunk to this before preprocessing


class DrawError(ValueError):
    """An input image that cannot be used, with a one-line reason."""


def image_from_bytes(data: bytes) -> np.ndarray:
    """An uploaded photo -> ink intensity (H, W) float32 in [0, 1]; DrawError if it is not a usable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise DrawError(f"the image is {w}x{h} pixels; the largest accepted is {MAX_PIXELS // 1_000_000} "
                            "megapixels")
        img.draft("L", (WORK_SIDE, WORK_SIDE))  # JPEG: decode at a reduced size, cheap
        img.thumbnail((WORK_SIDE, WORK_SIDE))
        arr = np.asarray(img.convert("RGBA"))
    except DrawError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DrawError(f"not an image that can be read (PNG or JPEG): {type(e).__name__}") from None
    return ink(arr)


def ink(img: np.ndarray) -> np.ndarray:
    """An RGB(A) or grey picture (uint8 or float) -> ink intensity (H, W) in [0, 1], ink bright on black.

    With a see-through background (a canvas or PNG drawing) the alpha channel
    is the ink; otherwise the brightness, inverted when the border is light
    (dark ink on paper), with the paper's grey stretched away.
    """
    a = np.asarray(img)
    if a.ndim not in (2, 3) or a.size == 0:
        raise DrawError(f"expected a picture (height, width[, channels]), got shape {a.shape}")
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 or a.max() > 1.0 else 1.0)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3]
        rgb = a[..., :3].mean(-1)
        if alpha.min() < 0.99:  # transparent background: ink = how opaque and how far from the background
            strokes = rgb[alpha > 0.5]
            bright = strokes.mean() > 0.5 if strokes.size else True
            return (alpha * (rgb if bright else 1 - rgb)).clip(0, 1)
        a = a[..., :3]
    g = a.mean(-1) if a.ndim == 3 else a
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:
        g = 1.0 - g  # dark ink on light paper
    lo, hi = np.percentile(g, 50), g.max()
    if hi - lo < 0.1:
        return np.zeros_like(g)  # no contrast: nothing drawn
    return ((g - lo) / (hi - lo)).clip(0, 1)


def mnist_style(img: np.ndarray, side: int = 28, threshold: float = 0.15) -> np.ndarray:
    """Crop to the ink, fit a (20/28 x side) box keeping the aspect, centre of mass to the centre: (side, side)."""
    from PIL import Image

    g = ink(img)
    if (g > threshold).sum() < 3:
        raise DrawError("nothing drawn yet: draw a digit (or upload a photo of one)")
    mask = g > 0.05  # the crop keeps the faint anti-aliased edge, as MNIST's 20x20 box does
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    box = max(2, round(side * 20 / 28))
    h, w = crop.shape
    f = box / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS),
                       np.float32) / 255.0
    out = np.zeros((side, side), np.float32)
    top, left = (side - nh) // 2, (side - nw) // 2
    out[top:top + nh, left:left + nw] = small
    cy, cx = ndimage.center_of_mass(out)
    dy, dx = round(side / 2 - cy), round(side / 2 - cx)  # MNIST's mean centre of mass is (14, 14)
    out = ndimage.shift(out, (dy, dx), order=0, mode="constant", cval=0.0)
    return out.clip(0, 1).astype(np.float32)


def nearest(codes: np.ndarray, z: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the k codes nearest to z (closest first)."""
    d = np.linalg.norm(np.asarray(codes, np.float32) - np.asarray(z, np.float32)[None], axis=1)
    idx = np.argsort(d, kind="stable")[:k]
    return idx, d[idx]


def knn_probs(codes: np.ndarray, labels: np.ndarray, z: np.ndarray, n_classes: int, k: int = 25) -> np.ndarray:
    """Class probabilities from a k-nearest-neighbour vote in code space (n_classes,), summing to 1."""
    idx, _ = nearest(codes, z, k)
    counts = np.bincount(np.asarray(labels)[idx], minlength=n_classes)[:n_classes].astype(np.float64)
    return counts / counts.sum()


def place_on_map(codes: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(layout of the codes (N, 2), the new code's point (2,), how): the code itself in 2-D, else PCA of the codes."""
    codes = np.asarray(codes, np.float64)
    z = np.asarray(z, np.float64).reshape(1, -1)
    if codes.shape[1] <= 2:
        pad = (lambda a: np.hstack([a, np.zeros((len(a), 2 - a.shape[1]))]))
        return pad(codes).astype(np.float32), pad(z)[0].astype(np.float32), "code"
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="covariance_eigh").fit(codes)
    return pca.transform(codes).astype(np.float32), pca.transform(z)[0].astype(np.float32), "pca"


def percentile_of(value: float, values: Any) -> float:
    """The share of ``values`` below ``value``, in percent (how unusual a reconstruction error is)."""
    v = np.asarray(values, np.float64)
    return float((v < value).mean() * 100.0) if v.size else float("nan")
