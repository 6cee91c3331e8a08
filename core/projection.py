"""Projections of latent codes to 2-D or 3-D: PCA, UMAP and t-SNE behind one estimator.

``Projector`` follows scikit-learn's estimator conventions (parameters stored in
``__init__``, ``fit`` returns ``self``, learned state ends in ``_``), so the three
methods are interchangeable.

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
umap's 500 epochs below 10,000 points. ``warm_up()`` compiles the layout
optimiser ahead of time. bench/projection.py measures all of this against
umap-learn's defaults.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

METHODS = ("pca", "umap", "tsne")
METHOD_TITLES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}

# progress(stage, fraction in 0..1), e.g. ("k-NN graph", 0.4), ("optimising layout", 0.9)
Progress = Callable[[str, float], None]

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


def _no_progress(stage: str, fraction: float) -> None:
    pass


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


def _umap_layout(x: np.ndarray, n_components: int, n_neighbors: int, min_dist: float,
                 n_epochs: int | None, init: str, random_state: int | None,
                 progress: Progress) -> tuple[np.ndarray, dict[str, Any]]:
    """k-NN graph -> fuzzy graph -> umap-learn's layout optimiser; returns (embedding, info)."""
    import umap.umap_ as uu  # heavy import (~3 s): only when UMAP is asked for

    n = x.shape[0]
    k = max(2, min(n_neighbors, n - 1))
    info: dict[str, Any] = {"n_neighbors": k}
    t = time.perf_counter()
    progress("k-NN graph", 0.0)
    idx, dist = knn(x, k, lambda f: progress("k-NN graph", f))
    info["knn_s"] = time.perf_counter() - t

    t = time.perf_counter()
    progress("fuzzy graph", 0.0)
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
    progress("optimising layout", 0.0)
    tqdm_kwds = {"disable": False, "file": _TqdmToProgress(progress, "optimising layout"),
                 "bar_format": "{n}/{total}", "mininterval": 0.25, "leave": False}
    with warnings.catch_warnings():
        # "Graph is not fully connected": umap then lays out components apart; fine for codes.
        warnings.simplefilter("ignore", UserWarning)
        emb, _ = uu.simplicial_set_embedding(
            x, graph, n_components, 1.0, a, b, 1.0, 5, epochs, init, rng, "euclidean", {},
            False, {}, False, parallel=parallel, verbose=False, tqdm_kwds=tqdm_kwds)
    info["layout_s"] = time.perf_counter() - t
    _WARM.set()
    return np.asarray(emb, dtype=np.float32), info


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
        progress = progress or _no_progress
        t0 = time.perf_counter()
        info: dict[str, Any] = {}
        if self.method == "pca":
            emb = _pca(x, self.n_components)
        elif self.method == "umap":
            emb, info = _umap_layout(x, self.n_components, int(self.n_neighbors), float(self.min_dist),
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


# --------------------------------------------------------------------------- warm-up

_WARM = threading.Event()
_WARM_LOCK = threading.Lock()  # held while compiling
_THREAD_LOCK = threading.Lock()  # held while starting the background thread
_WARM_THREAD: threading.Thread | None = None


def is_warm() -> bool:
    """Whether this process has UMAP's layout optimiser compiled (a first UMAP will be fast)."""
    return _WARM.is_set()


@contextlib.contextmanager
def _short_gil_slices(interval: float = 1e-4) -> Iterator[None]:
    """Hand the GIL over every ``interval`` s instead of every 5 ms, for the duration.

    Importing umap and numba-compiling are pure-Python work that holds the GIL;
    a training thread in the same process needs the GIL back after every torch
    op and, with the default 5 ms slices, waits up to 5 ms each time. Measured
    on 2 busy cores: a small training loop beside a pure-Python thread ran at
    0.46-0.55 x its speed with 5 ms slices and 0.64 x with 0.1 ms. It softens a
    training that starts during a warm-up; ``start_warm_up(wait_while=...)``
    avoids the overlap altogether.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def warm_up() -> float:
    """Compile UMAP's numba layout code in this process on a tiny input; seconds spent (0 if warm).

    Thread-safe and idempotent: a second caller waits for the first and returns 0.
    """
    if _WARM.is_set():
        return 0.0
    with _WARM_LOCK:
        if _WARM.is_set():
            return 0.0
        t = time.perf_counter()
        x = np.random.RandomState(0).normal(size=(64, 8)).astype(np.float32)
        with _short_gil_slices():
            # Same code path and argument types as a real fit, a handful of epochs.
            _umap_layout(x, 2, 8, 0.1, 5, "spectral", 0, _no_progress)
            _umap_layout(x, 2, 8, 0.1, 5, "pca", 0, _no_progress)
        _WARM.set()
        return time.perf_counter() - t


def _prime_marker() -> Path:
    """A file saying numba's disk cache was filled for these library versions and cache folder."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        libs = "-".join(version(p) for p in ("umap-learn", "pynndescent", "numba"))
    except PackageNotFoundError:
        libs = "unknown"
    where = os.environ.get("NUMBA_CACHE_DIR", "")
    place = hashlib.sha1(where.encode()).hexdigest()[:8] if where else "default"
    tag = f"{libs}-py{sys.version_info[0]}{sys.version_info[1]}-{place}"
    base = Path(os.environ.get("LATENT_LAB_CACHE", Path.home() / ".cache" / "latent-lab"))
    return base / f"numba-primed-{tag}"


def prime_disk_cache(timeout: float = 600.0, force: bool = False) -> bool:
    """Import umap in a low-priority subprocess so numba's on-disk cache is filled; True if it ran.

    On a fresh install, ``import umap`` compiles pynndescent's cached functions
    (~20-35 s, once per installation); doing that in a niced child keeps the GIL
    and the CPU of this process (and its trainings) free. A marker file per
    library versions skips it afterwards.
    """
    marker = _prime_marker()
    if marker.exists() and not force:
        return False
    # The child lowers its own priority (preexec_fn is unsafe in a threaded server).
    code = "import os\nif hasattr(os, 'nice'): os.nice(19)\nimport umap.umap_"
    try:
        subprocess.run([sys.executable, "-c", code], timeout=timeout, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # no writable cache folder: prime again next time (cheap once the cache is full)
    return True


def start_warm_up(prime: bool = True, wait_while: Callable[[], bool] | None = None,
                  poll_s: float = 2.0) -> threading.Thread:
    """Warm UMAP up in a daemon thread (once per process); returns the thread.

    ``wait_while`` (e.g. "a training is running") holds the in-process part back
    until it is false: importing umap and compiling hold the GIL for ~5 s, which
    a training thread in the same process feels (bench/projection.py measures
    it). With ``prime``, a niced subprocess first fills numba's disk cache (once
    per installation; it never touches this process's GIL), so the in-process
    import takes ~3 s instead of ~25 s.
    """
    global _WARM_THREAD
    with _THREAD_LOCK:
        if _WARM_THREAD is not None:
            return _WARM_THREAD

        def work() -> None:
            if prime and "umap" not in sys.modules:
                prime_disk_cache()
            while wait_while is not None and wait_while() and not _WARM.is_set():
                time.sleep(poll_s)
            warm_up()

        _WARM_THREAD = threading.Thread(target=work, name="umap-warm-up", daemon=True)
        _WARM_THREAD.start()
        return _WARM_THREAD


# --------------------------------------------------------------------------- CLI


def cmd_project(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core project`: encode a split with a run, project, write a CSV."""
    from .data import load_dataset
    from .latent import encode_split, export_csv
    from .store import load_run

    t0 = time.perf_counter()
    run = load_run(a.run)
    if run.model.family != "latent":
        raise ValueError(f"{a.run} is a {run.meta['model']} classifier run; projections need a latent "
                         "model (ae, cae, vae, gan)")
    ds = load_dataset(a.dataset or run.dataset)
    if tuple(ds.shape) != tuple(run.model.shape):
        raise ValueError(f"the run was trained on {'x'.join(map(str, run.model.shape))} images but "
                         f"{ds.spec} has {'x'.join(map(str, ds.shape))}; pick a dataset of that shape")
    x, y = ds.split(a.split)
    if a.limit:
        x, y = x[:a.limit], (y[:a.limit] if y is not None else None)
    codes, errors = encode_split(run.model, x, with_errors=True)
    t_enc = time.perf_counter() - t0
    print(f"encoded {len(codes):,} {a.split} images in {t_enc:.2f} s", file=sys.stderr)

    last = {"stage": ""}

    def progress(stage: str, frac: float) -> None:
        if stage != last["stage"]:
            print(f"  {stage}...", file=sys.stderr)
            last["stage"] = stage

    t1 = time.perf_counter()
    proj = Projector(a.method, n_components=a.dim, n_neighbors=a.n_neighbors, min_dist=a.min_dist,
                     perplexity=a.perplexity, random_state=a.seed).fit(codes, progress=progress)
    t_proj = time.perf_counter() - t1
    print(f"{METHOD_TITLES[a.method]} of {len(codes):,} x {codes.shape[1]} codes in {t_proj:.2f} s",
          file=sys.stderr)
    labels = y.numpy() if y is not None else None
    out = Path(a.out)
    if out.parent and not out.parent.exists():
        raise ValueError(f"the folder {out.parent} does not exist")
    out.write_text(export_csv(codes, proj.embedding_, labels, errors, classes=ds.classes or None))
    return {"out": str(out), "n": len(codes), "method": a.method, "dim": a.dim,
            "split": a.split, "seconds": round(time.perf_counter() - t0, 3),
            "encode_seconds": round(t_enc, 3), "project_seconds": round(t_proj, 3)}


def add_cli(subparsers: Any) -> None:
    """Add the `project` sub-command to core's CLI."""
    p = subparsers.add_parser("project", help="encode a dataset split with a run and project the codes")
    p.add_argument("--run", required=True, help="run folder or id")
    p.add_argument("--dataset", help="dataset spec (default: the run's own)")
    p.add_argument("--method", default="umap", choices=list(METHODS))
    p.add_argument("--out", required=True, help="CSV file to write (codes, projection, labels, errors)")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--dim", type=int, default=2, choices=[2, 3])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-neighbors", type=int, default=15, help="UMAP neighbourhood size")
    p.add_argument("--min-dist", type=float, default=0.1, help="UMAP minimum distance")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    p.add_argument("--limit", type=int, help="only the first N images of the split")
    p.set_defaults(fn=cmd_project)
