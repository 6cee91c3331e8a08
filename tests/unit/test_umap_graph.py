"""core.umap_graph: exact k-NN, umap's fuzzy graph in numpy (vs umap's own), the epoch budget."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from core import umap_graph as G
from tests.unit.test_projection import blobs  # noqa: F401  (a fixture)


def test_fuzzy_graph_matches_umap_reference():
    """Our numpy graph equals umap's own (pure-Python versions of its numba functions)."""
    import umap.umap_ as uu
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5)).astype(np.float32)
    x[7] = x[3]  # a duplicate point: zero distances
    dist, idx = NearestNeighbors(n_neighbors=10).fit(x).kneighbors(x)
    dist = dist.astype(np.float32)
    g = G.fuzzy_graph(idx, dist).tocsr()
    sigmas, rhos = uu.smooth_knn_dist.py_func(dist, 10.0)
    rows, cols, vals, _ = uu.compute_membership_strengths.py_func(idx, dist, sigmas, rhos)
    a = sp.coo_matrix((vals, (rows, cols)), shape=(120, 120)).tocsr()
    ref = (a + a.T - a.multiply(a.T)).tocsr()
    assert abs(g - ref).max() < 1e-5
    assert abs(g - g.T).max() < 1e-7  # symmetric
    assert g.diagonal().max() == 0  # no self-loops


def test_knn_is_exact_and_self_first(blobs):
    x, _ = blobs
    idx, dist = G.knn(x, 5)
    assert idx.shape == dist.shape == (300, 5)
    assert (idx[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    assert np.allclose(np.sort(d, 1)[:, :5], dist, atol=1e-4)


def test_auto_epochs_bounds():
    assert G.auto_epochs(100) == 500 and G.auto_epochs(1500) == 500
    assert G.auto_epochs(5000) == 150 and G.auto_epochs(70_000) == 150
    assert all(150 <= G.auto_epochs(n) <= 500 for n in (1, 2_000, 3_000, 10**6))
