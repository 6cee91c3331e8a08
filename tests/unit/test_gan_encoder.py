"""Issue 13: a GAN encoder trained alongside the generator (item 3), the generator's running average,
depth and discriminator step size (item 2), and older GAN runs still load."""
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
    fake = m.decode(z).detach()  # (in training mode this moves BatchNorm statistics: before the snapshot)
    before = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith("E.")}
    e_before = [p.clone() for p in m.E.parameters()]
    parts = m._encoder_step(x, z, fake, opts[2])
    assert set(parts) == {"e_latent", "e_recon"}
    for k, v in m.state_dict().items():  # G, its average and D: weights and BatchNorm statistics
        if not k.startswith("E."):
            assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in [*m.G.parameters(), *m.G_ema.parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(e_before, m.E.parameters()))
    assert m.G.training and m.G_ema.training, "back in training mode"


def test_the_generators_step_computes_no_discriminator_gradients(digits):
    """Issue 23: the G step's backward stops at G's weights; D's gradients are its own loss's alone."""
    import copy
    torch.manual_seed(0)
    m = build_model("gan", {"width": 8, "latent_dim": 4}, digits.shape).train()
    ref = copy.deepcopy(m)
    x = digits.x_train[:32]
    torch.manual_seed(1)
    m.train_step(x, None, m.configure_optimizers(1e-3))
    torch.manual_seed(1)
    fake = torch.sigmoid(ref.G(ref.prior_sample(32)))
    want = torch.autograd.grad(ref._d_loss(x, fake.detach()), list(ref.D.parameters()))
    for p, w in zip(m.D.parameters(), want):
        torch.testing.assert_close(p.grad, w)
    assert all(p.grad is not None for p in m.G.parameters())


def test_gan_weights_are_channels_last_and_a_saved_run_loads_the_same(gan, digits, tmp_path):
    """Issue 23: the convolutions' weights live in oneDNN's layout; the file holds plain tensors and a
    loaded run is the same model in the same layout, its images in the usual one."""
    model, _ = gan
    convs = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    run = load_run(save_run(model, dataset="digits", path=tmp_path / "gan"))
    for (k, a), b in zip(model.state_dict().items(), run.model.state_dict().values()):
        assert torch.equal(a, b) and a.stride() == b.stride(), k
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(run.model.sample(5, generator=gen), model.sample(5, generator=torch.Generator().manual_seed(3)))
    rgb = build_model("gan", {"width": 8, "latent_dim": 4}, (3, 12, 12)).eval()
    assert rgb.sample(2).is_contiguous(), "colour images leave in the usual layout"


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


# The module layout of a GAN saved before depth/ema existed (width 8): its weights must load as they are.
OLD_LAYOUT = ["code_mean", "code_chol", "preview_z", "G.fc.0.weight", "G.fc.0.bias", "G.fc.1.weight",
              "G.fc.1.bias", "G.fc.1.running_mean",
              "G.fc.1.running_var", "G.fc.1.num_batches_tracked", "G.net.0.weight", "G.net.0.bias",
              "G.net.1.weight", "G.net.1.bias", "G.net.1.running_mean", "G.net.1.running_var",
              "G.net.1.num_batches_tracked", "G.net.3.weight", "G.net.3.bias", "D.net.0.weight",
              "D.net.0.bias", "D.net.2.weight", "D.net.2.bias", "D.net.3.weight", "D.net.3.bias",
              "D.net.3.running_mean", "D.net.3.running_var", "D.net.3.num_batches_tracked",
              "D.net.6.weight", "D.net.6.bias", "E.net.0.weight", "E.net.0.bias", "E.net.2.weight",
              "E.net.2.bias", "E.net.5.weight", "E.net.5.bias"]


def test_a_run_saved_before_depth_and_averaging_keeps_its_layout():
    old = {"latent_dim": 4, "width": 8, "label_smoothing": 0.9, "encoder": "network", "refine_steps": 0,
           "refine_lr": 0.05}
    cfg = make_config("gan", old)
    assert (cfg.depth, cfg.ema, cfg.d_lr) == (1, 0.0, 1.0)
    m = build_model("gan", cfg, (1, 28, 28))
    assert list(m.state_dict()) == OLD_LAYOUT
    assert m.G_ema is None and m.generator is m.G
    assert m.configure_optimizers(1e-3)[0].param_groups[0]["lr"] == 1e-3
    assert make_config("gan", {"width": 8}).depth == 2, "a partial config (CLI --set) gets today's defaults"


def test_depth_adds_a_same_size_convolution_per_scale():
    shallow = build_model("gan", {"width": 8, "latent_dim": 4, "depth": 1}, (1, 28, 28))
    deep = build_model("gan", {"width": 8, "latent_dim": 4, "depth": 2}, (1, 28, 28))
    convs = lambda net: sum(isinstance(m, torch.nn.Conv2d) for m in net.modules())  # noqa: E731
    assert convs(deep.G.net) == convs(shallow.G.net) + 2 and convs(deep.D.net) == convs(shallow.D.net) + 2
    z = torch.randn(3, 4)
    assert deep.eval().decode(z).shape == (3, 1, 28, 28) and deep.D(torch.rand(3, 1, 28, 28)).shape == (3,)


def test_images_come_from_the_generators_running_average(digits):
    torch.manual_seed(0)
    m = build_model("gan", {"width": 8, "latent_dim": 4, "ema": 0.5}, digits.shape).train()
    assert m.generator is m.G_ema and not any(p.requires_grad for p in m.G_ema.parameters())
    opts = m.configure_optimizers(1e-3)
    assert opts[0].param_groups[0]["lr"] == pytest.approx(2e-3), "D steps d_lr = 2 times faster"
    x = digits.x_train[:32]
    for step in range(3):
        avg = [p.clone() for p in m.G_ema.parameters()]
        m.train_step(x, None, opts)
        decay = min(0.5, (1 + step) / (10 + step))  # the ramp, then the knob's decay
        for a, p, g in zip(avg, m.G_ema.parameters(), m.G.parameters()):
            assert torch.allclose(p, decay * a + (1 - decay) * g, atol=1e-6)
        assert p.grad is None
    assert int(m.ema_steps) == 3
    assert any(not torch.equal(a, g) for a, g in zip(m.G_ema.parameters(), m.G.parameters()))
    z = torch.randn(5, 4)
    m.eval()
    with torch.no_grad():
        assert torch.equal(m.decode(z), torch.sigmoid(m.G_ema(z)))
        assert not torch.equal(m.decode(z), torch.sigmoid(m.G(z)))
    # The average's BatchNorm statistics are its own: gathered on its own images, not copied from G.
    assert not torch.equal(m.G_ema.fc[1].running_mean, m.G.fc[1].running_mean)
    assert int(m.G_ema.fc[1].num_batches_tracked) == 3
