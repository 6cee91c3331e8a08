"""Encoded splits: the codes and reconstruction errors of many images, and their disk cache.

Encoding a whole split (up to 70,000 images) is the slow step behind every
latent-space view, so it lives apart from the latent maths in ``core.latent``:
``encode_split`` makes one batched pass that yields codes and, optionally, the
per-image reconstruction error; ``cached_codes`` keeps that pass on disk inside
the run folder (runs are immutable, so cached codes never go stale); and
``noisy_reconstructions`` rebuilds a handful of (optionally corrupted) images
with their errors against the clean ones. Progress goes through a callback;
nothing here knows about the UI.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .latent import _device

# --------------------------------------------------------------------------- encoding a split


@torch.no_grad()
def encode_split(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512,
                 progress: Callable[[int, int], None] | None = None,
                 with_errors: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Codes (N, D) float32 for images x (N, C, H, W); with_errors adds per-image BCE (N,) from the same pass.

    For GANs (``model.approximate_encoder``) the codes come from an optimisation
    per batch and are approximate. A model that reconstructs without a latent
    space (the hybrid classifier) gives (N, 0) codes and its errors.
    ``progress(done, total)`` is called per batch.
    """
    model.eval()
    dev = _device(model)
    n = int(x.shape[0])
    codes: list[np.ndarray] = []
    errors: list[np.ndarray] = []
    done = 0
    if progress:
        progress(0, n)
    for b in x.split(batch_size):
        b = b.to(dev).float()
        if hasattr(model, "encode"):
            z = model.encode(b)  # (B, D)
            codes.append(z.float().cpu().numpy())
            if with_errors:
                errors.append(_bce_per_image(model.decode(z), b))
        elif with_errors:
            errors.append(_bce_per_image(model.reconstruct(b), b))
        done += b.shape[0]
        if progress:
            progress(done, n)
    d = int(getattr(model, "latent_dim", 0))
    out = np.concatenate(codes).astype(np.float32, copy=False) if codes else np.zeros((n if not d else 0, d), np.float32)
    if not with_errors:
        return out
    err = np.concatenate(errors).astype(np.float32, copy=False) if errors else np.zeros(0, np.float32)
    return out, err


def _bce_per_image(recon: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Mean per-pixel BCE of each image (B,), clamped as LatentModel.evaluate does."""
    r = recon.clamp(1e-6, 1 - 1e-6)
    return F.binary_cross_entropy(r, x, reduction="none").flatten(1).mean(1).float().cpu().numpy()


@torch.no_grad()
def recon_errors(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Per-image reconstruction error (N,): binary cross-entropy per pixel, averaged over each image."""
    return encode_split(model, x, batch_size, with_errors=True)[1]


def noisy_reconstructions(model: torch.nn.Module, x: torch.Tensor, noise: float = 0.0,
                          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(inputs fed, reconstructions in [0, 1], per-image BCE per pixel against the clean x) for a few images.

    With ``noise`` > 0 the inputs are x plus seeded Gaussian noise of that
    standard deviation, clamped to [0, 1]; otherwise x itself. The error always
    compares a reconstruction with the clean image, so it shows how well the
    model undoes the corruption. Works for any model with ``reconstruct``.
    """
    fed = x
    if noise > 0:
        fed = (x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(int(seed)))).clamp(0, 1)
    rec = model.reconstruct(fed).detach().clamp(0, 1)
    return fed, rec, _bce_per_image(rec, x)


# --------------------------------------------------------------------------- a cache of codes


def _fingerprint(x: torch.Tensor) -> str:
    """A cheap content hash of an image tensor: its shape plus ~64k evenly spaced values."""
    flat = x.reshape(-1)
    step = max(1, flat.numel() // 65536)
    h = hashlib.sha1(str(tuple(x.shape)).encode())
    h.update(flat[::step].float().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def cache_path(run_path: str | Path, split: str, x: torch.Tensor) -> Path:
    """Where the codes of ``x`` (a split) are cached: <run>/latent-cache/<split>-<fingerprint>.npz."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in split)[:40]
    return Path(run_path) / "latent-cache" / f"{safe}-{_fingerprint(x)}.npz"


def cached_codes(run_path: str | Path | None, model: torch.nn.Module, x: torch.Tensor,
                 split: str = "test", progress: Callable[[int, int], None] | None = None,
                 batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, bool]:
    """(codes, errors, from_cache) for images x, cached on disk inside the run folder.

    Runs are immutable once saved, so the codes of a given set of images never
    go stale; the file name holds a fingerprint of the images, so another
    dataset of the same shape gets its own file. The file is written
    atomically; a run folder that cannot be written to just isn't cached.
    """
    path = cache_path(run_path, split, x) if run_path is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                codes, errors = f["codes"], f["errors"]
            if codes.shape[0] == x.shape[0] and errors.shape == (x.shape[0],):
                if progress:
                    progress(len(codes), len(codes))
                return codes, errors, True
        except (OSError, ValueError, KeyError):
            pass  # damaged cache file: recompute and overwrite it
    codes, errors = encode_split(model, x, batch_size, progress, with_errors=True)
    if path is not None:
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, codes=codes, errors=errors)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # read-only run folder: the codes are still returned
    return codes, errors, False
