"""Which images an anomaly detector trains on and which it scores, with their truth.

The normal classes are parsed from text (``parse_normal``); the detector trains
on their training images (``normal_train``) and scores an ``EvalSet``
(``eval_set``): the test split, a labeled dataset of the same classes, or a
second dataset of suspects mixed with the normal test images.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..datasets import Dataset, DatasetError, check_fits, load_dataset

SUSPECT, NORMAL_UNLABELED = -1, -2  # labels of evaluation images that have no class of their own


@dataclass
class EvalSet:
    """The images to score: which are anomalous, their class (-1 for suspects) and where they come from."""

    x: torch.Tensor  # (N, C, H, W)
    is_anomaly: np.ndarray  # (N,) bool
    labels: np.ndarray  # (N,) int: class index in the training dataset, SUSPECT or NORMAL_UNLABELED
    spec: str  # e.g. "mnist5k (test split)"


def parse_normal(ds: Dataset, text: str | Sequence[int | str]) -> tuple[int, ...]:
    """Normal classes from '3', '3,5', 'cat' or a list, as sorted class indices; DatasetError if unknown."""
    if not ds.labeled:
        raise _unlabeled(ds)
    tokens = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t) for t in text]
    out: set[int] = set()
    for t in tokens:
        if t in ds.classes:
            out.add(ds.classes.index(t))
        elif t.lstrip("-").isdigit() and 0 <= int(t) < ds.n_classes:
            out.add(int(t))
        else:
            raise DatasetError(f"{t!r} is not a class of {ds.title}; its classes are "
                               f"{', '.join(ds.classes[:20])}{' ...' if ds.n_classes > 20 else ''}")
    return tuple(sorted(out))


def _unlabeled(ds: Dataset) -> DatasetError:
    return DatasetError(f"{ds.title} has no labels, so it has no classes to call normal; leave the normal "
                        "classes out to treat every image as normal and give suspects to score")


def _check_normal(ds: Dataset, normal: tuple[int, ...] | None) -> None:
    """DatasetError unless ``normal`` fits ``ds`` (None needs nothing; classes need labels)."""
    if normal is None:
        return
    if not ds.labeled:
        raise _unlabeled(ds)
    if not normal:
        raise DatasetError("pick at least one normal class")
    if any(not 0 <= c < ds.n_classes for c in normal):
        raise DatasetError(f"normal classes must be between 0 and {ds.n_classes - 1}, got {list(normal)}")


def normal_train(ds: Dataset, normal: tuple[int, ...] | None) -> torch.Tensor:
    """The training images of the normal classes (all of them when ``normal`` is None)."""
    _check_normal(ds, normal)
    if normal is None:
        x = ds.x_train
    else:
        x = ds.x_train[torch.isin(ds.y_train, torch.tensor(normal))]
    if x.shape[0] < 2:
        raise DatasetError(f"there are only {x.shape[0]} normal training image(s); at least 2 are needed")
    return x


def eval_set(ds: Dataset, normal: tuple[int, ...] | None, eval_dataset: str | Dataset | None = None) -> EvalSet:
    """The images to score and their truth.

    Without ``eval_dataset``: the test split of ``ds``, anomalous = not a normal
    class. With a labeled ``eval_dataset`` of the same classes: its images
    scored the same way (all of it, or its test split when it is ``ds``).
    Otherwise ``eval_dataset`` holds suspects: every one counts as anomalous and
    is mixed with the normal test images of ``ds``.
    """
    _check_normal(ds, normal)
    if eval_dataset is None:
        if normal is None:
            raise DatasetError(f"{ds.title} has no labels, so every image counts as normal: give a second "
                               "dataset of suspects to score (--eval-dataset)")
        if ds.y_test is None or len(ds.x_test) == 0:
            raise DatasetError(f"{ds.title} has no labeled test images to score")
        y = ds.y_test.numpy()
        return EvalSet(ds.x_test, ~np.isin(y, normal), y.astype(np.int64), f"{ds.spec} (test split)")
    ev = load_dataset(eval_dataset) if isinstance(eval_dataset, str) else eval_dataset
    check_fits(ev, ds.shape, what=f"the model trained on {ds.title}")
    same = ev.spec == ds.spec
    if normal is not None and ev.labeled and list(ev.classes) == list(ds.classes):
        if same:
            return eval_set(ds, normal, None)
        y = torch.cat([ev.y_train, ev.y_test]).numpy()
        return EvalSet(torch.cat([ev.x_train, ev.x_test]), ~np.isin(y, normal), y.astype(np.int64), ev.spec)
    if same:
        raise DatasetError("the suspects must be a different dataset from the normal one")
    # Normal test images keep their class (-2 when unlabeled); suspects are -1: their own
    # labels, if any, name other classes.
    if normal is None:
        x_norm, y_norm = ds.x_test, np.full(len(ds.x_test), NORMAL_UNLABELED, np.int64)
    else:
        keep = torch.isin(ds.y_test, torch.tensor(normal))
        x_norm, y_norm = ds.x_test[keep], ds.y_test[keep].numpy().astype(np.int64)
    if len(x_norm) == 0:
        raise DatasetError(f"{ds.title} has no normal test images to mix with the suspects")
    sus = torch.cat([ev.x_train, ev.x_test])
    labels = np.concatenate([y_norm, np.full(len(sus), SUSPECT, np.int64)])
    is_anom = np.concatenate([np.zeros(len(x_norm), bool), np.ones(len(sus), bool)])
    return EvalSet(torch.cat([x_norm, sus]), is_anom, labels, f"{ds.spec} (normal test images) + {ev.spec}")


def _load(dataset: str | Dataset) -> Dataset:
    return dataset if isinstance(dataset, Dataset) else load_dataset(dataset)


def spec_of(dataset: str | Dataset | None) -> str | None:
    """A dataset's spec, whether given as a spec or as a parsed Dataset."""
    return dataset.spec if isinstance(dataset, Dataset) else dataset
