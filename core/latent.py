"""Moving through a latent space: encode a split, interpolate, sample, traverse, grids, exports.

Everything takes a ``LatentModel`` (``encode``, ``decode``, ``prior_sample``) and
plain tensors or arrays, and returns images as (N, C, H, W) float tensors in
[0, 1] on the CPU, or numpy arrays for codes. Nothing here knows about the UI:
``encode_split`` reports progress through a callback, and the plotly selection
mapping is a pure function of the selection's point dicts.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

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


# --------------------------------------------------------------------------- encoding a split


@torch.no_grad()
def encode_split(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512,
                 progress: Callable[[int, int], None] | None = None,
                 with_errors: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Codes (N, D) float32 for images x (N, C, H, W); with_errors adds per-image BCE (N,) from the same pass.

    For GANs (``model.approximate_encoder``) the codes come from an optimisation
    per batch and are approximate. ``progress(done, total)`` is called per batch.
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
        z = model.encode(b)  # (B, D)
        codes.append(z.float().cpu().numpy())
        if with_errors:
            errors.append(_bce_per_image(model.decode(z), b))
        done += b.shape[0]
        if progress:
            progress(done, n)
    d = int(getattr(model, "latent_dim", 0))
    out = np.concatenate(codes).astype(np.float32, copy=False) if codes else np.zeros((0, d), np.float32)
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


@torch.no_grad()
def reconstruct(model: torch.nn.Module, x: ArrayLike) -> torch.Tensor:
    """decode(encode(x)) for a handful of images, (B, C, H, W) in [0, 1] on the CPU."""
    return decode(model, encode(model, x))


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
    """What ``sample`` draws from: "N(0, I) prior" or "Gaussian fitted to the training codes"."""
    from .models import LatentModel

    if type(model).prior_sample is LatentModel.prior_sample:
        return "Gaussian fitted to the training codes"
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


# --------------------------------------------------------------------------- drawing


def image_grid(images: ArrayLike, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] -> one uint8 picture: (H', W') for grey images, (H', W', 3) for colour.

    Grey stays 2-D so st.image shows it as grayscale; white padding by default
    (a single image comes back as it is, unpadded, as make_grid does).
    """
    from torchvision.utils import make_grid

    x = _as_batch(images).detach().float().cpu().clamp(0, 1)
    if x.shape[0] == 0:
        raise ValueError("no images to draw")
    grid = make_grid(x, nrow=max(1, int(nrow)), padding=padding, pad_value=pad_value)  # (3, H', W')
    arr = (grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(arr[:, :, 0] if x.shape[1] == 1 else arr)


# --------------------------------------------------------------------------- plotly selections


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


# --------------------------------------------------------------------------- the scatter figure

PALETTE = ["#4C6EF5", "#F76707", "#2B8A3E", "#C2255C", "#7048E8", "#1098AD", "#E67700",
           "#5C940D", "#862E9C", "#495057"]


def projection_figure(proj: ArrayLike, labels: ArrayLike | None = None,
                      classes: Sequence[str] | None = None, errors: ArrayLike | None = None,
                      color_by: str = "label", height: int = 560) -> Any:
    """A plotly scatter of a 2-D (WebGL) or 3-D projection; every point carries its dataset index.

    color_by="label": one trace per class (trace k holds class k, in index order:
    see ``trace_index_map``); "error": one trace coloured by reconstruction error.
    customdata = [index, error], so ``selection_to_indices`` needs no trace map.
    """
    import plotly.graph_objects as go

    p = np.asarray(proj, dtype=np.float32)
    n, dim = p.shape
    idx = np.arange(n)
    err = np.asarray(errors, dtype=np.float32) if errors is not None else np.full(n, np.nan, np.float32)
    custom = np.column_stack([idx, err])  # (N, 2): dataset index, error
    hover = "#%{customdata[0]}" + (" · %{text}" if labels is not None else "") + \
        (" · error %{customdata[1]:.4f}" if errors is not None else "") + "<extra></extra>"
    names = [str(c) for c in classes] if classes else None

    def trace(sel: np.ndarray, **kw: Any) -> Any:
        text = None
        if labels is not None:
            y = np.asarray(labels)[sel]
            text = [names[v] if names and 0 <= v < len(names) else str(v) for v in y.tolist()]
        xyz = {"x": p[sel, 0], "y": p[sel, 1]}
        if dim == 3:
            return go.Scatter3d(**xyz, z=p[sel, 2], mode="markers", customdata=custom[sel], text=text,
                                hovertemplate=hover, **kw)
        return go.Scattergl(**xyz, mode="markers", customdata=custom[sel], text=text,
                            hovertemplate=hover, **kw)

    fig = go.Figure()
    size = 3 if n > 20_000 else 4 if n > 3_000 else 6
    if color_by == "label" and labels is not None:
        k = len(names) if names else int(np.asarray(labels).max()) + 1
        for c, sel in enumerate(trace_index_map(labels, k)):
            fig.add_trace(trace(sel, name=names[c] if names else str(c),
                                marker={"size": size, "color": PALETTE[c % len(PALETTE)], "opacity": 0.8}))
    else:
        marker: dict[str, Any] = {"size": size, "opacity": 0.8}
        if color_by == "error" and errors is not None:
            marker.update(color=err, colorscale="Viridis", showscale=True,
                          colorbar={"title": {"text": "error"}, "thickness": 12})
        else:
            marker["color"] = PALETTE[0]
        fig.add_trace(trace(idx, name="images", showlegend=False, marker=marker))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, template="plotly_white",
                      legend={"itemsizing": "constant"},
                      dragmode="select" if dim == 2 else "orbit", uirevision="keep")
    if dim == 2:
        fig.update_xaxes(showticklabels=False, title=None)
        fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x", scaleratio=1)
    return fig


# --------------------------------------------------------------------------- exports


def _clean_text(s: Any) -> str:
    """A value safe for one TSV cell: tabs and newlines become spaces."""
    return " ".join(str(s).split()) if any(ch in str(s) for ch in "\t\r\n") else str(s)


def export_csv(codes: ArrayLike, proj: ArrayLike | None = None, labels: ArrayLike | None = None,
               errors: ArrayLike | None = None, classes: Sequence[str] | None = None,
               index: ArrayLike | None = None) -> str:
    """CSV text, one row per image: index, label, class, error, x, y[, z], z0..z{D-1}."""
    import pandas as pd

    c = np.asarray(codes, dtype=np.float32)
    n = c.shape[0]
    cols: dict[str, Any] = {"index": np.arange(n) if index is None else np.asarray(index)}
    if labels is not None:
        y = np.asarray(labels).astype(np.int64)
        cols["label"] = y
        if classes:
            cols["class"] = [classes[v] if 0 <= v < len(classes) else str(v) for v in y]
    if errors is not None:
        cols["recon_error"] = np.asarray(errors, dtype=np.float32)
    if proj is not None:
        p = np.asarray(proj, dtype=np.float32)
        if p.shape[0] != n:
            raise ValueError(f"{n} codes but {p.shape[0]} projected points")
        for j, name in enumerate("xyz"[: p.shape[1]]):
            cols[name] = p[:, j]
    for j in range(c.shape[1]):
        cols[f"z{j}"] = c[:, j]
    for k, v in cols.items():
        if len(v) != n:
            raise ValueError(f"column {k!r} has {len(v)} rows, the codes have {n}")
    return pd.DataFrame(cols).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def export_projector_tsv(codes: ArrayLike, labels: ArrayLike | None = None,
                         classes: Sequence[str] | None = None,
                         extra: dict[str, ArrayLike] | None = None) -> tuple[str, str]:
    """TensorBoard Embedding Projector files: (vectors TSV, metadata TSV).

    Vectors: one row of tab-separated numbers per image, no header. Metadata:
    one row per image; a single column (the class name) has no header row, as
    the projector expects, more columns (label, class, extra ones) get one.
    """
    c = np.asarray(codes, dtype=np.float32)
    buf = io.StringIO()
    np.savetxt(buf, c, fmt="%.6g", delimiter="\t")
    vectors = buf.getvalue()
    n = c.shape[0]
    meta: dict[str, list[str]] = {}
    if labels is not None:
        y = np.asarray(labels).astype(np.int64)
        if classes:
            meta["class"] = [_clean_text(classes[v]) if 0 <= v < len(classes) else str(v) for v in y]
        else:
            meta["label"] = [str(v) for v in y]
    for k, v in (extra or {}).items():
        meta[_clean_text(k)] = [_clean_text(s) for s in np.asarray(v).tolist()]
    if not meta:
        meta["index"] = [str(i) for i in range(n)]
    for k, v in meta.items():
        if len(v) != n:
            raise ValueError(f"metadata column {k!r} has {len(v)} rows, the codes have {n}")
    names = list(meta)
    if len(names) == 1:
        lines = meta[names[0]]
    else:
        lines = ["\t".join(names)] + ["\t".join(row) for row in zip(*(meta[k] for k in names))]
    return vectors, "\n".join(lines) + "\n"
