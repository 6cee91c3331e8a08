"""The registry datasets torchvision downloads once into the data folder: MNIST, Fashion-MNIST, KMNIST, CIFAR-10.

Downloads run under a socket timeout (urllib, as torchvision calls it, has none, so a half-dead
network would hang the app), and a failed load becomes one DatasetError that tells the user where
to drop the files to work offline. :func:`torchvision_files_present` answers "would this load
without a network?" from file names alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import Dataset, DatasetError

__all__ = ["DOWNLOAD_TIMEOUT_S", "load_torchvision", "torchvision_files_present"]

# Registry name -> torchvision.datasets class name.
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10"}
# urllib (as torchvision calls it) has no timeout, so a half-dead network would hang the app.
DOWNLOAD_TIMEOUT_S = 30.0


@functools.lru_cache(maxsize=8)
def load_torchvision(name: str, root: str, title: str) -> Dataset:
    """Load (downloading once into `root`) torchvision dataset `name`, titled `title`, with its own split."""
    try:
        import torchvision.datasets as tvd
    except ImportError as e:
        raise DatasetError(
            f"{title} needs torchvision, which is not installed. "
            "Install the requirements, or pick the bundled 'mnist5k' or 'digits' dataset."
        ) from e
    cls = getattr(tvd, _TORCHVISION[name])
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            train = cls(root, train=True, download=True)
            test = cls(root, train=False, download=True)
    except (OSError, RuntimeError, ValueError, EOFError, tarfile.TarError, zlib.error) as e:
        # URLError is an OSError; torchvision wraps failed mirrors in RuntimeError.
        raise DatasetError(_offline_message(name, Path(root), e, title)) from e
    return Dataset(
        spec=name,
        title=title,
        x_train=_uint8_to_nchw(train.data),
        y_train=torch.as_tensor(np.asarray(train.targets), dtype=torch.int64),
        x_test=_uint8_to_nchw(test.data),
        y_test=torch.as_tensor(np.asarray(test.targets), dtype=torch.int64),
        classes=[str(c) for c in train.classes],
    )


def _uint8_to_nchw(data: Any) -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) uint8 from torchvision's `.data` -> (N, C, H, W) float32 in [0, 1]."""
    t = torch.as_tensor(data)
    t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
    return t.to(torch.float32).div_(255.0).contiguous()


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily give new sockets a timeout (process-wide; only tightens an existing one)."""
    old = socket.getdefaulttimeout()
    if old is None or old > seconds:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _torchvision_expected(name: str, root: Path) -> tuple[Path, list[str]]:
    """The folder torchvision reads `name` from and the files a user can drop there."""
    cls_name = _TORCHVISION[name]
    if cls_name == "CIFAR10":
        return root, ["cifar-10-python.tar.gz (or its extracted folder cifar-10-batches-py/)"]
    import torchvision.datasets as tvd

    resources = getattr(tvd, cls_name).resources
    return root / cls_name / "raw", [os.path.basename(fname) for fname, _ in resources]


def torchvision_files_present(name: str, root: Path) -> bool:
    """Whether torchvision would find `name` under `root` without downloading (names only, no checksums)."""
    cls_name = _TORCHVISION[name]
    folder = root / ("cifar-10-batches-py" if cls_name == "CIFAR10" else cls_name)
    if not folder.exists() and not (root / "cifar-10-python.tar.gz").exists():
        return False  # nothing there: no need to import torchvision.datasets (~1-2 s) to know it (issue 12)
    try:
        import torchvision.datasets as tvd
    except ImportError:
        return False
    cls = getattr(tvd, _TORCHVISION[name])
    if _TORCHVISION[name] == "CIFAR10":
        batches = root / cls.base_folder
        if all((batches / f).is_file() for f, _ in cls.train_list + cls.test_list):
            return True
        return (root / cls.filename).is_file()
    raw = root / _TORCHVISION[name] / "raw"
    names = [os.path.basename(url) for url, _ in cls.resources]
    # torchvision accepts either the extracted files or the .gz archives it would download.
    return all((raw / os.path.splitext(n)[0]).is_file() or (raw / n).is_file() for n in names)


def _offline_message(name: str, root: Path, err: BaseException, title: str) -> str:
    """Explain a failed torchvision load: where to put the files, how to move the folder, what to pick instead."""
    folder, files = _torchvision_expected(name, root)
    detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return (
        f"Could not load {title}: it could not be downloaded (no network?) and it is not in the "
        f"data folder yet, or the files there are incomplete. To use it offline, put {', '.join(files)} "
        f"into {folder}{os.sep} (set the LATENT_LAB_DATA environment variable to use another data folder). "
        f"Or pick the bundled 'mnist5k' or 'digits' dataset, which always work offline. (Details: {detail})"
    )
