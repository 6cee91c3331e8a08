"""DCGAN-style GAN with an encoder network trained alongside (an inverse of the generator).

The encoder E learns to invert G on pairs (G(z), z) that the training makes
anyway (the "latent regressor" of Donahue et al. 2017's BiGAN comparison and
of the "autoencoders inside GANs" seeds): one small extra step per batch, and
then encoding an image is one forward pass instead of hundreds of gradient
steps. An optional few-step latent optimisation refines E's guess. Runs saved
before the encoder existed (config keys ``encode_steps``/``encode_lr``) load as
``encoder="optimise"``: codes by optimisation from a random start, as then.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoders import latent_knob
from .base import LatentModel, PadCrop, Shape, adam
from .spec import Knob, checked_value, knob

ENCODERS = ("network", "optimise")
ENCODER_LR = 1e-3
# Weight of the encoder's reconstruction term on real images (BCE per pixel through the
# frozen generator). Regression on fakes alone left real images 18% worse off (BCE 0.24)
# than today's 200-step optimisation (0.205); with this term the encoder alone beats it.
E_RECON = 1.0
# The generator's average: its decay ramps up as min(ema, (1 + n) / (10 + n)) after n steps, so a
# short training averages over a window that grows with it instead of starting from the random init.
EMA_RAMP = 10


@dataclass
class GANConfig:
    """DCGAN generator/discriminator sizes and how real images get their codes."""

    latent_dim: int = latent_knob(32)
    width: int = knob(32, "Width", "Channels of the first generator and last discriminator layer.",
                      lo=1, hi=1024, options=(16, 32, 64, 128))
    label_smoothing: float = knob(0.9, "Real-image target (label smoothing)", "Below 1 keeps the "
                                  "discriminator from growing over-confident.", lo=0.5, hi=1.0, step=0.05)
    encoder: str = knob("network", "Encoder", "network: an encoder trained alongside the generator to "
                        "invert it (codes in one pass); optimise: no encoder, each code is found by "
                        "gradient descent (slow; how older runs work).", choices=ENCODERS, form=False)
    refine_steps: int = knob(0, "Code refinement steps", "Adam steps on ||G(z) - x||^2 after the encoder's "
                             "guess (0: the encoder alone; with encoder=optimise: all the steps).",
                             lo=0, hi=1000, options=(0, 5, 10, 25, 50, 100, 200, 400))
    # hi=1000: every encoded batch costs refine_steps generator passes, so a saved run asking for
    # millions would hang the page that encodes with it.
    refine_lr: float = knob(0.05, "Refinement step size", lo=0, hi=10, options=(0.01, 0.02, 0.05, 0.1),
                            form=False)
    # depth 2, ema 0.999 and d_lr 2 together took the default GAN from FD 71 to 12 on mnist5k (seed 0;
    # each alone: 47-62), for about twice the time per step (bench/gan_quality.py).
    depth: int = knob(2, "Convolutions per scale", "1: DCGAN's one (transposed) convolution per "
                      "resolution; 2 adds a 3x3 convolution at each resolution of the generator and the "
                      "discriminator: far better samples, about twice the time per step.",
                      lo=1, hi=3, options=(1, 2, 3))
    ema: float = knob(0.999, "Generator averaging (EMA)", "Images come from a running average of the "
                      "generator's weights, which smooths out the back-and-forth of the adversarial game. "
                      "Its decay after n steps is (1 + n) / (10 + n), about the last tenth of the training, "
                      "up to this cap (0.999: reached after 9,000 steps). 0: the generator as trained.",
                      lo=0.0, hi=0.9999, options=(0.0, 0.99, 0.999))
    d_lr: float = knob(2.0, "Discriminator step size (x lr)", "The discriminator's learning rate over the "
                       "generator's (two time-scale update rule, Heusel et al. 2017).",
                       lo=0.1, hi=10.0, options=(1.0, 2.0, 4.0), form=False)


# The keys of GAN runs saved before the encoder network, with their limits then.
_OLD_KEYS = {"encode_steps": ("refine_steps", int, 200, Knob("Encoder steps", lo=1, hi=1000)),
             "encode_lr": ("refine_lr", float, 0.05, Knob("Encoder step size", lo=0, hi=10))}


def upgrade_config(values: dict) -> dict:
    """An older run's GAN config in today's keys: one saved before the encoder network (encode_steps/
    encode_lr) finds codes by optimisation; one saved before depth/ema/d_lr (its whole config without
    them) had one convolution per scale, no averaging and one learning rate."""
    if {"latent_dim", "width", "label_smoothing"} <= set(values):
        values = {"depth": 1, "ema": 0.0, "d_lr": 1.0, **values}
    if "encoder" in values or not set(_OLD_KEYS) & set(values):
        return values
    out = {k: v for k, v in values.items() if k not in _OLD_KEYS}
    out["encoder"] = "optimise"  # codes by optimisation from a random start, as such runs had
    for old, (new, hint, default, k) in _OLD_KEYS.items():
        out[new] = checked_value(old, values[old], hint, k) if old in values else default
    return out


def _same_convs(ch: int, n: int, norm: bool, act: Callable[[], nn.Module]) -> list[nn.Module]:
    """n 3x3 convolutions that keep the size and channels (the extra ones of depth > 1), each followed
    by BatchNorm if ``norm`` and a fresh ``act()``."""
    out: list[nn.Module] = []
    for _ in range(n):
        out += [nn.Conv2d(ch, ch, 3, 1, 1), *([nn.BatchNorm2d(ch)] if norm else []), act()]
    return out


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)  # DCGAN's discriminator slope


class Generator(nn.Module):
    """z (B, D) -> linear -> (2w, H/4, W/4) -> two transposed convs -> logits; with depth > 1, depth - 1
    more 3x3 convs at each of the two resolutions before the upsampling."""

    def __init__(self, shape: Shape, d: int, w: int, depth: int = 1):
        super().__init__()
        self.pc = PadCrop(shape, 4)
        self.grid = (2 * w, self.pc.ph // 4, self.pc.pw // 4)
        self.fc = nn.Sequential(nn.Linear(d, 2 * w * self.grid[1] * self.grid[2]),
                                nn.BatchNorm1d(2 * w * self.grid[1] * self.grid[2]), nn.ReLU())
        self.net = nn.Sequential(
            *_same_convs(2 * w, depth - 1, True, nn.ReLU),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            *_same_convs(w, depth - 1, True, nn.ReLU),
            nn.ConvTranspose2d(w, shape[0], 4, 2, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # contiguous: images leave in the usual layout whatever the weights' (a no-op for one channel)
        return self.pc.crop(self.net(self.fc(z).view(-1, *self.grid))).contiguous()


class Discriminator(nn.Module):
    """Image -> two stride-2 convs -> one real/fake logit; with depth > 1, depth - 1 more 3x3 convs
    after each of them."""

    def __init__(self, shape: Shape, w: int, depth: int = 1):
        super().__init__()
        self.pc = PadCrop(shape, 4)
        flat = 2 * w * (self.pc.ph // 4) * (self.pc.pw // 4)
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], w, 4, 2, 1), nn.LeakyReLU(0.2),
            *_same_convs(w, depth - 1, False, _leaky),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            *_same_convs(2 * w, depth - 1, False, _leaky),
            nn.Flatten(), nn.Linear(flat, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pc.pad(x)).squeeze(1)


class Encoder(nn.Module):
    """Image -> two stride-2 convs -> code (B, D): the generator's inverse."""

    def __init__(self, shape: Shape, d: int, w: int):
        super().__init__()
        self.pc = PadCrop(shape, 4)
        flat = 2 * w * (self.pc.ph // 4) * (self.pc.pw // 4)
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(flat, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pc.pad(x))


class GAN(LatentModel):
    """DCGAN with an encoder network (or, for older runs, codes by optimisation)."""

    approximate_encoder = True  # some GANs (encoder="optimise") find codes by optimisation

    def __init__(self, config: GANConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        self.G = Generator(self.shape, config.latent_dim, config.width, config.depth)
        self.D = Discriminator(self.shape, config.width, config.depth)
        # The generator that makes the images (samples, decoding, the encoder's target): a running
        # average of G's weights when ema > 0. Its BatchNorm statistics are its own, gathered on the
        # batches it makes each step. (torch's AveragedModel would copy G's statistics instead, which
        # belong to other weights.)
        self.G_ema = None
        if config.ema > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
            self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))
        self.E = Encoder(self.shape, config.latent_dim, config.width) if config.encoder == "network" else None
        # Per model: only codes found by optimisation are slow and approximate.
        self.approximate_encoder = self.E is None
        # Fixed noise, so the live preview shows the same samples improving.
        self.register_buffer("preview_z", torch.randn(32, config.latent_dim,
                                                      generator=torch.Generator().manual_seed(0)))
        # Convolution weights stored channels-last: oneDNN's layout on the CPU, where the usual one is
        # reordered at every call (0.90x the time a step on 2 cores, interleaved). Saved runs hold plain
        # contiguous copies (core.store), which load_state_dict copies back into this layout.
        self.to(memory_format=torch.channels_last)

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        """Adam for D (d_lr times faster), for G (DCGAN's beta1 = 0.5) and, if there is one, the encoder."""
        opts = [adam(self.D.parameters(), lr=lr * self.config.d_lr, betas=(0.5, 0.999)),
                adam(self.G.parameters(), lr=lr, betas=(0.5, 0.999))]
        if self.E is not None:
            # The encoder is plain regression: a usual Adam step size, not the GAN's.
            opts.append(adam(self.E.parameters(), lr=ENCODER_LR))
        return opts

    @property
    def generator(self) -> nn.Module:
        """The generator images come from: G's running average if there is one, else G."""
        return self.G if self.G_ema is None else self.G_ema

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def prior_sample(self, n: int, temperature: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes from the N(0, I) prior."""
        return temperature * torch.randn(n, self.latent_dim, generator=generator,
                                         device=self.code_mean.device)

    def _d_loss(self, x: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real_logit, fake_logit = self.D(x), self.D(fake)
        return (F.binary_cross_entropy_with_logits(
                    real_logit, torch.full_like(real_logit, self.config.label_smoothing))
                + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))

    def _g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        logit = self.D(fake)
        return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        fake = torch.sigmoid(self.G(self.prior_sample(x.shape[0])))
        d, g = self._d_loss(x, fake), self._g_loss(fake)
        return {"loss": d + g, "d_loss": d, "g_loss": g}

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None,
                   optimizers: list[torch.optim.Optimizer]) -> dict[str, float]:
        """One D step on real + fake, one G step (non-saturating loss), the average's update, then one
        encoder step."""
        opt_d, opt_g, *opt_e = optimizers
        z = self.prior_sample(x.shape[0])
        fake = torch.sigmoid(self.G(z))  # the generator being trained, not its average
        d = self._d_loss(x, fake.detach())
        opt_d.zero_grad(set_to_none=True)
        d.backward()
        opt_d.step()
        g = self._g_loss(fake)
        opt_g.zero_grad(set_to_none=True)
        # Gradients for G only: D's weight gradients of this loss were computed and thrown away
        # (D's next zero_grad) before; skipping them is 7% of a step, every weight bit for bit as before.
        g.backward(inputs=list(self.G.parameters()))
        opt_g.step()
        out = {"d_loss": float(d.detach()), "g_loss": float(g.detach())}
        out["loss"] = out["d_loss"] + out["g_loss"]
        if self.G_ema is not None:
            fake = self._ema_step(z)
        if self.E is not None and opt_e:
            out.update(self._encoder_step(x, z, fake.detach(), opt_e[0]))
        return {"loss": out.pop("loss"), **out}

    @torch.no_grad()
    def _ema_step(self, z: torch.Tensor) -> torch.Tensor:
        """Move the average towards G's new weights; returns its images of z, made in training mode
        so that its BatchNorm statistics follow its own weights."""
        n = int(self.ema_steps)
        decay = min(self.config.ema, (1 + n) / (EMA_RAMP + n))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1 - decay)
        self.ema_steps += 1
        self.G_ema.train()
        return torch.sigmoid(self.G_ema(z))

    def _encoder_step(self, x: torch.Tensor, z: torch.Tensor, fake: torch.Tensor,
                      opt: torch.optim.Optimizer) -> dict[str, float]:
        """One encoder step: regress z from the generator's image of z, and rebuild the real batch
        through the frozen generator."""
        latent = F.mse_loss(self.E(fake), z)  # this step's fakes are free (image, code) pairs
        gen = self.generator
        gen.eval()  # as it runs when encoding: running BatchNorm statistics, none updated
        recon = F.binary_cross_entropy_with_logits(gen(self.E(x)), x)
        gen.train()
        loss = latent + E_RECON * recon
        params = list(self.E.parameters())
        # Gradients for E only: nothing is computed for (or left on) G's weights.
        for p, g in zip(params, torch.autograd.grad(loss, params)):
            p.grad = g
        opt.step()
        return {"e_latent": float(latent.detach()), "e_recon": float(recon.detach())}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (B, D): the encoder's guess, then ``refine_steps`` of latent optimisation (if any)."""
        if self.E is not None:
            with torch.no_grad():
                was_training = self.training
                self.eval()
                z0 = self.E(x)
                self.train(was_training)
            return self.refine(x, z0, self.config.refine_steps) if self.config.refine_steps else z0
        gen = torch.Generator(device="cpu").manual_seed(0)
        z0 = torch.randn(x.shape[0], self.latent_dim, generator=gen).to(x.device)
        return self.refine(x, z0, self.config.refine_steps)

    def refine(self, x: torch.Tensor, z0: torch.Tensor, steps: int) -> torch.Tensor:
        """Batched Adam steps on ||G(z) - x||^2 (+ a small pull to the prior) from codes z0."""
        was_training = self.training
        self.eval()
        # Freeze the generator for the code's gradient steps (its average is frozen already).
        params = [p for p in self.generator.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                z = z0.detach().clone().requires_grad_(True)
                opt = torch.optim.Adam([z], lr=self.config.refine_lr)
                for _ in range(steps):
                    opt.zero_grad(set_to_none=True)
                    err = F.mse_loss(self.decode(z), x, reduction="sum") + 1e-3 * z.pow(2).sum()
                    err.backward()
                    opt.step()
        finally:
            for p in params:
                p.requires_grad_(True)
            self.train(was_training)
        return z.detach()

    @torch.no_grad()
    def fit_end(self, x_train: torch.Tensor) -> None:
        """GANs sample from their N(0, I) prior; nothing to fit."""

    @torch.no_grad()
    def preview(self, x: torch.Tensor) -> torch.Tensor:
        """Samples from the fixed preview noise."""
        was_training = self.training
        self.eval()
        out = self.decode(self.preview_z)
        self.train(was_training)
        return out
