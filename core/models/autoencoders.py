"""Autoencoders: MLP AE (denoising, sparse), convolutional AE and VAE."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import LatentModel, PadCrop, Shape, conv_decoder, conv_encoder, recon_bce
from .spec import knob

LATENT_SIZES = (2, 3, 4, 8, 16, 32, 64, 128)


def latent_knob(default: int):
    """The code size knob every latent family shares."""
    return knob(default, "Latent size", "How many numbers the code of each image has.",
                lo=1, hi=1024, options=LATENT_SIZES)


def hidden_knob():
    """Sizes of an MLP's hidden layers: bounded, so a saved run cannot ask for a huge model."""
    return knob((512, 256), "Hidden layers", "Units of each hidden layer, encoder side (the decoder mirrors it).",
                lo=1, hi=4096, max_len=6, form=False)


def widths_knob():
    """Channels of each stride-2 conv layer: bounded, so a saved run cannot ask for a huge model."""
    return knob((32, 64), "Conv widths", "Channels of each stride-2 convolution (each halves the image side).",
                lo=1, hi=512, max_len=5, form=False)


def noise_knob():
    """Input noise for a denoising autoencoder."""
    return knob(0.0, "Input noise (denoising)", "Corrupt inputs with Gaussian noise; the target stays "
                "clean, so the model learns to denoise.", lo=0, step=0.05, ui_hi=0.8)


def sparsity_knob():
    """Weight of an L1 penalty on the code."""
    return knob(0.0, "Sparsity (L1 on the code)", "Pushes most code numbers to zero.", lo=0, step=0.01,
                ui_hi=1.0)


@dataclass
class AEConfig:
    """MLP autoencoder: image -> hidden layers -> code -> mirror."""

    latent_dim: int = latent_knob(32)
    hidden: tuple[int, ...] = hidden_knob()
    noise: float = noise_knob()  # std of Gaussian input noise (denoising AE); 0 = off
    sparsity: float = sparsity_knob()  # weight of the L1 penalty on the code; 0 = off


@dataclass
class CAEConfig:
    """Convolutional autoencoder: stride-2 convs -> code -> transposed convs."""

    latent_dim: int = latent_knob(32)
    widths: tuple[int, ...] = widths_knob()
    noise: float = noise_knob()  # std of Gaussian input noise (denoising); 0 = off
    sparsity: float = sparsity_knob()  # weight of the L1 penalty on the code; 0 = off


@dataclass
class VAEConfig:
    """Variational autoencoder with an MLP or conv encoder/decoder."""

    latent_dim: int = latent_knob(16)
    arch: str = knob("conv", "Encoder/decoder", "conv: convolutions (sharper); mlp: fully connected layers.",
                     choices=("conv", "mlp"))
    hidden: tuple[int, ...] = hidden_knob()  # for arch="mlp"
    widths: tuple[int, ...] = widths_knob()  # for arch="conv"
    beta: float = knob(1.0, "beta (weight of the KL term)", "Above 1 (a beta-VAE): a smoother, more "
                       "disentangled latent space and blurrier images.", lo=0, step=0.1, ui_hi=10.0)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with LeakyReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


def add_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Gaussian-corrupted copy of x, clamped to [0, 1] (denoising AE input)."""
    return (x + std * torch.randn_like(x)).clamp(0, 1) if std > 0 else x


class _MLPBody(nn.Module):
    """Flatten -> MLP -> out_dim, and the mirrored decoder."""

    def __init__(self, shape: Shape, hidden: tuple[int, ...], out_dim: int, latent_dim: int):
        super().__init__()
        self.shape = shape
        n = shape[0] * shape[1] * shape[2]
        self.enc = mlp([n, *hidden, out_dim])
        self.dec = mlp([latent_dim, *reversed(hidden), n])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z).view(-1, *self.shape)


class _ConvBody(nn.Module):
    """Pad -> stride-2 convs -> linear to out_dim, and the mirrored decoder."""

    def __init__(self, shape: Shape, widths: tuple[int, ...], out_dim: int, latent_dim: int):
        super().__init__()
        self.pc = PadCrop(shape, 2 ** len(widths))
        f = 2 ** len(widths)
        self.grid = (widths[-1], self.pc.ph // f, self.pc.pw // f)
        flat = widths[-1] * self.grid[1] * self.grid[2]
        self.enc = nn.Sequential(conv_encoder(shape[0], widths), nn.Flatten(), nn.Linear(flat, out_dim))
        self.fc = nn.Linear(latent_dim, flat)
        self.dec = conv_decoder(shape[0], widths)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(self.pc.pad(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc(z), 0.1).view(-1, *self.grid)  # (B, C', H/f, W/f)
        return self.pc.crop(self.dec(h))


class AE(LatentModel):
    """MLP autoencoder with optional denoising and sparsity."""


    def __init__(self, config: AEConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        self.body = self.make_body()

    def make_body(self) -> nn.Module:
        """The encoder/decoder pair (CAE swaps in the conv one)."""
        return _MLPBody(self.shape, self.config.hidden, self.latent_dim, self.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.encode(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.body.decode(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.encode(add_noise(x, self.config.noise))
        rec = recon_bce(self.decode_logits(z), x)
        parts = {"loss": rec, "recon": rec}
        if self.config.sparsity > 0:
            l1 = z.abs().mean()
            parts["l1"] = l1
            parts["loss"] = rec + self.config.sparsity * l1
        return parts


class CAE(AE):
    """Convolutional autoencoder."""


    def make_body(self) -> nn.Module:
        return _ConvBody(self.shape, self.config.widths, self.latent_dim, self.latent_dim)


class VAE(LatentModel):
    """VAE: the encoder gives mu and log-variance; sample with the reparameterisation trick."""


    def __init__(self, config: VAEConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        d = config.latent_dim
        if config.arch == "mlp":
            self.body = _MLPBody(self.shape, config.hidden, 2 * d, d)
        else:
            self.body = _ConvBody(self.shape, config.widths, 2 * d, d)

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (B, D)."""
        mu, logvar = self.body.encode(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.moments(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.body.decode(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mu, logvar = self.moments(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        rec = recon_bce(self.decode_logits(z), x)  # per pixel
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()  # nats per image
        n_pix = x[0].numel()
        # Per-pixel scale of the usual ELBO (sum BCE + beta * KL), divided by n_pix.
        return {"loss": rec + self.config.beta * kl / n_pix, "recon": rec, "kl": kl}

    def prior_sample(self, n: int, temperature: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes from the N(0, I) prior."""
        return temperature * torch.randn(n, self.latent_dim, generator=generator,
                                         device=self.code_mean.device)
