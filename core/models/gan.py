"""DCGAN-style GAN, with an approximate encoder by latent optimisation."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoders import latent_knob
from .base import LatentModel, PadCrop, Shape
from .spec import knob


@dataclass
class GANConfig:
    """DCGAN generator/discriminator sizes and the latent-optimisation encoder."""

    latent_dim: int = latent_knob(32)
    width: int = knob(64, "Width", "Channels of the first generator and last discriminator layer.",
                      lo=1, hi=1024, options=(16, 32, 64, 128))
    label_smoothing: float = knob(0.9, "Real-image target (label smoothing)", "Below 1 keeps the "
                                  "discriminator from growing over-confident.", lo=0.5, hi=1.0, step=0.05)
    encode_steps: int = knob(200, "Encoder steps", "Adam steps that find the code of a real image "
                             "(the GAN has no encoder network).", lo=1, hi=1000, options=(50, 100, 200, 400))
    # hi=1000: every encoded batch costs encode_steps generator passes, so a saved run asking for
    # millions would hang the page that encodes with it.
    encode_lr: float = knob(0.05, "Encoder step size", lo=0, hi=10, options=(0.01, 0.02, 0.05, 0.1))


class Generator(nn.Module):
    """z (B, D) -> linear -> (2w, H/4, W/4) -> two transposed convs -> logits."""

    def __init__(self, shape: Shape, d: int, w: int):
        super().__init__()
        self.pc = PadCrop(shape, 4)
        self.grid = (2 * w, self.pc.ph // 4, self.pc.pw // 4)
        self.fc = nn.Sequential(nn.Linear(d, 2 * w * self.grid[1] * self.grid[2]),
                                nn.BatchNorm1d(2 * w * self.grid[1] * self.grid[2]), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, shape[0], 4, 2, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.pc.crop(self.net(self.fc(z).view(-1, *self.grid)))


class Discriminator(nn.Module):
    """Image -> two stride-2 convs -> one real/fake logit."""

    def __init__(self, shape: Shape, w: int):
        super().__init__()
        self.pc = PadCrop(shape, 4)
        flat = 2 * w * (self.pc.ph // 4) * (self.pc.pw // 4)
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(flat, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pc.pad(x)).squeeze(1)


class GAN(LatentModel):
    """DCGAN. ``encode`` finds z with G(z) close to x by gradient descent: approximate."""

    approximate_encoder = True

    def __init__(self, config: GANConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        self.G = Generator(self.shape, config.latent_dim, config.width)
        self.D = Discriminator(self.shape, config.width)
        # Fixed noise, so the live preview shows the same samples improving.
        self.register_buffer("preview_z", torch.randn(32, config.latent_dim,
                                                      generator=torch.Generator().manual_seed(0)))

    def configure_optimizers(self, lr: float) -> list[torch.optim.Optimizer]:
        """Adam for D and for G, with DCGAN's beta1 = 0.5."""
        return [torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999)),
                torch.optim.Adam(self.G.parameters(), lr=lr, betas=(0.5, 0.999))]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)

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
        fake = self.decode(self.prior_sample(x.shape[0]))
        d, g = self._d_loss(x, fake), self._g_loss(fake)
        return {"loss": d + g, "d_loss": d, "g_loss": g}

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None,
                   optimizers: list[torch.optim.Optimizer]) -> dict[str, float]:
        """One D step on real + fake, then one G step (non-saturating loss)."""
        opt_d, opt_g = optimizers
        fake = self.decode(self.prior_sample(x.shape[0]))
        d = self._d_loss(x, fake.detach())
        opt_d.zero_grad(set_to_none=True)
        d.backward()
        opt_d.step()
        g = self._g_loss(fake)
        opt_g.zero_grad(set_to_none=True)
        g.backward()
        opt_g.step()
        d, g = float(d.detach()), float(g.detach())
        return {"loss": d + g, "d_loss": d, "g_loss": g}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Approximate codes: a few hundred batched Adam steps on ||G(z) - x||^2."""
        was_training = self.training
        self.eval()
        params = list(self.G.parameters())
        for p in params:
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                gen = torch.Generator(device="cpu").manual_seed(0)
                z = torch.randn(x.shape[0], self.latent_dim, generator=gen).to(x.device)
                z.requires_grad_(True)
                opt = torch.optim.Adam([z], lr=self.config.encode_lr)
                for _ in range(self.config.encode_steps):
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
