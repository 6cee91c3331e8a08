"""The one-click presets of the Home page: a family, a dataset and a few changed settings.

Training defaults per family live in the registry (``ModelSpec.train_defaults``);
a preset only says what it changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .engine import TrainConfig
from .pipeline import default_train_config


@dataclass(frozen=True)
class Preset:
    """A one-click training set-up shown on the home page."""

    key: str
    title: str
    blurb: str
    model: str
    dataset: str
    model_config: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def train_config(self) -> TrainConfig:
        """Model defaults with this preset's changes."""
        return default_train_config(self.model, **self.train)


PRESETS: list[Preset] = [
    Preset("cae-mnist", "CAE on MNIST-5k (about 20 s)",
           "A convolutional autoencoder with a 32-number code: sharp reconstructions fast.",
           "cae", "mnist5k"),
    Preset("vae-2d", "VAE with a 2-D latent space",
           "Two latent numbers only, so the whole latent space is one map you can look at.",
           "vae", "mnist5k", {"latent_dim": 2}, {"epochs": 15}),
    Preset("gan-mnist", "GAN on MNIST-5k",
           "Generator against discriminator: watch digits emerge from noise (about a minute).",
           "gan", "mnist5k"),
    Preset("dae-digits", "Denoising AE on 8x8 digits (seconds)",
           "An MLP autoencoder that learns to clean noisy inputs; tiny and very fast.",
           "ae", "digits", {"latent_dim": 8, "noise": 0.3}, {"epochs": 30}),
]
PRESETS_BY_KEY = {p.key: p for p in PRESETS}
