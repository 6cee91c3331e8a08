"""UMAP's graph and layout, the way ``core.projection.Projector("umap")`` runs them.

Why UMAP is not plain ``umap.UMAP()`` here: in a fresh process umap-learn spends
~45 s compiling numba code before it lays out a single point, most of it in
pynndescent's approximate k-NN search and in umap's graph building
(``smooth_knn_dist`` and friends, which are not cached on disk). We keep
umap-learn's layout optimiser (``simplicial_set_embedding``, the part that
*is* UMAP) and feed it

- an exact k-NN graph from scikit-learn (no compilation; exact is also slightly
  better than approximate), and
- the fuzzy simplicial set computed with numpy: the same formulas as
  ``umap.umap_.fuzzy_simplicial_set``, vectorised (it matches umap's graph to ~1e-6),

and we cap the layout epochs by the amount of work (``auto_epochs``) instead of
umap's 500 epochs below 10,000 points. ``core.warmup`` compiles the layout
optimiser ahead of time. bench/projection.py measures all of this against
umap-learn's defaults.
"""
from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

# progress(stage, fraction in 0..1), e.g. ("k-NN graph", 0.4), ("optimising layout", 0.9)
Progress = Callable[[str, float], None]

# Set once a layout has run in this process: umap's numba layout code is compiled,
# so the next UMAP is fast. core.warmup reads and sets it.
WARM = threading.Event()

# UMAP switches from spectral to PCA initialisation above this many points: the
# spectral init (an eigen-decomposition of the graph) costs ~0.3 s at 5,000
# points but ~30 s at 70,000; PCA init costs milliseconds and lays out as well
# once the optimiser has run (Kobak & Linderman 2021, Nat. Biotechnol. 39:156).
SPECTRAL_MAX_POINTS = 10_000
KNN_CHUNK = 8192  # query rows per k-NN chunk: progress granularity, bounded memory


def auto_epochs(n: int) -> int:
    """UMAP layout epochs for n points: the work (n x epochs) capped at 750,000, within 150..500.

    umap-learn uses 500 epochs below 10,000 points and 200 above. Each epoch costs
    time proportional to n, so we keep 500 for small sets (<= 1,500 points) and
    go down to 150 from 5,000 points on; bench/projection.py shows the
    trustworthiness this costs (about 0.002 at 5,000 points).
    """
    return int(min(500, max(150, 750_000 // max(1, n))))


def no_progress(stage: str, fraction: float) -> None:
    """A progress callback that ignores every report."""


# --------------------------------------------------------------------------- UMAP parts


def knn(x: np.ndarray, k: int, progress: Callable[[float], None] | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row (itself first): indices (N, k) int64, distances (N, k) float32."""
    from sklearn.neighbors import NearestNeighbors

    # "auto" picks a k-d tree for low-dimensional codes and brute force (BLAS
    # distances + an arg-k-min, multithreaded) above 15 dimensions.
    nn = NearestNeighbors(n_neighbors=k).fit(x)
    n = x.shape[0]
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, KNN_CHUNK):
        q = x[start:start + KNN_CHUNK]
        _, i = nn.kneighbors(q)
        # Recompute the k distances directly: BLAS-expanded distances are off by
        # ~1e-7, so a point's distance to itself (or a duplicate) would not be 0,
        # and umap's rho (distance to the nearest *other* point) would be wrong.
        d = np.sqrt(((q[:, None, :].astype(np.float64) - x[i]) ** 2).sum(-1))  # (B, k)
        order = np.argsort(d, axis=1, kind="stable")
        idx[start:start + len(i)] = np.take_along_axis(i, order, 1)
        dist[start:start + len(i)] = np.take_along_axis(d, order, 1)
        if progress:
            progress(min(1.0, (start + len(i)) / n))
    return idx, dist


def fuzzy_graph(knn_idx: np.ndarray, knn_dist: np.ndarray, local_connectivity: float = 1.0,
                n_iter: int = 64) -> Any:
    """UMAP's fuzzy simplicial set (scipy COO, (N, N)) from a k-NN graph, in numpy.

    Same steps as umap.umap_.fuzzy_simplicial_set with its defaults: per point,
    rho = distance to the nearest non-identical neighbour and sigma found by
    bisection so that sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k); then the
    fuzzy union A + A^T - A * A^T. Vectorised over points instead of numba-compiled.
    """
    import scipy.sparse as sp

    if local_connectivity != 1.0:
        raise ValueError("only local_connectivity=1 is supported")
    n, k = knn_idx.shape
    d = knn_dist.astype(np.float64)  # (N, k), ascending per row
    target = np.log2(k)
    positive = np.where(d > 0, d, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0  # all neighbours at distance 0
    shifted = d[:, 1:] - rho[:, None]  # (N, k-1); column 0 is the point itself
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    active = np.arange(n)
    for _ in range(n_iter):
        if active.size == 0:
            break
        x, m = shifted[active], mid[active]
        psum = np.where(x > 0, np.exp(-np.maximum(x, 0) / m[:, None]), 1.0).sum(axis=1)
        done = np.abs(psum - target) < 1e-5
        too_big = psum > target
        h = np.where(~done & too_big, m, hi[active])
        lw = np.where(~done & ~too_big, m, lo[active])
        nxt = np.where(np.isinf(h), m * 2.0, (lw + h) / 2.0)
        mid[active] = np.where(done, m, nxt)
        hi[active], lo[active] = h, lw
        active = active[~done]
    # umap's floor on sigma: 1e-3 x the mean neighbour distance (of the row, or of all rows)
    sigma = np.maximum(mid, np.where(rho > 0, 1e-3 * d.mean(axis=1), 1e-3 * d.mean()))
    excess = d - rho[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        val = np.where(excess <= 0, 1.0, np.exp(-np.maximum(excess, 0) / sigma[:, None]))
    val[knn_idx == np.arange(n)[:, None]] = 0.0  # no self-loops
    rows = np.repeat(np.arange(n), k)
    keep = knn_idx.ravel() >= 0
    a = sp.coo_matrix((val.ravel()[keep].astype(np.float32), (rows[keep], knn_idx.ravel()[keep])),
                      shape=(n, n)).tocsr()
    a.eliminate_zeros()
    at = a.T.tocsr()
    g = (a + at - a.multiply(at)).tocoo()
    g.eliminate_zeros()
    return g


class _TqdmToProgress:
    """A file-like sink for umap's tqdm bar that turns "n/total" into progress calls."""

    _pattern = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: Progress, stage: str):
        self.progress, self.stage = progress, stage

    def write(self, s: str) -> int:
        found = self._pattern.findall(s)
        if found:
            done, total = (int(v) for v in found[-1])
            self.progress(self.stage, done / max(1, total))
        return len(s)

    def flush(self) -> None:
        pass


def umap_layout(x: np.ndarray, n_components: int, n_neighbors: int, min_dist: float,
                n_epochs: int | None, init: str, random_state: int | None,
                progress: Progress | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """k-NN graph -> fuzzy graph -> umap-learn's layout optimiser; returns (embedding, info)."""
    import umap.umap_ as uu  # heavy import (~3 s): only when UMAP is asked for

    report: Progress = progress or no_progress
    n = x.shape[0]
    k = max(2, min(n_neighbors, n - 1))
    info: dict[str, Any] = {"n_neighbors": k}
    t = time.perf_counter()
    report("k-NN graph", 0.0)
    idx, dist = knn(x, k, lambda f: report("k-NN graph", f))
    info["knn_s"] = time.perf_counter() - t

    t = time.perf_counter()
    report("fuzzy graph", 0.0)
    graph = fuzzy_graph(idx, dist)
    info["graph_s"] = time.perf_counter() - t

    epochs = int(n_epochs) if n_epochs else auto_epochs(n)
    if init == "auto":
        init = "spectral" if n <= SPECTRAL_MAX_POINTS else "pca"
    info.update(n_epochs=epochs, init=init)
    a, b = uu.find_ab_params(1.0, min_dist)  # spread 1.0, as umap's default
    # A seed means one thread: umap's parallel epochs race on shared rows, so
    # only the serial optimiser gives the same layout twice. No seed -> parallel.
    parallel = random_state is None
    rng = np.random.RandomState(random_state)
    t = time.perf_counter()
    report("optimising layout", 0.0)
    tqdm_kwds = {"disable": False, "file": _TqdmToProgress(report, "optimising layout"),
                 "bar_format": "{n}/{total}", "mininterval": 0.25, "leave": False}
    with warnings.catch_warnings():
        # "Graph is not fully connected": umap then lays out components apart; fine for codes.
        warnings.simplefilter("ignore", UserWarning)
        emb, _ = uu.simplicial_set_embedding(
            x, graph, n_components, 1.0, a, b, 1.0, 5, epochs, init, rng, "euclidean", {},
            False, {}, False, parallel=parallel, verbose=False, tqdm_kwds=tqdm_kwds)
    info["layout_s"] = time.perf_counter() - t
    WARM.set()
    return np.asarray(emb, dtype=np.float32), info
