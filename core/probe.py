"""Codes as features: how well a model's codes serve a classifier, against raw pixels and PCA.

A probe fits scikit-learn classifiers on the codes of labeled training images
and scores them on unseen ones: a logistic regression ("linear": are the
classes separated by straight cuts?) and a k-nearest-neighbour vote ("knn": do
images of a class sit together?). The same classifiers on the raw pixels and
on a PCA of the pixels with as many components as the code has numbers are the
baselines: a code that does no better than PCA of its size has learned nothing
a linear projection could not. ``by_labels`` repeats the fits with 1, 5, 10
and 50 labeled images per class (several draws each) and all of them, the
curve a student reads "how many labels does each representation need?" from.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .codes import encode_split
from .compare import eval_split, labeled_subset
from .datasets import Dataset, DatasetError

LEVELS: tuple[int | None, ...] = (1, 5, 10, 50, None)  # labels per class; None = all
REPRESENTATIONS = ("codes", "pixels", "pca")
REP_TITLES = {"codes": "the model's codes", "pixels": "raw pixels", "pca": "PCA of the pixels"}
K_NEIGHBOURS = 5
MAX_ITER = 500  # logistic regression iterations: enough for every set here to converge or come close


def level_key(level: int | None) -> str:
    """The JSON key of a labels-per-class level: '10' or 'all'."""
    return "all" if level is None else str(level)


def linear_probe(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray,
                 seed: int = 0) -> float:
    """Test accuracy of a logistic regression on standardised features."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER, random_state=seed))
    return float(clf.fit(train, y_train).score(test, y_test))


def knn_probe(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray,
              k: int = K_NEIGHBOURS) -> float:
    """Test accuracy of a k-nearest-neighbour vote (k shrinks to the labels per class when fewer)."""
    counts = np.bincount(y_train)
    k = max(1, min(k, int(counts[counts > 0].min())))  # with 1 label per class only the nearest one is fair
    clf = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k))
    return float(clf.fit(train, y_train).score(test, y_test))


def class_separation(train_codes: np.ndarray, y_train: np.ndarray, test_codes: np.ndarray,
                     y_test: np.ndarray) -> float:
    """How well classes separate in a latent space: k-NN accuracy of test codes among the training codes."""
    return knn_probe(train_codes, y_train, test_codes, y_test)


def _features(model: torch.nn.Module, x_train: torch.Tensor, x_test: torch.Tensor,
              dim: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(train, test) features per representation: codes, flattened pixels, PCA of the pixels to ``dim``."""
    px_train = x_train.flatten(1).numpy()
    px_test = x_test.flatten(1).numpy()
    pca = PCA(n_components=min(dim, *px_train.shape), random_state=0).fit(px_train)
    return {"codes": (encode_split(model, x_train), encode_split(model, x_test)),
            "pixels": (px_train, px_test),
            "pca": (pca.transform(px_train), pca.transform(px_test))}


def probe(model: torch.nn.Module, ds: Dataset, eval_dataset: str | Dataset | None = None,
          levels: Sequence[int | None] = LEVELS, draws: int = 3, seed: int = 0,
          progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Linear and k-NN probes on a model's codes vs raw pixels vs PCA of the same size.

    Fits on the labeled training split of ``ds`` and scores on its test split,
    or on all of ``eval_dataset`` (same shape and classes; see
    core.compare.eval_split). Returns the JSON of ``python -m core probe``:
    ``linear``, ``knn``, ``pixels_linear``, ``pixels_knn``, ``pca_linear``,
    ``pca_knn`` with all labels, and ``by_labels`` (level -> the same keys,
    means over ``draws`` label draws for the levels below all).
    """
    if not ds.labeled:
        raise DatasetError(f"{ds.title} has no labels, so the codes cannot be probed for recognition")
    dim = int(getattr(model, "latent_dim", 0))
    if dim < 1 or not hasattr(model, "encode"):
        raise ValueError("probing needs a model with a latent space (an encoder that gives codes)")
    t0 = time.perf_counter()
    report = progress or (lambda stage, frac: None)
    x_test, y_test, eval_spec = eval_split(ds, eval_dataset)
    report("encoding", 0.0)
    feats = _features(model, ds.x_train, x_test, dim)
    y_train, y_eval = ds.y_train.numpy(), y_test.numpy()
    usable = [lv for lv in levels if lv is None or int(np.bincount(y_train)[np.unique(y_train)].min()) >= lv]
    by_labels: dict[str, dict[str, float]] = {}
    for i, level in enumerate(usable):
        report(f"{level_key(level)} labels per class", (i + 1) / (len(usable) + 1))
        scores: dict[str, list[float]] = {}
        for d in range(1 if level is None else draws):
            idx = labeled_subset(ds.y_train, level, seed + d).numpy()
            for rep, (tr, te) in feats.items():
                name = "" if rep == "codes" else f"{rep}_"
                scores.setdefault(f"{name}linear", []).append(linear_probe(tr[idx], y_train[idx], te, y_eval, seed))
                scores.setdefault(f"{name}knn", []).append(knn_probe(tr[idx], y_train[idx], te, y_eval))
        by_labels[level_key(level)] = {k: round(float(np.mean(v)), 4) for k, v in scores.items()}
    report("done", 1.0)
    top = by_labels.get("all") or by_labels[level_key(usable[-1])]
    return {**top, "by_labels": by_labels, "dim": dim, "n_train": len(y_train), "n_eval": len(y_eval),
            "eval": eval_spec, "draws": draws, "seconds": round(time.perf_counter() - t0, 2)}
