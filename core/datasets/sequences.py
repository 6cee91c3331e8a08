"""Sequence data: signals and sensor traces (N, T, F), and the bundled "waves" set.

A sequence dataset is a Dataset whose ``kind`` is "sequence" and whose samples
are stored as (1, T, F): T steps of F features, scaled to [0, 1] per feature,
so every model reads them as it reads an image of T rows (the sequence
autoencoder step by step) and every page can tell them apart and draw them as
line plots. An .npz says it holds sequences with a ``kind`` entry of
"sequence" (``numpy.savez(path, x=signals, y=labels, kind="sequence")``); a
3-D ``x`` is an image stack otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from .arrays import _as_numpy, _normalise_classes, _split_indices, _to_labels
from .base import Dataset, DatasetError

__all__ = ["KINDS", "MAX_FEATURES", "MAX_STEPS", "WAVE_CLASSES", "load_waves", "read_kind", "sequences_from_arrays"]

KINDS = ("image", "sequence")
MIN_STEPS, MAX_STEPS = 4, 1024
MAX_FEATURES = 64
WAVE_CLASSES = ("sine", "square", "triangle", "sawtooth")


def read_kind(value: Any, shown: str) -> str:
    """The ``kind`` entry of an .npz ("image" when absent), or a DatasetError naming the valid ones."""
    if value is None:
        return "image"
    a = np.asarray(value)
    if a.size == 1 and a.dtype.kind in "US":
        text = a.reshape(()).item()
        text = (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).strip().lower()
        if text in KINDS:
            return text
    raise DatasetError(f"'kind' in {shown} must be the text \"image\" or \"sequence\" "
                       f"(e.g. numpy.savez(path, x=signals, kind=\"sequence\")), got {str(a)[:40]!r}.")


def _to_ntf(a: Any, what: str) -> np.ndarray:
    """Validate sequences and return them as float64 (N, T, F)."""
    x = _as_numpy(a, what)
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"`{what}` has dtype {x.dtype}, not numbers: sequences must be numeric arrays.")
    if x.ndim == 2:
        x = x[:, :, None]  # (N, T): one feature per step
    if x.ndim != 3:
        raise DatasetError(f"`{what}` has shape {x.shape}: sequences must be (N, T, F) "
                           "(samples, steps, features) or (N, T) for one feature.")
    n, t, f = x.shape
    if n == 0:
        raise DatasetError(f"`{what}` is empty (0 sequences): there is nothing to train on.")
    if not MIN_STEPS <= t <= MAX_STEPS:
        raise DatasetError(f"`{what}` sequences have {t} steps; use {MIN_STEPS} to {MAX_STEPS} "
                           "(cut long recordings into windows).")
    if not 1 <= f <= MAX_FEATURES:
        raise DatasetError(f"`{what}` sequences have {f} features per step; at most {MAX_FEATURES} are supported.")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DatasetError(f"`{what}` contains NaN or infinite values: clean them out (e.g. np.nan_to_num).")
    return x


def sequences_from_arrays(x: Any, y: Any = None, *, x_test: Any = None, y_test: Any = None,
                          classes: Any = None, spec: str = "arrays", title: str = "arrays", seed: int = 0,
                          test_fraction: float = 0.2, value_range: tuple[float, float] | None = None) -> Dataset:
    """Sequences (N, T, F) (+ labels) -> a Dataset of kind "sequence", (N, 1, T, F) scaled to [0, 1] per feature.

    Each feature is scaled by the smallest and largest value it takes in the
    given data (both splits), or by ``value_range`` when given, so models that
    predict values in [0, 1] fit any units; a constant feature becomes 0.5.
    """
    if y_test is not None and x_test is None:
        raise DatasetError("Got test labels `y_test` but no test sequences `x_test`: add `x_test` or drop `y_test`.")
    if x_test is not None and (y is None) != (y_test is None):
        raise DatasetError("Label both splits (`y` and `y_test`) or neither.")
    if classes is not None and y is None:
        raise DatasetError("Got class names (`classes`) but no labels `y`: add `y` or drop `classes`.")
    seqs = _to_ntf(x, "x")
    labels = _to_labels(y, "y", len(seqs)) if y is not None else None
    test_seqs = test_labels = None
    if x_test is not None:
        test_seqs = _to_ntf(x_test, "x_test")
        if test_seqs.shape[1:] != seqs.shape[1:]:
            raise DatasetError(f"`x_test` is {test_seqs.shape[1]} steps x {test_seqs.shape[2]} features but `x` "
                               f"is {seqs.shape[1]} x {seqs.shape[2]}: both splits must match.")
        if y_test is not None:
            test_labels = _to_labels(y_test, "y_test", len(test_seqs))
    names: list[str] = []
    if labels is not None:
        labels, test_labels, names = _normalise_classes(labels, test_labels, classes)
    both = seqs if test_seqs is None else np.concatenate([seqs, test_seqs])
    if value_range is not None:
        lo, hi = np.full(both.shape[2], float(value_range[0])), np.full(both.shape[2], float(value_range[1]))
    else:
        lo, hi = both.min(axis=(0, 1)), both.max(axis=(0, 1))  # (F,) each
    span = np.where(hi > lo, hi - lo, 1.0)

    def scale(a: np.ndarray) -> np.ndarray:
        out = np.where(hi > lo, (a - lo) / span, 0.5)
        return np.clip(out, 0.0, 1.0).astype(np.float32)[:, None]  # (N, 1, T, F)

    seqs = scale(seqs)
    if test_seqs is None:
        train_idx, test_idx = _split_indices(labels, len(seqs), test_fraction, seed)
        test_seqs, seqs = seqs[test_idx], seqs[train_idx]
        if labels is not None:
            test_labels, labels = labels[test_idx], labels[train_idx]
    else:
        test_seqs = scale(test_seqs)

    def tensor(a: np.ndarray | None) -> torch.Tensor | None:
        return torch.from_numpy(np.ascontiguousarray(a)) if a is not None else None

    return Dataset(spec=spec, title=title, x_train=tensor(seqs), y_train=tensor(labels), x_test=tensor(test_seqs),
                   y_test=tensor(test_labels), classes=names, kind="sequence")


def wave_arrays(n_per_class: int = 500, steps: int = 64, noise: float = 0.05,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy waveforms (N, steps, 1) in [0, 1] and labels: sine, square, triangle, sawtooth.

    Each signal has a random frequency (1 to 3 cycles per window), phase and
    amplitude, plus Gaussian noise; the same seed always gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    n = n_per_class * len(WAVE_CLASSES)
    y = np.repeat(np.arange(len(WAVE_CLASSES)), n_per_class)
    t = np.arange(steps) / steps
    cycles = rng.uniform(1.0, 3.0, (n, 1))
    phase = rng.uniform(0.0, 1.0, (n, 1))
    amp = rng.uniform(0.5, 1.0, (n, 1))
    u = (cycles * t + phase) % 1.0  # position within the cycle, 0..1
    shapes = {
        0: np.sin(2 * np.pi * u),
        1: np.where(u < 0.5, 1.0, -1.0),
        2: 4 * np.abs(u - 0.5) - 1.0,
        3: 2 * u - 1.0,
    }
    wave = np.select([y[:, None] == k for k in shapes], list(shapes.values()))
    x = 0.5 + 0.4 * amp * wave + noise * rng.standard_normal((n, steps))
    order = rng.permutation(n)
    return np.clip(x, 0.0, 1.0)[order, :, None].astype(np.float32), y[order]


@functools.lru_cache(maxsize=None)
def load_waves(title: str = "Waves") -> Dataset:
    """The bundled sequence set: 2,000 noisy waveforms of 4 kinds, 64 steps, fixed split (memoised)."""
    x, y = wave_arrays()
    return sequences_from_arrays(x, y, classes=list(WAVE_CLASSES), spec="waves", title=title, seed=0,
                                 value_range=(0.0, 1.0))
