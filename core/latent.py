"""Latent maths: encode and decode a few images, interpolate, sample, traverse, do arithmetic.

Everything takes a ``LatentModel`` (``encode``, ``decode``, ``prior_sample``) and
plain tensors or arrays, and returns images as (N, C, H, W) float tensors in
[0, 1] on the CPU, or numpy arrays for codes. These are the small, interactive
operations behind the Generate page; encoding whole splits (and caching their
codes) lives in ``core.codes``, exports in ``core.exports``, projections in
``core.projection``. Nothing here knows about the UI.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

ArrayLike = Any  # np.ndarray | torch.Tensor | nested lists

# --------------------------------------------------------------------------- helpers


def _device(model: torch.nn.Module) -> torch.device:
    """Where the model's weights live."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _as_codes(z: ArrayLike, model: torch.nn.Module | None = None) -> torch.Tensor:
    """Codes as a float32 tensor on the model's device."""
    t = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z, dtype=torch.float32)
    return t.to(_device(model)) if model is not None else t


def _as_batch(x: ArrayLike) -> torch.Tensor:
    """Images as a float (B, C, H, W) tensor; a single (C, H, W) image gets a batch axis."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.float()
    return t.unsqueeze(0) if t.dim() == 3 else t


@torch.no_grad()
def decode(model: torch.nn.Module, z: ArrayLike, batch_size: int = 1024) -> torch.Tensor:
    """Codes (N, D) or (D,) -> images (N, C, H, W) in [0, 1] on the CPU (eval mode)."""
    model.eval()
    zt = _as_codes(z, model)
    if zt.dim() == 1:
        zt = zt.unsqueeze(0)
    return torch.cat([model.decode(b).clamp(0, 1).float().cpu() for b in zt.split(batch_size)])


@torch.no_grad()
def encode(model: torch.nn.Module, x: ArrayLike) -> torch.Tensor:
    """Images (B, C, H, W) or one (C, H, W) -> codes (B, D) on the model's device (eval mode)."""
    model.eval()
    # GANs optimise their codes inside encode() under their own enable_grad().
    return model.encode(_as_batch(x).to(_device(model)))


@torch.no_grad()
def reconstruct(model: torch.nn.Module, x: ArrayLike) -> torch.Tensor:
    """decode(encode(x)) for a handful of images, (B, C, H, W) in [0, 1] on the CPU."""
    return decode(model, encode(model, x))


# --------------------------------------------------------------------------- interpolation


def lerp(z0: ArrayLike, z1: ArrayLike, n: int) -> torch.Tensor:
    """n points on the straight line from z0 to z1 (endpoints included): (n, *z0.shape)."""
    a, b = _as_codes(z0), _as_codes(z1)
    if a.shape != b.shape:
        raise ValueError(f"z0 and z1 differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if n < 2:
        raise ValueError("interpolation needs at least 2 steps")
    t = torch.linspace(0, 1, n).view(n, *([1] * a.dim()))  # (n, 1, ..., 1)
    out = (1 - t) * a + t * b
    out[0], out[-1] = a, b  # exact endpoints, whatever the rounding
    return out


def slerp(z0: ArrayLike, z1: ArrayLike, n: int, eps: float = 1e-4) -> torch.Tensor:
    """n points on the great-circle arc from z0 to z1 (White 2016): (n, *z0.shape), endpoints exact.

    Interpolates along the last axis, so (D,) and batches (B, D) both work. Where
    z0 and z1 are nearly parallel (or one is zero) it falls back to lerp. For
    codes of equal norm every point keeps that norm; a straight line would pass
    closer to the origin, where a Gaussian prior puts little mass.
    """
    a, b = _as_codes(z0), _as_codes(z1)
    if a.shape != b.shape:
        raise ValueError(f"z0 and z1 differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if n < 2:
        raise ValueError("interpolation needs at least 2 steps")
    a64, b64 = a.double(), b.double()
    na, nb = a64.norm(dim=-1, keepdim=True), b64.norm(dim=-1, keepdim=True)  # (..., 1)
    cos = ((a64 / na.clamp_min(1e-30)) * (b64 / nb.clamp_min(1e-30))).sum(-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cos)  # (..., 1) angle between the codes
    so = torch.sin(omega)
    t = torch.linspace(0, 1, n, dtype=torch.float64).view(n, *([1] * a.dim()))  # (n, 1, ..., 1)
    degenerate = (so < eps) | (na < 1e-12) | (nb < 1e-12)
    safe = torch.where(degenerate, torch.ones_like(so), so)
    w0 = torch.where(degenerate, 1 - t, torch.sin((1 - t) * omega) / safe)
    w1 = torch.where(degenerate, t, torch.sin(t * omega) / safe)
    out = (w0 * a64 + w1 * b64).to(a.dtype)
    out[0], out[-1] = a, b
    return out


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


@torch.no_grad()
def interpolate(model: torch.nn.Module, x0: ArrayLike, x1: ArrayLike, n: int = 8,
                method: str = "slerp") -> torch.Tensor:
    """Decode n codes between the codes of images x0 and x1: (n, C, H, W); the ends are their reconstructions."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; choose lerp or slerp")
    z = encode(model, torch.cat([_as_batch(x0), _as_batch(x1)]))  # (2, D)
    return decode(model, INTERPOLATIONS[method](z[0], z[1], n))


def random_pair(labels: ArrayLike, class_a: int, class_b: int, seed: int = 0) -> tuple[int, int]:
    """Indices of one random image of class_a and one of class_b (different images)."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    ia, ib = np.flatnonzero(y == class_a), np.flatnonzero(y == class_b)
    if ia.size == 0 or ib.size == 0:
        missing = class_a if ia.size == 0 else class_b
        raise ValueError(f"there is no image of class {missing} in this split")
    i = int(rng.choice(ia))
    rest = ib[ib != i]
    if rest.size == 0:
        raise ValueError("need two different images for an interpolation")
    return i, int(rng.choice(rest))


# --------------------------------------------------------------------------- sampling


def prior_label(model: torch.nn.Module) -> str:
    """What ``sample`` draws from: "N(0, I) prior", "VampPrior" or "Gaussian fitted to the training codes"."""
    from .models import LatentModel

    if type(model).prior_sample is LatentModel.prior_sample:
        return "Gaussian fitted to the training codes"
    if getattr(getattr(model, "config", None), "prior", "normal") == "vamp":
        return "VampPrior (mixture over learned pseudo-images)"
    return "N(0, I) prior"


@torch.no_grad()
def sample(model: torch.nn.Module, n: int = 16, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
    """n images (n, C, H, W) decoded from the model's prior, noise scaled by temperature; seeded."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not temperature >= 0:
        raise ValueError("temperature must be >= 0")
    model.eval()
    dev = _device(model)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    return decode(model, model.prior_sample(n, temperature, gen))


# --------------------------------------------------------------------------- manifold grid, traversal


def principal_directions(codes: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The codes' two principal directions (2, D) (unit rows) and their standard deviations (2,)."""
    from sklearn.decomposition import PCA

    c = np.asarray(codes, dtype=np.float64)
    if c.shape[1] < 2:
        raise ValueError("a manifold grid needs a latent space of at least 2 dimensions")
    pca = PCA(n_components=2, svd_solver="full").fit(c)
    return pca.components_, np.sqrt(pca.explained_variance_)


def manifold_codes(codes: ArrayLike, dims: tuple[int, int] | None = None, n: int = 15,
                   span: float = 2.0) -> np.ndarray:
    """Codes (n*n, D) on a grid over two latent dims (others at the mean) or the two principal directions.

    Each axis spans -span..+span standard deviations of the codes around their mean.
    Row-major like an image: columns move along the first axis (left to right),
    rows along the second (top is +span, as on a plot). dims=None uses the
    principal directions, except for a 2-D latent, whose own axes give the classic map.
    """
    c = np.asarray(codes, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 2:
        raise ValueError("need a (N, D) array of at least 2 codes")
    if n < 2:
        raise ValueError("the grid needs at least 2 steps per side")
    d = c.shape[1]
    mean = c.mean(0)
    if dims is None and d == 2:
        dims = (0, 1)
    if dims is not None:
        i, j = (int(v) for v in dims)
        if not (0 <= i < d and 0 <= j < d) or i == j:
            raise ValueError(f"dims must be two different latent dimensions in 0..{d - 1}, got {dims}")
        axes = np.zeros((2, d))
        axes[0, i], axes[1, j] = 1.0, 1.0
        std = c[:, [i, j]].std(0)
    else:
        axes, std = principal_directions(c)
    std = np.where(std > 0, std, 1.0)
    steps = np.linspace(-span, span, n)
    u = np.tile(steps, n)  # (n*n,) first axis varies fastest: columns
    v = np.repeat(steps[::-1], n)  # second axis: rows, top row = +span
    grid = mean + (u * std[0])[:, None] * axes[0] + (v * std[1])[:, None] * axes[1]
    return grid.astype(np.float32)


def manifold_grid(model: torch.nn.Module, codes: ArrayLike, dims: tuple[int, int] | None = None,
                  n: int = 15, span: float = 2.0) -> torch.Tensor:
    """Decoded manifold grid: images (n*n, C, H, W), see ``manifold_codes``."""
    return decode(model, manifold_codes(codes, dims, n, span))


def dim_stats(codes: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of the codes, each (D,) (slider centres and ranges)."""
    c = np.asarray(codes, dtype=np.float64)
    return c.mean(0).astype(np.float32), c.std(0).astype(np.float32)


def top_variance_dims(codes: ArrayLike, k: int) -> np.ndarray:
    """Indices of the k latent dimensions with the largest variance, largest first."""
    var = np.asarray(codes, dtype=np.float64).var(0)
    order = np.argsort(-var, kind="stable")
    return order[: max(0, int(k))]


def with_values(base_code: ArrayLike, values: dict[int, float]) -> torch.Tensor:
    """A copy of base_code (D,) with some dimensions set: {dim: value}."""
    z = _as_codes(base_code).clone().reshape(-1)
    for i, v in values.items():
        if not 0 <= int(i) < z.numel():
            raise ValueError(f"latent dimension {i} out of range 0..{z.numel() - 1}")
        z[int(i)] = float(v)
    return z


def traverse(model: torch.nn.Module, base_code: ArrayLike, values: dict[int, float]) -> torch.Tensor:
    """Decode base_code (D,) with dimensions set to values {dim: value}: one image (C, H, W)."""
    return decode(model, with_values(base_code, values))[0]


def traversal_strip(model: torch.nn.Module, base_code: ArrayLike, dim: int, lo: float, hi: float,
                    n: int = 9) -> torch.Tensor:
    """n images (n, C, H, W) sweeping one dimension of base_code from lo to hi."""
    z = _as_codes(base_code).reshape(1, -1).repeat(n, 1)
    z[:, int(dim)] = torch.linspace(float(lo), float(hi), n)
    return decode(model, z)


# --------------------------------------------------------------------------- latent arithmetic


def class_means(codes: ArrayLike, labels: ArrayLike, n_classes: int | None = None) -> np.ndarray:
    """Mean code of each class (K, D); a class with no codes gets a row of NaN."""
    c = np.asarray(codes, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if len(c) != len(y):
        raise ValueError(f"{len(c)} codes but {len(y)} labels")
    k = int(n_classes if n_classes is not None else (y.max() + 1 if y.size else 0))
    sums = np.zeros((k, c.shape[1]))
    np.add.at(sums, y, c)
    counts = np.bincount(y, minlength=k)[:k].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[counts == 0] = np.nan
    return means.astype(np.float32)


def arithmetic_code(z_a: ArrayLike, label_a: int, label_b: int, means: ArrayLike) -> torch.Tensor:
    """z_a - mean[label_a] + mean[label_b]: keep what is particular to the image, swap the class."""
    m = _as_codes(means)
    if not (0 <= label_a < len(m) and 0 <= label_b < len(m)):
        raise ValueError(f"classes must be in 0..{len(m) - 1}")
    if torch.isnan(m[label_a]).any() or torch.isnan(m[label_b]).any():
        raise ValueError("one of the two classes has no codes in this split")
    return _as_codes(z_a).reshape(-1) - m[label_a] + m[label_b]


def latent_arithmetic(model: torch.nn.Module, x_a: ArrayLike, label_a: int, label_b: int,
                      means: ArrayLike) -> torch.Tensor:
    """Image (C, H, W) decoded from encode(x_a) - mean[label_a] + mean[label_b]."""
    z_a = encode(model, x_a)[0].cpu()
    return decode(model, arithmetic_code(z_a, label_a, label_b, means))[0]
