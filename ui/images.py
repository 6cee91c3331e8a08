"""Images for the screen: grids of (N, C, H, W) tensors as uint8 pictures, sharp at small sizes.

Sequence samples (a dataset of kind "sequence", stored (1, T, F)) are drawn as
small line plots instead, one line per feature in the app's palette, on a fixed
0..1 scale so an original and its reconstruction compare at a glance. Every
page passes ``kind=ds.kind`` to ``grid_image``, so each draws sequences wherever
it draws images.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def image_grid(images: Any, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> one uint8 picture: (H', W') for grey images, (H', W', 3) for colour.

    Grey stays 2-D so st.image shows it as grayscale; white padding by default
    (a single image comes back as it is, unpadded, as make_grid does).
    """
    from torchvision.utils import make_grid

    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    x = x.detach().float().cpu().clamp(0, 1)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.shape[0] == 0:
        raise ValueError("no images to draw")
    grid = make_grid(x, nrow=max(1, int(nrow)), padding=padding, pad_value=pad_value)  # (3, H', W')
    arr = (grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(arr[:, :, 0] if x.shape[1] == 1 else arr)


def grid_image(images: torch.Tensor, nrow: int = 8, padding: int = 2, scale: int = 1,
               kind: str = "image") -> np.ndarray:
    """image_grid, with each pixel repeated ``scale`` times (sharp small images); sequences as line plots."""
    if kind == "sequence":
        return sequence_grid(images, nrow=nrow, padding=max(padding, 2))
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


PLOT_W, PLOT_H = 120, 64  # one line plot, in screen pixels
_SUPERSAMPLE = 3  # drawn this many times larger, then shrunk: smooth (anti-aliased) lines


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def sequence_plot(sample: Any, width: int = PLOT_W, height: int = PLOT_H) -> np.ndarray:
    """One sequence (C, T, F) with values in [0, 1] -> a (height, width, 3) uint8 line plot, a line per feature."""
    from PIL import Image, ImageDraw

    from .figures import PALETTE

    s = torch.as_tensor(np.asarray(sample) if not isinstance(sample, torch.Tensor) else sample)
    s = s.detach().float().cpu().clamp(0, 1)
    seq = s.permute(1, 0, 2).reshape(s.shape[1], -1).numpy()  # (T, C*F): channels side by side, as models read it
    k = _SUPERSAMPLE
    w, h, pad = width * k, height * k, 3 * k
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, w - 1, h - 1], outline=(210, 210, 210), width=k)
    draw.line([(pad, h // 2), (w - pad, h // 2)], fill=(235, 235, 235), width=k)  # the middle of the 0..1 scale
    steps = seq.shape[0]
    xs = pad + np.arange(steps) * (w - 2 * pad) / max(1, steps - 1)
    for j in range(seq.shape[1]):
        ys = pad + (1.0 - seq[:, j]) * (h - 2 * pad)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=_rgb(PALETTE[j % len(PALETTE)]), width=2 * k,
                  joint="curve")
    return np.asarray(img.resize((width, height), Image.LANCZOS))


def sequence_grid(samples: Any, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Sequences (N, C, T, F) in [0, 1] -> one (H', W', 3) uint8 picture of line plots, ``nrow`` per row."""
    x = samples if isinstance(samples, torch.Tensor) else torch.as_tensor(np.asarray(samples))
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.shape[0] == 0:
        raise ValueError("no sequences to draw")
    grow = 3 if x.shape[0] == 1 else 1  # a lone sequence is a close-up (e.g. one step of a path): draw it bigger
    w, h = PLOT_W * grow, PLOT_H * grow
    tiles = [sequence_plot(s, w, h) for s in x]
    cols = max(1, min(int(nrow), len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    out = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y0, x0 = padding + r * (h + padding), padding + c * (w + padding)
        out[y0:y0 + h, x0:x0 + w] = tile
    return out
