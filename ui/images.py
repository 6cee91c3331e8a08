"""Images for the screen: grids of (N, C, H, W) tensors as uint8 pictures, sharp at small sizes."""
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


def grid_image(images: torch.Tensor, nrow: int = 8, padding: int = 2, scale: int = 1) -> np.ndarray:
    """image_grid, with each pixel repeated ``scale`` times (sharp small images)."""
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
