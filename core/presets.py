"""The one-click presets of the Home page: a family, a dataset and a few changed settings.

Training defaults per family live in the registry (``ModelSpec.train_defaults``);
a preset only says what it changes.
"""
from __future__ import annotations

import statistics
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
    # 5 epochs, the first model a new user sees: BCE 0.0868 in ~7 s of training on 2 idle cores, where the Train
    # page's default 8 reach 0.0829 in ~11 s (median of 3 seeds on mnist5k; bench/first_minute.py, issue 23).
    Preset("cae-mnist", "CAE on MNIST-5k",
           "A convolutional autoencoder with a 32-number code: sharp reconstructions in seconds (5 epochs; "
           "the Train page's default 8 add a little detail).",
           "cae", "mnist5k", train={"epochs": 5}),
    Preset("vae-2d", "VAE with a 2-D latent space",
           "Two latent numbers only, so the whole latent space is one map you can look at.",
           "vae", "mnist5k", {"latent_dim": 2}, {"epochs": 15}),
    # 12 epochs: FD 22.6 in ~61 s of training on 2 idle cores, where the Train page's default 20 reach 20.1 in
    # ~105 s (median of 5 seeds on mnist5k, bench/gan_quality.py gan-preset vs gan; issue 23's 90 s target).
    Preset("gan-mnist", "GAN on MNIST-5k",
           "Generator against discriminator: watch digits emerge from noise (12 epochs; the Train page's "
           "default 20 draw them a little crisper).",
           "gan", "mnist5k", train={"epochs": 12}),
    Preset("dae-digits", "Denoising AE on 8x8 digits",
           "An MLP autoencoder that learns to clean noisy inputs; tiny and very fast.",
           "ae", "digits", {"latent_dim": 8, "noise": 0.3}, {"epochs": 30}),
]
PRESETS_BY_KEY = {p.key: p for p in PRESETS}


def measured_seconds(key: str, runs: list[dict[str, Any]], last: int = 3) -> tuple[float, int] | None:
    """(median training seconds, how many runs) of the last finished runs of preset ``key`` on this server.

    ``runs`` is ``core.store.list_runs()`` (newest first); a preset's runs carry
    ``"preset": key`` in run.json. None until the preset has run here once.
    """
    secs = [m["timings"]["train_seconds"] for m in runs
            if m.get("preset") == key and m.get("status") == "finished"
            and isinstance((m.get("timings") or {}).get("train_seconds"), (int, float))][:last]
    return (float(statistics.median(secs)), len(secs)) if secs else None
