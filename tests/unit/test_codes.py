"""core.codes: encoding a split (codes and errors in one pass), its disk cache, noisy reconstructions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import codes as C
from tests.unit.test_latent import IdentityModel, cae  # noqa: F401  (cae is a fixture)


def test_encode_split_shapes_progress_and_errors(cae, digits):
    x = digits.x_test
    seen = []
    codes, errors = C.encode_split(cae, x, batch_size=100, progress=lambda d, t: seen.append((d, t)),
                                   with_errors=True)
    assert codes.shape == (len(x), 4) and codes.dtype == np.float32
    assert errors.shape == (len(x),) and (errors > 0).all()
    assert seen[0] == (0, len(x)) and seen[-1] == (len(x), len(x)) and len(seen) == 5
    assert np.allclose(codes, C.encode_split(cae, x, batch_size=512), atol=1e-5)
    # The per-image errors average to the model's own reconstruction BCE.
    assert errors.mean() == pytest.approx(cae.evaluate(x)["recon_bce"], rel=1e-4)
    assert np.allclose(C.recon_errors(cae, x[:10]), errors[:10], atol=1e-6)
    assert C.encode_split(cae, x[:0]).shape == (0, 4)


def test_cached_codes_round_trip(cae, digits, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    c1, e1, hit1 = C.cached_codes(run, cae, digits.x_test, "test")
    c2, e2, hit2 = C.cached_codes(run, cae, digits.x_test, "test")
    assert (hit1, hit2) == (False, True)
    assert np.array_equal(c1, c2) and np.array_equal(e1, e2)
    files = list((run / "latent-cache").iterdir())
    assert len(files) == 1 and not files[0].name.startswith(".tmp")
    # Other images of the same split name get their own file.
    _, _, hit3 = C.cached_codes(run, cae, digits.x_test[:50], "test")
    assert not hit3 and len(list((run / "latent-cache").iterdir())) == 2
    # A damaged file is recomputed.
    files[0].write_bytes(b"not an npz")
    c4, _, hit4 = C.cached_codes(run, cae, digits.x_test, "test")
    assert not hit4 and np.array_equal(c4, c1)
    # No run folder: just encode.
    assert not C.cached_codes(None, cae, digits.x_test[:5])[2]


# --------------------------------------------------------------------------- noisy reconstructions


def _page_bce(rec: torch.Tensor, clean: torch.Tensor) -> np.ndarray:
    """The error as pages/reconstructions.py computed it before noisy_reconstructions existed."""
    return F.binary_cross_entropy(rec.clamp(1e-6, 1 - 1e-6), clean, reduction="none").flatten(1).mean(1).numpy()


def test_noisy_reconstructions_without_noise_feeds_the_images_themselves():
    m = IdentityModel(4)
    x = torch.rand(3, 1, 1, 4, generator=torch.Generator().manual_seed(0))
    fed, rec, err = C.noisy_reconstructions(m, x)
    assert fed is x
    assert torch.equal(rec, x)  # the identity model rebuilds its input exactly
    assert err.shape == (3,) and err.dtype == np.float32
    assert np.allclose(err, _page_bce(x, x))


def test_noisy_reconstructions_seeded_noise_and_error_against_the_clean_images():
    m = IdentityModel(4)
    x = torch.rand(5, 1, 1, 4, generator=torch.Generator().manual_seed(1))
    fed, rec, err = C.noisy_reconstructions(m, x, noise=0.3, seed=7)
    # The same numbers the page drew: one CPU generator seeded with the seed, clamped to [0, 1].
    expected = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(7))).clamp(0, 1)
    assert torch.equal(fed, expected)
    assert 0 <= fed.min() and fed.max() <= 1 and not torch.equal(fed, x)
    assert torch.equal(rec, fed)  # identity: the reconstruction is the noisy input...
    assert np.allclose(err, _page_bce(rec, x))  # ...but it is scored against the clean image
    assert not np.allclose(err, _page_bce(rec, fed))
    again = C.noisy_reconstructions(m, x, noise=0.3, seed=7)
    assert torch.equal(again[0], fed) and np.array_equal(again[2], err)
    assert not torch.equal(C.noisy_reconstructions(m, x, noise=0.3, seed=8)[0], fed)


def test_noisy_reconstructions_of_a_real_model(cae, digits):
    x = digits.x_test[:12]
    fed, rec, err = C.noisy_reconstructions(cae, x)
    assert fed is x and rec.shape == x.shape and 0 <= rec.min() and rec.max() <= 1
    assert np.allclose(err, C.recon_errors(cae, x), atol=1e-6)  # same measure as the split scores
    fed_n, rec_n, err_n = C.noisy_reconstructions(cae, x, noise=0.5, seed=0)
    assert not torch.equal(fed_n, x) and not torch.equal(rec_n, rec)
    assert np.allclose(err_n, _page_bce(rec_n, x))  # against the clean images
