"""Datasets for the lab: every source of images ends as a :class:`Dataset`, every problem as a :class:`DatasetError`.

A Dataset holds float32 images in [0, 1] shaped (N, C, H, W), a fixed train/test split and,
when labeled, int64 labels 0..K-1 with class names. DatasetError messages are written for the
person who picked the data. One room per job:

- ``base``: the shared vocabulary: Dataset, DatasetError and data_dir() (the data folder).
- ``registry``: the named datasets (DATASETS, DEFAULT_DATASET), load_dataset() which turns a
  spec into a Dataset, is_available_offline(), and check_fits() ("does this data fit the model").
- ``bundled``: mnist5k and digits, shipped with the dependencies, always offline (memoised).
- ``torchvision_sets``: MNIST, Fashion-MNIST, KMNIST and CIFAR-10, downloaded once, with a
  socket timeout and an offline message saying where to drop the files.
- ``files``: the user's own npz / zip / folder / upload, behind size, zip-bomb and no-pickle guards:
  the entry that checks a spec's path and hands it to ``npz`` (arrays, headers checked, never
  unpickled), ``images`` (a zip or folder of images, decoded) or ``zips`` (opening a zip safely);
  ``uploads`` keeps uploads in data_dir()/uploads and cleans that folder.
- ``arrays``: dataset_from_arrays() (validation, normalisation, seeded split) and pick_indices().

Import from here: ``from core.datasets import load_dataset, DatasetError``.
"""

from __future__ import annotations

from .arrays import dataset_from_arrays, pick_indices
from .base import Dataset, DatasetError, data_dir
from .files import dataset_from_upload
from .registry import DATASETS, DEFAULT_DATASET, DatasetInfo, check_fits, is_available_offline, load_dataset

__all__ = [
    "DEFAULT_DATASET",
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "check_fits",
    "data_dir",
    "dataset_from_arrays",
    "dataset_from_upload",
    "is_available_offline",
    "load_dataset",
    "pick_indices",
]
