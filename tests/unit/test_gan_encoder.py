"""Issue 13, item 3: a GAN encoder trained alongside the generator, and older GAN runs still load."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from core.engine import TrainConfig, train
from core.models import build_model, make_config
from core.models.gan import upgrade_config
from core.store import load_run, save_run

OLD_CONFIG = {"latent_dim": 8, "width": 16, "label_smoothing": 0.9, "encode_steps": 7, "encode_lr": 0.02}


@pytest.fixture(scope="module")
def gan(digits):
    """A small GAN with its encoder network, trained for a few epochs on digits."""
    torch.manual_seed(0)
    m = build_model("gan", {"width": 16, "latent_dim": 8}, digits.shape)
    res = train(m, digits, TrainConfig(epochs=4, batch_size=64, lr=2e-3, preview_every=0))
    return m, res


def _bce(model, z, x):
    with torch.no_grad():
        return float(F.binary_cross_entropy(model.decode(z).clamp(1e-6, 1 - 1e-6), x))


def test_encoder_learns_alongside_and_encodes_in_one_pass(gan, digits):
    model, res = gan
    assert model.E is not None and not model.approximate_encoder
    hist = res.history
    assert {"e_latent", "e_recon"} <= set(hist)
    assert sum(hist["e_recon"][-5:]) < sum(hist["e_recon"][:5]), "the encoder's reconstruction improves"
    x = digits.x_test[:64]
    z = model.encode(x)
    assert z.shape == (64, 8)
    with torch.no_grad():
        assert torch.equal(z, model.E(x)), "no refinement by default: one forward pass"
    assert torch.equal(model.encode(x), z), "deterministic"
    rand = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    assert _bce(model, z, x) < _bce(model, rand, x)


def test_refinement_steps_improve_the_encoders_guess(gan, digits):
    model, _ = gan
    x = digits.x_test[:64]
    z0 = model.encode(x)
    z10 = model.refine(x, z0, 10)
    assert _bce(model, z10, x) < _bce(model, z0, x)
    assert all(p.requires_grad for p in model.G.parameters()), "the generator is left trainable"


def test_encoder_step_leaves_the_generator_alone(digits):
    torch.manual_seed(0)
    m = build_model("gan", {"width": 8, "latent_dim": 4}, digits.shape).train()
    opts = m.configure_optimizers(1e-3)
    assert len(opts) == 3
    x = digits.x_train[:32]
    z = m.prior_sample(32)
    fake = m.decode(z).detach()  # (in training mode this moves G's BatchNorm statistics: before the snapshot)
    before = {k: v.clone() for k, v in m.G.state_dict().items()}
    e_before = [p.clone() for p in m.E.parameters()]
    parts = m._encoder_step(x, z, fake, opts[2])
    assert set(parts) == {"e_latent", "e_recon"}
    for k, v in m.G.state_dict().items():  # weights and BatchNorm running statistics
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in m.G.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(e_before, m.E.parameters()))
    assert m.G.training, "back in training mode"


def test_upgrade_maps_old_keys_and_leaves_new_configs_alone():
    assert upgrade_config({"width": 32}) == {"width": 32}
    new = {"encoder": "network", "refine_steps": 0}
    assert upgrade_config(dict(new)) == new
    cfg = make_config("gan", OLD_CONFIG)
    assert (cfg.encoder, cfg.refine_steps, cfg.refine_lr) == ("optimise", 7, 0.02)
    assert make_config("gan").encoder == "network"


def test_a_run_saved_before_the_encoder_still_loads(digits, tmp_path):
    """An older run: config with encode_steps/encode_lr, weights without E."""
    torch.manual_seed(0)
    old = build_model("gan", make_config("gan", OLD_CONFIG), digits.shape)
    assert old.E is None
    path = save_run(old, dataset="digits", path=tmp_path / "old-gan")
    meta = json.loads((path / "run.json").read_text())
    meta["config"] = dict(OLD_CONFIG)  # exactly what an older Latent Lab wrote
    (path / "run.json").write_text(json.dumps(meta))
    assert not any(k.startswith("E.") for k in load_file(str(path / "model.safetensors")))
    run = load_run(path)
    assert run.model.approximate_encoder and run.model.E is None
    z = run.model.encode(digits.x_test[:4])
    assert z.shape == (4, 8) and torch.isfinite(z).all()
    assert run.model.evaluate(digits.x_test[:4])["approximate"] is True
