"""Projections of latent codes to 2-D or 3-D: PCA, UMAP and t-SNE behind one estimator.

``Projector`` follows scikit-learn's estimator conventions (parameters stored in
``__init__``, ``fit`` returns ``self``, learned state ends in ``_``), so the three
methods are interchangeable. This module holds only the estimator and the two
methods that are thin wrappers over scikit-learn (PCA, t-SNE); UMAP's k-NN
graph, fuzzy graph and layout, and why they depart from plain ``umap.UMAP()``,
are in ``core.umap_graph``; compiling UMAP ahead of time is ``core.warmup``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .umap_graph import Progress, no_progress, umap_layout

__all__ = ["METHODS", "METHOD_TITLES", "Progress", "Projector"]

METHODS = ("pca", "umap", "tsne")
METHOD_TITLES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}


# --------------------------------------------------------------------------- the estimator


class Projector(BaseEstimator):
    """Project codes (N, D) to (N, 2|3) with PCA, UMAP or t-SNE; same random_state, same layout.

    Parameters are stored as given; ``fit`` checks them. UMAP uses n_neighbors
    and min_dist, t-SNE uses perplexity; n_epochs=None picks ``auto_epochs(N)``;
    init="auto" is spectral up to 10,000 points, PCA above. random_state=None
    lets UMAP optimise on all cores, not reproducibly.
    """

    def __init__(self, method: str = "umap", n_components: int = 2, n_neighbors: int = 15,
                 min_dist: float = 0.1, perplexity: float = 30.0, n_epochs: int | None = None,
                 init: str = "auto", random_state: int | None = 0):
        self.method = method
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.perplexity = perplexity
        self.n_epochs = n_epochs
        self.init = init
        self.random_state = random_state

    def _check(self, x: Any) -> np.ndarray:
        if self.method not in METHODS:
            raise ValueError(f"unknown projection method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.n_components not in (2, 3):
            raise ValueError(f"n_components must be 2 or 3, got {self.n_components!r}")
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"codes must be a 2-D array (points, dimensions), got shape {x.shape}")
        if x.shape[0] < self.n_components + 2:
            raise ValueError(f"need at least {self.n_components + 2} points to project, got {x.shape[0]}")
        if not np.isfinite(x).all():
            raise ValueError("the codes contain NaN or infinite values (did training diverge?)")
        if self.method == "umap":
            if not (isinstance(self.n_neighbors, (int, np.integer)) and self.n_neighbors >= 2):
                raise ValueError(f"n_neighbors must be an integer >= 2, got {self.n_neighbors!r}")
            if not 0.0 <= float(self.min_dist) <= 1.0:
                raise ValueError(f"min_dist must be between 0 and 1, got {self.min_dist!r}")
            if self.n_epochs is not None and not 1 <= int(self.n_epochs) <= 10_000:
                raise ValueError(f"n_epochs must be between 1 and 10,000, got {self.n_epochs!r}")
            if self.init not in ("auto", "spectral", "pca", "random"):
                raise ValueError(f"init must be auto, spectral, pca or random, got {self.init!r}")
        if self.method == "tsne" and not 1.0 <= float(self.perplexity) <= 100.0:
            raise ValueError(f"perplexity must be between 1 and 100, got {self.perplexity!r}")
        return np.ascontiguousarray(x)

    def fit(self, X: Any, y: Any = None, progress: Progress | None = None) -> Projector:
        """Compute ``embedding_`` (N, n_components) float32 for codes X (N, D); returns self."""
        x = self._check(X)
        progress = progress or no_progress
        t0 = time.perf_counter()
        info: dict[str, Any] = {}
        if self.method == "pca":
            emb = _pca(x, self.n_components)
        elif self.method == "umap":
            emb, info = umap_layout(x, self.n_components, int(self.n_neighbors), float(self.min_dist),
                                    self.n_epochs, self.init, self.random_state, progress)
        else:
            emb = _tsne(x, self.n_components, float(self.perplexity), self.random_state, progress)
        progress("done", 1.0)
        self.embedding_ = emb
        self.info_ = {**info, "seconds": time.perf_counter() - t0, "n": int(x.shape[0])}
        return self

    def fit_transform(self, X: Any, y: Any = None, progress: Progress | None = None) -> np.ndarray:
        """Fit and return ``embedding_``."""
        return self.fit(X, y, progress=progress).embedding_


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    """PCA scores (N, k); deterministic (sklearn flips signs to a fixed convention)."""
    from sklearn.decomposition import PCA

    k_eff = min(k, x.shape[1])
    # covariance_eigh: one D x D eigendecomposition, the fastest solver when N >> D.
    emb = PCA(n_components=k_eff, svd_solver="covariance_eigh").fit_transform(x.astype(np.float64))
    if k_eff < k:  # a 1-D latent shown in 2-D: pad with zeros
        emb = np.hstack([emb, np.zeros((x.shape[0], k - k_eff))])
    return emb.astype(np.float32)


def _tsne(x: np.ndarray, k: int, perplexity: float, random_state: int | None,
          progress: Progress) -> np.ndarray:
    """scikit-learn's Barnes-Hut t-SNE with PCA init; perplexity clipped below N."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    progress("t-SNE", 0.0)
    perplexity = min(perplexity, (x.shape[0] - 1) / 3.0)
    tsne = TSNE(n_components=k, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=random_state)
    # Below ~10,000 points each of the 1,000 gradient steps is too small to pay
    # for OpenMP's barriers: on a busy 2-core machine 300 points took 23 s on 2
    # threads and 1.8 s on one.
    threads = 1 if x.shape[0] < 10_000 else None
    with threadpool_limits(limits=threads, user_api="openmp"):
        return tsne.fit_transform(x).astype(np.float32)
