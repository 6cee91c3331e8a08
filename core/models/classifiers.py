"""The plain CNN classifier and the AE+CNN hybrid.

Both share one architecture so the comparison is fair: a conv front end
(image -> feature map) and a CNN back end (feature map -> class logits). The
hybrid adds a decoder on the front end's features and learns from
cross-entropy on labeled images + lambda * reconstruction on all images.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Classifier, PadCrop, Shape, recon_bce


@dataclass
class CNNConfig:
    """Front-end widths, back-end width and dropout of the classifier."""

    widths: tuple[int, ...] = (32, 64)
    head_width: int = 128
    dropout: float = 0.3


@dataclass
class HybridConfig(CNNConfig):
    """CNNConfig plus the reconstruction weight of the multi-task loss."""

    lam: float = 1.0  # weight of the reconstruction term
    noise: float = 0.0  # input noise for the reconstruction branch (denoising)


def front_end(c_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    """3x3 conv at full size, then one stride-2 conv per width: (B, C, H, W) -> (B, w, H/4, W/4)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, widths[0], 3, padding=1), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c = widths[0]
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        c = w
    return nn.Sequential(*layers)


def back_end(c_in: int, width: int, n_classes: int, dropout: float) -> nn.Sequential:
    """Feature map -> conv -> global average pool -> dropout -> logits."""
    return nn.Sequential(
        nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, n_classes))


def labeled_ce(logits: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy over labeled examples only (label -1 = unlabeled); 0 if none."""
    if y is None:
        return logits.sum() * 0.0
    mask = y >= 0
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask], y[mask])


class CNN(Classifier):
    """Plain CNN: front end + back end, cross-entropy on labeled images."""

    name = "cnn"

    def __init__(self, config: CNNConfig, shape: Shape, n_classes: int = 10):
        super().__init__(config, shape, n_classes)
        if n_classes < 2:
            raise ValueError("a classifier needs a labeled dataset with at least 2 classes")
        self.pc = PadCrop(self.shape, 2 ** len(config.widths))
        self.front = front_end(self.shape[0], config.widths)
        self.back = back_end(config.widths[-1], config.head_width, n_classes, config.dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Front-end feature map (B, w, H/4, W/4)."""
        return self.front(self.pc.pad(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.back(self.features(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        ce = labeled_ce(self.logits(x), y)
        return {"loss": ce, "ce": ce}


class Hybrid(CNN):
    """AE+CNN: the front end is also an encoder, with a decoder trained to reconstruct."""

    name = "hybrid"

    def __init__(self, config: HybridConfig, shape: Shape, n_classes: int = 10):
        super().__init__(config, shape, n_classes)
        layers: list[nn.Module] = []
        widths = list(reversed(config.widths))
        for i, w in enumerate(widths):
            nxt = widths[i + 1] if i + 1 < len(widths) else widths[-1]
            layers += [nn.ConvTranspose2d(w, nxt, 4, stride=2, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(widths[-1], self.shape[0], 3, padding=1))
        self.decoder = nn.Sequential(*layers)

    def reconstruct_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """Front-end features -> pre-sigmoid images (B, C, H, W)."""
        return self.pc.crop(self.decoder(feats))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images through the front end and the decoder, in [0, 1]."""
        return torch.sigmoid(self.reconstruct_logits(self.features(x)))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        noisy = (x + self.config.noise * torch.randn_like(x)).clamp(0, 1) if self.config.noise > 0 else x
        feats = self.features(noisy)
        ce = labeled_ce(self.back(feats), y)
        rec = recon_bce(self.reconstruct_logits(feats), x)
        return {"loss": ce + self.config.lam * rec, "ce": ce, "recon": rec}

    @torch.no_grad()
    def preview(self, x: torch.Tensor) -> torch.Tensor:
        """Originals and reconstructions, like the autoencoders."""
        was_training = self.training
        self.eval()
        out = torch.cat([x, self.reconstruct(x)])
        self.train(was_training)
        return out
