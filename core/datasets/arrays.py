"""Arrays in, Dataset out: validation and normalisation of image/label arrays, the seeded split, and picking.

Every route into the lab ends here: the bundled sets, the user's npz / zip / folder and direct
calls all hand arrays to :func:`dataset_from_arrays`, which checks them (layout, dtype, range,
size, label form) with messages written for the person who chose the data, turns them into
(N, C, H, W) float32 in [0, 1] with labels 0..K-1, and splits off a test set when none is given.
:func:`pick_indices` is the seeded sample of images the pages show.

Memory is bounded: a user file's images are checked against the float32 budget
(``max_bytes``) before any conversion, and the split picks images from the raw array before
each part is converted, so a full float32 copy of the whole set never exists next to its
split. Labeled data may have at most ``core.limits`` ``classes`` classes; the split made here
gives every class of two or more images at least one test image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..limits import MIN_SIDE, LimitError, Limits, limits
from .base import Dataset, DatasetError

__all__ = ["MAX_SIDE", "MIN_SIDE", "current_limits", "dataset_from_arrays", "pick_indices"]

MAX_SIDE = Limits.image_side  # the default; the limit in force is current_limits().image_side


def current_limits() -> Limits:
    """core.limits.limits(), with a badly set variable reported as a DatasetError."""
    try:
        return limits()
    except LimitError as e:
        raise DatasetError(str(e)) from None


def dataset_from_arrays(
    x: Any,
    y: Any = None,
    *,
    x_test: Any = None,
    y_test: Any = None,
    classes: Any = None,
    spec: str = "arrays",
    title: str = "arrays",
    seed: int = 0,
    test_fraction: float = 0.2,
    max_bytes: int | None = None,
) -> Dataset:
    """Validate and normalise image/label arrays into a Dataset, splitting off a test set if none is given.

    ``max_bytes`` (user files) bounds the images' size once converted to float32, checked
    before any conversion.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be between 0 and 1 (got {test_fraction}).")
    if x is None:
        raise DatasetError("No images given: `x` is required.")
    if y_test is not None and x_test is None:
        raise DatasetError("Got test labels `y_test` but no test images `x_test`: add `x_test` or drop `y_test`.")
    if x_test is not None and (y is None) != (y_test is None):
        have, missing = ("y", "y_test") if y is not None else ("y_test", "y")
        raise DatasetError(
            f"Got `{have}` but no `{missing}`: when a separate test set is given, label both splits or neither."
        )
    if classes is not None and y is None:
        raise DatasetError("Got class names (`classes`) but no labels `y`: add `y` or drop `classes`.")

    images = _to_nchw(x, "x")  # still in its own dtype: converted to float32 after the split
    labels = _to_labels(y, "y", len(images)) if y is not None else None

    test_images = test_labels = None
    if x_test is not None:
        test_images = _to_nchw(x_test, "x_test")
        if test_images.shape[1:] != images.shape[1:]:
            raise DatasetError(
                f"`x_test` images are {_chw(test_images.shape[1:])} but `x` images are {_chw(images.shape[1:])}: "
                "both splits must have the same image size and channels."
            )
        if y_test is not None:
            test_labels = _to_labels(y_test, "y_test", len(test_images))
    if max_bytes is not None:
        n_values = images.size + (test_images.size if test_images is not None else 0)
        if 4 * n_values > max_bytes:
            raise DatasetError(
                f"The images take {_mb(4 * n_values)} as float32, over the {_mb(max_bytes)} limit "
                "(LATENT_LAB_MAX_DATA_MB): use fewer or smaller images."
            )

    names: list[str] = []
    if labels is not None:
        labels, test_labels, names = _normalise_classes(labels, test_labels, classes)

    if test_images is None:
        train_idx, test_idx = _split_indices(labels, len(images), test_fraction, seed)
        test_images = _to_float(images[test_idx])
        images = _to_float(images[train_idx])
        if labels is not None:
            test_labels, labels = labels[test_idx], labels[train_idx]
    else:
        images, test_images = _to_float(images), _to_float(test_images)

    return Dataset(
        spec=spec,
        title=title,
        x_train=torch.from_numpy(np.ascontiguousarray(images)),
        y_train=torch.from_numpy(np.ascontiguousarray(labels)) if labels is not None else None,
        x_test=torch.from_numpy(np.ascontiguousarray(test_images)),
        y_test=torch.from_numpy(np.ascontiguousarray(test_labels)) if test_labels is not None else None,
        classes=names,
    )


def _check_side(size: tuple[int, int], label: str) -> None:
    """Refuse images outside MIN_SIDE..image_side pixels on either side; `label` starts the message."""
    w, h = size
    top = current_limits().image_side
    if max(w, h) > top:
        raise DatasetError(
            f"{label} is {w}x{h} pixels (width x height), too large: images may be at most {top}x{top}. "
            "Resize them (e.g. to 28x28, 32x32 or 64x64) before loading."
        )
    if min(w, h) < MIN_SIDE:
        raise DatasetError(
            f"{label} is {w}x{h} pixels (width x height), too small: images must be at least "
            f"{MIN_SIDE}x{MIN_SIDE}. Resize them up before loading."
        )


def _as_numpy(a: Any, what: str) -> np.ndarray:
    """Any array-like (numpy, torch, nested lists) -> numpy array, or a DatasetError."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise DatasetError(f"`{what}` is not a regular array ({e}); all images must have the same shape.") from e


def _to_nchw(a: Any, what: str) -> np.ndarray:
    """Validate images and return them as (N, C, H, W) in their own dtype (a view where possible)."""
    x = _as_numpy(a, what)
    if x.dtype.kind not in "biuf":
        raise DatasetError(
            f"`{what}` has dtype {x.dtype}, not numbers: images must be uint8 (0-255) or float (0-1) arrays."
        )
    if x.ndim == 2:
        raise DatasetError(
            f"`{what}` has shape {x.shape}: images look flattened. Reshape to (N, H, W), "
            f"e.g. x.reshape(-1, 28, 28) for 784 pixels."
        )
    if x.ndim not in (3, 4):
        raise DatasetError(
            f"`{what}` has shape {x.shape} ({x.ndim} dimensions): expected (N, H, W), (N, H, W, C) or (N, C, H, W)."
        )
    if x.shape[0] == 0:
        raise DatasetError(f"`{what}` is empty (0 images): there is nothing to train on.")
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[1] in (1, 3):
        pass  # already channels-first
    elif x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # channels-last -> channels-first
    else:
        raise DatasetError(
            f"`{what}` has shape {x.shape}: images need 1 (grey) or 3 (RGB) channels, as (N, H, W, C) or "
            "(N, C, H, W). Drop an alpha channel with x[..., :3]."
        )
    _, _, h, w = x.shape
    _check_side((w, h), f"Each `{what}` image")
    if x.dtype.kind == "f":
        finite = np.isfinite(x)
        if not finite.all():
            raise DatasetError(f"`{what}` contains NaN or infinite values: clean them out (e.g. np.nan_to_num).")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DatasetError(
                f"`{what}` float values go from {lo:g} to {hi:g}; float images must be in [0, 1]. "
                "Divide 0-255 data by 255 (or save it as uint8), and undo any mean/std normalisation."
            )
        return x
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DatasetError(
                f"`{what}` integer values go from {lo} to {hi}; integer images must be 0-255. "
                "Rescale them, or save floats in [0, 1]."
            )
    return x


def _to_float(x: np.ndarray) -> np.ndarray:
    """Checked (N, C, H, W) images of any accepted dtype -> one C-contiguous float32 array in [0, 1]."""
    if x.dtype == np.float32 and x.flags.c_contiguous:
        return x
    out = np.empty(x.shape, np.float32)  # one allocation, in the layout torch wants
    np.copyto(out, x, casting="unsafe")
    if x.dtype.kind in "iu":
        out /= 255.0
    return out


def _to_labels(a: Any, what: str, n: int) -> np.ndarray:
    """Validate labels for `n` images and return them as int64 (N,)."""
    y = _as_numpy(a, what)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        raise DatasetError(
            f"`{what}` has shape {y.shape}: labels must be one class number per image. "
            "If they are one-hot, use y.argmax(axis=1)."
        )
    if y.ndim != 1:
        raise DatasetError(f"`{what}` has shape {y.shape}: labels must be a 1-D array, one class number per image.")
    if len(y) != n:
        img = "x" if what == "y" else "x_test"
        raise DatasetError(
            f"`{img}` has {n} images but `{what}` has {len(y)} labels: they must match one to one."
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not (y == np.round(y)).all():
            raise DatasetError(
                f"`{what}` has non-integer values (e.g. 0.5 or NaN): labels must be whole class numbers."
            )
    elif y.dtype.kind not in "biu":
        raise DatasetError(
            f"`{what}` has dtype {y.dtype}: labels must be integers 0..K-1. Map names to numbers and "
            "store the names as `classes`."
        )
    y = y.astype(np.int64)
    if (y < 0).any():
        raise DatasetError(f"`{what}` has negative values (smallest {int(y.min())}): labels must be 0 or more.")
    return y


def _normalise_classes(
    y: np.ndarray, y_test: np.ndarray | None, classes: Any
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Make labels 0..K-1 and name the classes; arbitrary label values are remapped and become the names."""
    most = current_limits().classes
    if classes is not None:
        names = [str(c)[:200] for c in (classes.tolist() if isinstance(classes, np.ndarray) else classes)]
        if len(names) > most:
            raise DatasetError(
                f"{len(names):,} class names were given, more than the limit of {most} classes "
                "(LATENT_LAB_MAX_CLASSES): group the labels into fewer classes."
            )
        top = int(max(y.max(), y_test.max() if y_test is not None else 0))
        if top >= len(names):
            raise DatasetError(
                f"Labels go up to {top} but only {len(names)} class names were given: "
                "give one name per class, in label order."
            )
        return y, y_test, names
    values = np.unique(y if y_test is None else np.concatenate([y, y_test]))
    if len(values) > most:
        raise DatasetError(
            f"The labels hold {len(values):,} different classes, more than the limit of {most} "
            "(LATENT_LAB_MAX_CLASSES): group the labels into fewer classes."
        )
    if values[-1] == len(values) - 1:  # already 0..K-1
        return y, y_test, [str(i) for i in range(len(values))]

    def remap(v: np.ndarray) -> np.ndarray:
        return np.searchsorted(values, v).astype(np.int64)  # values is sorted, so this is the rank

    return remap(y), remap(y_test) if y_test is not None else None, [str(int(v)) for v in values]


def _split_indices(
    y: np.ndarray | None, n: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices, stratified by class when labeled; both splits non-empty."""
    if n < 2:
        raise DatasetError("Only 1 image: need at least 2 to make a train and a test split.")
    rng = np.random.default_rng(seed)
    if y is None:
        order = rng.permutation(n)
        n_test = min(max(1, round(n * test_fraction)), n - 1)
        return order[n_test:], order[:n_test]
    _, counts = np.unique(y, return_counts=True)
    train_parts, test_parts = [], []
    order = np.argsort(y, kind="stable")  # one pass over the labels, however many classes there are
    for idx in np.split(order, np.cumsum(counts)[:-1]):
        idx = rng.permutation(idx)
        # Every class with 2 or more images gets at least one test image; a class of one goes to train only.
        k = min(max(1, round(len(idx) * test_fraction)), len(idx) - 1)
        test_parts.append(idx[:k])
        train_parts.append(idx[k:])
    train, test = np.concatenate(train_parts), np.concatenate(test_parts)
    if len(test) == 0:  # every class was a singleton: move one image over so test is not empty
        train, test = train[1:], train[:1]
    # Shuffle so that the splits are not ordered by class (grids and previews show a mix).
    return rng.permutation(train), rng.permutation(test)


def _chw(shape: tuple[int, ...]) -> str:
    """(C, H, W) -> "CxHxW"."""
    return "x".join(str(s) for s in shape)


def _mb(n: int) -> str:
    """Bytes as a short human string: "512 bytes", "3.2 KB", "12.5 MB"."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):,.1f} MB"


def pick_indices(y: torch.Tensor | None, n: int, mode: str = "random", seed: int = 0,
                 n_total: int | None = None) -> torch.Tensor:
    """n seeded image indices: uniformly at random, or round-robin over the classes ("per class")."""
    total = int(n_total if n_total is not None else len(y))
    gen = torch.Generator().manual_seed(seed)
    if mode == "per class" and y is not None:
        classes = torch.unique(y).tolist()
        pools = [torch.nonzero(y == c).flatten() for c in classes]
        pools = [p[torch.randperm(len(p), generator=gen)] for p in pools]
        out = [int(p[i // len(pools)]) for i in range(n) for p in [pools[i % len(pools)]]
               if i // len(pools) < len(p)]
        return torch.tensor(out[:n], dtype=torch.long)
    if mode not in ("random", "per class"):
        raise ValueError(f"mode must be 'random' or 'per class', got {mode!r}")
    return torch.randperm(total, generator=gen)[: min(n, total)]
