"""What every room of the package shares: the error type, the Dataset container and the data folder.

These live apart from the registry so that the loaders (bundled, torchvision, files, arrays) can
build Datasets and raise DatasetError while the registry imports those loaders: no import cycle.
The registry re-exports everything here; outside code imports it from ``core.datasets``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["Dataset", "DatasetError", "data_dir"]


class DatasetError(ValueError):
    """Bad or unavailable dataset; the message is meant for the user."""


@dataclass
class Dataset:
    """Images in [0, 1] as (N, C, H, W) float32 tensors, a fixed train/test split and class names."""

    spec: str
    title: str
    x_train: torch.Tensor
    y_train: torch.Tensor | None
    x_test: torch.Tensor
    y_test: torch.Tensor | None
    classes: list[str]
    kind: str = "image"  # "image", or "sequence": samples (1, T, F) are T steps of F features

    @property
    def shape(self) -> tuple[int, int, int]:
        """Image shape (C, H, W)."""
        _, c, h, w = self.x_train.shape
        return (int(c), int(h), int(w))

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 when unlabeled."""
        return len(self.classes)

    @property
    def labeled(self) -> bool:
        """Whether the dataset has labels."""
        return self.y_train is not None

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return (x, y) of the "train" or "test" split."""
        if name == "train":
            return self.x_train, self.y_train
        if name == "test":
            return self.x_test, self.y_test
        raise DatasetError(f"Unknown split {name!r}: use 'train' or 'test'.")

    def describe(self) -> str:
        """One line such as "MNIST-5k: 4,000 train / 1,000 test, 1x28x28, 10 classes"."""
        c, h, w = self.shape
        if not self.labeled:
            kinds = "unlabeled"
        else:
            kinds = f"{self.n_classes} class" + ("" if self.n_classes == 1 else "es")
        size = f"{h} steps x {w} feature{'s' if w != 1 else ''}" if self.kind == "sequence" else f"{c}x{h}x{w}"
        return f"{self.title}: {len(self.x_train):,} train / {len(self.x_test):,} test, {size}, {kinds}"


def data_dir() -> Path:
    """Folder for downloaded and uploaded data: $LATENT_LAB_DATA or ~/.cache/latent-lab/data."""
    env = os.environ.get("LATENT_LAB_DATA", "").strip()
    base = Path(env) if env else Path.home() / ".cache" / "latent-lab" / "data"
    return base.expanduser().absolute()
