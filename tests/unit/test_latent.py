"""core.latent: interpolation, sampling, grids, traversal, arithmetic (and core.device.torch_threads)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core import latent as L
from core.codes import encode_split
from core.device import torch_threads
from core.models import LatentModel, build_model


class IdentityModel(LatentModel):
    """A stub latent model whose code is the image itself: images (1, 1, D) <-> codes (D,)."""

    name = "identity"

    def __init__(self, d: int = 4):
        super().__init__(SimpleNamespace(latent_dim=d), (1, 1, d))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(-1, 1, 1, self.latent_dim)


@pytest.fixture(scope="module")
def cae(digits):
    torch.manual_seed(0)
    model = build_model("cae", {"latent_dim": 4, "widths": [8, 16]}, digits.shape)
    model.fit_end(digits.x_train)  # fitted Gaussian for sampling
    return model.eval()


# --------------------------------------------------------------------------- lerp / slerp


def test_lerp_shapes_and_even_spacing():
    z0, z1 = torch.zeros(3), torch.tensor([1.0, 2.0, 4.0])
    path = L.lerp(z0, z1, 5)
    assert path.shape == (5, 3)
    assert torch.allclose(path[2], torch.tensor([0.5, 1.0, 2.0]))
    assert torch.allclose(path[1:] - path[:-1], (z1 - z0) / 4)


def test_slerp_endpoints_exact_and_norm_kept():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(16, generator=g)
    b = torch.randn(16, generator=g)
    b = b / b.norm() * a.norm()  # equal norms
    path = L.slerp(a, b, 9)
    assert path.shape == (9, 16)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert torch.allclose(path.norm(dim=1), a.norm().expand(9), rtol=1e-5)
    # A straight line cuts inside the sphere; slerp stays on it.
    assert L.lerp(a, b, 9)[4].norm() < path[4].norm() - 1e-3
    # Equal angles between consecutive steps.
    cos = torch.nn.functional.cosine_similarity(path[:-1], path[1:], dim=1)
    assert torch.allclose(cos, cos[0].expand(8), atol=1e-5)


def test_slerp_batches_and_parallel_fallback():
    a = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    b = torch.tensor([[0.0, 1.0], [4.0, 0.0]])  # row 1: parallel -> lerp
    path = L.slerp(a, b, 3)
    assert path.shape == (3, 2, 2)
    assert torch.allclose(path[1, 0], torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-6)
    assert torch.allclose(path[1, 1], torch.tensor([3.0, 0.0]))
    # Opposite vectors and a zero vector also fall back to the straight line, without NaN.
    assert torch.allclose(L.slerp(torch.tensor([1.0, 0]), torch.tensor([-1.0, 0]), 3)[1], torch.zeros(2))
    assert torch.isfinite(L.slerp(torch.zeros(2), torch.ones(2), 4)).all()
    # numpy in, tensor out
    assert L.slerp(np.ones(3), np.full(3, 2.0), 4).shape == (4, 3)


def test_interpolation_rejects_bad_input():
    with pytest.raises(ValueError):
        L.slerp(torch.zeros(3), torch.zeros(4), 5)
    with pytest.raises(ValueError):
        L.lerp(torch.zeros(3), torch.ones(3), 1)


def test_interpolate_ends_are_reconstructions(cae, digits):
    x0, x1 = digits.x_test[0], digits.x_test[1]
    for method in ("lerp", "slerp"):
        imgs = L.interpolate(cae, x0, x1, 7, method)
        assert imgs.shape == (7, 1, 8, 8)
        assert 0 <= imgs.min() and imgs.max() <= 1
        rec = L.reconstruct(cae, torch.stack([x0, x1]))
        assert torch.allclose(imgs[0], rec[0], atol=1e-5)
        assert torch.allclose(imgs[-1], rec[1], atol=1e-5)
    with pytest.raises(ValueError):
        L.interpolate(cae, x0, x1, 5, "cubic")


def test_interpolate_identity_model_is_the_path_itself():
    m = IdentityModel(4)
    x0 = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 1, 4)
    x1 = torch.tensor([0.5, 0.6, 0.7, 0.8]).view(1, 1, 4)
    imgs = L.interpolate(m, x0, x1, 5, "lerp")
    assert torch.allclose(imgs.flatten(1), L.lerp(x0.flatten(), x1.flatten(), 5))


def test_random_pair_picks_the_classes():
    y = np.array([0, 1, 2, 1, 0, 2])
    i, j = L.random_pair(y, 0, 2, seed=3)
    assert y[i] == 0 and y[j] == 2
    assert L.random_pair(y, 1, 1, seed=0)[0] != L.random_pair(y, 1, 1, seed=0)[1]
    with pytest.raises(ValueError):
        L.random_pair(y, 0, 7)


# --------------------------------------------------------------------------- sampling


def test_sample_shapes_seed_and_temperature(cae):
    a = L.sample(cae, 6, temperature=1.0, seed=1)
    assert a.shape == (6, 1, 8, 8) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, L.sample(cae, 6, temperature=1.0, seed=1))
    assert not torch.equal(a, L.sample(cae, 6, temperature=1.0, seed=2))
    cold = L.sample(cae, 3, temperature=0.0, seed=1)  # every code at the fitted mean
    assert torch.allclose(cold[0], cold[1]) and torch.allclose(cold[0], L.decode(cae, cae.code_mean)[0])


def test_prior_label():
    assert L.prior_label(build_model("cae", {"latent_dim": 2}, (1, 8, 8))) == "Gaussian fitted to the training codes"
    assert L.prior_label(build_model("ae", {"latent_dim": 2}, (1, 8, 8))) == "Gaussian fitted to the training codes"
    assert L.prior_label(build_model("vae", {"latent_dim": 2, "prior": "normal"}, (1, 8, 8))) == "N(0, I) prior"
    assert L.prior_label(build_model("vae", {"latent_dim": 2}, (1, 8, 8))) == "VampPrior (mixture over learned pseudo-images)"
    assert L.prior_label(build_model("gan", {"latent_dim": 2}, (1, 8, 8))) == "N(0, I) prior"


# --------------------------------------------------------------------------- manifold grid and traversal


def test_manifold_codes_over_two_dims():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 5)) * np.array([1, 2, 3, 4, 5]) + 10
    grid = L.manifold_codes(codes, dims=(1, 3), n=5, span=2.0)
    assert grid.shape == (25, 5)
    mean, std = codes.mean(0), codes.std(0)
    others = [0, 2, 4]
    assert np.allclose(grid[:, others], mean[others], atol=1e-4)
    # top-left: first dim at -span, second at +span; bottom-right the opposite
    assert np.allclose(grid[0, [1, 3]], [mean[1] - 2 * std[1], mean[3] + 2 * std[3]], atol=1e-4)
    assert np.allclose(grid[-1, [1, 3]], [mean[1] + 2 * std[1], mean[3] - 2 * std[3]], atol=1e-4)
    assert np.allclose(grid[12], mean, atol=1e-4)  # centre cell
    with pytest.raises(ValueError):
        L.manifold_codes(codes, dims=(1, 1))
    with pytest.raises(ValueError):
        L.manifold_codes(codes, dims=(0, 9))


def test_manifold_codes_principal_directions_and_2d_latent():
    rng = np.random.default_rng(1)
    direction = np.array([3.0, 4.0, 0.0]) / 5
    codes = rng.normal(size=(400, 1)) * 3 * direction + rng.normal(size=(400, 3)) * 0.1
    grid = L.manifold_codes(codes, None, n=3, span=1.0)
    along = (grid[2] - grid[0]) / np.linalg.norm(grid[2] - grid[0])  # top row, left -> right
    assert abs(abs(along @ direction) - 1) < 1e-3
    two = rng.normal(size=(100, 2))
    g2 = L.manifold_codes(two, None, n=4)
    assert np.allclose(g2, L.manifold_codes(two, (0, 1), n=4))  # a 2-D latent: its own axes


def test_manifold_grid_decodes(cae, digits):
    codes = encode_split(cae, digits.x_test)
    imgs = L.manifold_grid(cae, codes, None, n=4)
    assert imgs.shape == (16, 1, 8, 8)
    assert L.manifold_grid(cae, codes, (0, 2), n=3).shape == (9, 1, 8, 8)


def test_traverse_and_dim_helpers():
    m = IdentityModel(4)
    base = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    img = L.traverse(m, base, {1: 0.9, 3: 0.0})
    assert img.shape == (1, 1, 4)
    assert torch.allclose(img.flatten(), torch.tensor([0.1, 0.9, 0.3, 0.0]))
    assert np.allclose(base, [0.1, 0.2, 0.3, 0.4])  # base left alone
    with pytest.raises(ValueError):
        L.traverse(m, base, {4: 1.0})
    strip = L.traversal_strip(m, base, 2, 0.0, 1.0, n=3)
    assert torch.allclose(strip[:, 0, 0, 2], torch.tensor([0.0, 0.5, 1.0]))
    codes = np.random.default_rng(0).normal(size=(300, 4)) * np.array([1.0, 5.0, 0.1, 2.0])
    assert list(L.top_variance_dims(codes, 3)) == [1, 3, 0]
    mean, std = L.dim_stats(codes)
    assert mean.shape == std.shape == (4,) and np.allclose(std, codes.std(0), rtol=1e-5)


# --------------------------------------------------------------------------- arithmetic


def test_class_means_known_values():
    codes = np.array([[0, 0], [2, 2], [10, 0], [0, 10]], dtype=np.float32)
    means = L.class_means(codes, [0, 0, 2, 2], n_classes=4)
    assert means.shape == (4, 2)
    assert np.allclose(means[0], [1, 1]) and np.allclose(means[2], [5, 5])
    assert np.isnan(means[1]).all() and np.isnan(means[3]).all()


def test_latent_arithmetic_on_known_vectors():
    m = IdentityModel(4)
    x_a = torch.tensor([0.5, 0.5, 0.5, 0.5]).view(1, 1, 4)
    means = np.array([[0.2, 0.0, 0.0, 0.0], [0.0, 0.3, 0.0, 0.0]], dtype=np.float32)
    out = L.latent_arithmetic(m, x_a, 0, 1, means)
    assert out.shape == (1, 1, 4)
    assert torch.allclose(out.flatten(), torch.tensor([0.3, 0.8, 0.5, 0.5]))
    # Going to the same class changes nothing.
    assert torch.allclose(L.latent_arithmetic(m, x_a, 1, 1, means).flatten(), x_a.flatten())
    with pytest.raises(ValueError):
        L.arithmetic_code(torch.zeros(4), 0, 5, means)
    with pytest.raises(ValueError):
        L.arithmetic_code(torch.zeros(4), 0, 1, np.array([[0.0] * 4, [np.nan] * 4]))


# --------------------------------------------------------------------------- threads for interactive decodes


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
