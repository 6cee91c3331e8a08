"""Supervised autoencoder: the code is also trained to predict the label, optionally with tied weights.

The encoder (stride-2 convolutions or an MLP, then a linear layer to the code)
is the same as the CAE's or the AE's. A linear classifier head reads the code,
so the cross-entropy pulls the classes apart along straight lines in the code
space (what a linear probe measures). With ``tied`` the decoder has no weights
of its own: each decoder layer applies the matching encoder weight transposed
(a transposed convolution with the convolution's own kernel, or W^T for a linear
layer), keeping only its own biases. Untied, the decoder has weights of the same
shapes, so the two variants differ only in the sharing.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoders import add_noise, latent_knob, noise_knob
from .base import LatentModel, PadCrop, Shape, recon_bce
from .spec import knob


@dataclass
class SAEConfig:
    """Autoencoder + a linear classifier head on the code; loss = reconstruction + alpha x cross-entropy."""

    latent_dim: int = latent_knob(32)
    arch: str = knob("conv", "Encoder/decoder", "conv: convolutions (sharper); mlp: fully connected layers.",
                     choices=("conv", "mlp"))
    alpha: float = knob(0.1, "alpha (weight of the label loss)", "0 gives a plain autoencoder; larger values "
                        "pull the classes apart in the code at some cost in reconstruction.",
                        lo=0, hi=100, step=0.05, ui_hi=2.0)
    tied: bool = knob(False, "Tied weights", "The decoder reuses the encoder's weights, transposed "
                      "(half the weights to learn).")
    widths: tuple[int, ...] = (32, 64)  # for arch="conv"
    hidden: tuple[int, ...] = (512, 256)  # for arch="mlp"
    noise: float = noise_knob()  # std of Gaussian input noise (denoising); 0 = off


class SAE(LatentModel):
    """Supervised autoencoder with a linear classifier head on the code and optional tied weights."""

    needs_labels = True  # the cross-entropy needs a label per training image

    def __init__(self, config: SAEConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        c, h, w = self.shape
        d, self.conv = self.latent_dim, config.arch == "conv"
        if self.conv:
            self.pc = PadCrop(self.shape, 2 ** len(config.widths))
            f = 2 ** len(config.widths)
            self.grid = (config.widths[-1], self.pc.ph // f, self.pc.pw // f)
            chans = [c, *config.widths]
            self.enc = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
            flat = self.grid[0] * self.grid[1] * self.grid[2]
        else:
            sizes = [c * h * w, *config.hidden]
            self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
            flat = sizes[-1]
        self.to_code = nn.Linear(flat, d)
        # Decoder weights: None when tied (the encoder's are used transposed), else the same shapes.
        layers = [*self.enc, self.to_code]
        self.dec_w = None if config.tied else nn.ParameterList(
            # No .item(): the registry sizes a model on PyTorch's meta device before building it.
            nn.Parameter(m.weight.detach().clone().normal_() * m.weight.detach().std()) for m in layers)
        # Each decoder layer's own bias: the size of its output = the matching encoder layer's input.
        self.dec_b = nn.ParameterList(nn.Parameter(torch.zeros(m.weight.shape[1])) for m in layers)
        self.head = nn.Linear(d, max(1, n_classes))

    def _weight(self, i: int) -> torch.Tensor:
        """Encoder layer i's weight (tied) or the decoder's own weight of that shape."""
        layers = [*self.enc, self.to_code]
        return layers[i].weight if self.dec_w is None else self.dec_w[i]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pc.pad(x) if self.conv else x.flatten(1)
        for layer in self.enc:
            h = F.leaky_relu(layer(h), 0.1)
        return self.to_code(h.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        n = len(self.enc)
        h = F.leaky_relu(F.linear(z, self._weight(n).t(), self.dec_b[n]), 0.1)  # code -> flat features
        if self.conv:
            h = h.view(-1, *self.grid)
        for i in reversed(range(n)):
            if self.conv:  # the adjoint of a stride-2 conv: doubles H and W (output_padding=1)
                h = F.conv_transpose2d(h, self._weight(i), self.dec_b[i], stride=2, padding=1, output_padding=1)
            else:
                h = F.linear(h, self._weight(i).t(), self.dec_b[i])
            if i > 0:
                h = F.leaky_relu(h, 0.1)
        return self.pc.crop(h) if self.conv else h.view(-1, *self.shape)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, D) -> class logits (B, K) from the head."""
        return self.head(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if y is None:
            raise ValueError("the supervised autoencoder needs labels to train")
        z = self.encode(add_noise(x, self.config.noise))
        rec = recon_bce(self.decode_logits(z), x)
        known = y >= 0  # -1 marks an unlabeled image (semi-supervised use): reconstruction only
        ce = F.cross_entropy(self.logits(z[known]), y[known]) if bool(known.any()) else rec.new_zeros(())
        return {"loss": rec + self.config.alpha * ce, "recon": rec, "ce": ce}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None = None,
                 batch_size: int = 512) -> dict[str, float]:
        """Reconstruction BCE/MSE per pixel, plus the head's accuracy when labels are given."""
        out = super().evaluate(x, y, batch_size)
        if y is not None:
            dev = self.code_mean.device
            pred = torch.cat([self.logits(self.encode(b.to(dev))).argmax(1).cpu() for b in x.split(batch_size)])
            out["head_accuracy"] = float((pred == y.cpu()).float().mean())
        return out
