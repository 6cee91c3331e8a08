"""Default training settings per model, and the one-click presets of the home page.

Defaults are chosen to give a good result fast on 2 CPU cores (measured in
bench/quality.py): e.g. the default CAE reaches BCE/pixel < 0.095 on the
mnist5k test split in well under 30 s.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .engine import TrainConfig
from .models import get_spec

_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "ae": {"epochs": 15, "batch_size": 64, "lr": 2e-3},
    "cae": {"epochs": 12, "batch_size": 64, "lr": 2e-3},
    "vae": {"epochs": 15, "batch_size": 64, "lr": 2e-3},
    "gan": {"epochs": 20, "batch_size": 64, "lr": 2e-4},
    "cnn": {"epochs": 10, "batch_size": 64, "lr": 2e-3},
    "hybrid": {"epochs": 10, "batch_size": 64, "lr": 2e-3},
}


def default_train_config(model: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig a model gets when the user changes nothing."""
    get_spec(model)
    return replace(TrainConfig(**_TRAIN_DEFAULTS.get(model, {})), **overrides)


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
