"""What defines an anomaly experiment: its settings, the score names, the defaults and limits.

``AnomalyConfig`` holds one experiment (the data, which classes are normal, the
model and its training) and derives the engine's TrainConfig from it;
``anomaly_families`` names the registry families that can be trained as a
detector. Nothing here loads data or trains anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..datasets import Dataset
from ..engine import TrainConfig
from ..models import ConfigError, ModelSpec, get_spec, MODELS

# What each score is, in a few words (pages and the CLI print these names).
SCORES: dict[str, str] = {
    "relative": "blurred squared error per unit of ink",
    "smooth": "squared error after a slight blur",
    "mse": "squared error per pixel",
    "bce": "binary cross-entropy per pixel",
    "latent": "distance of the code from the normal codes",
    "neg_elbo": "negative ELBO (VAE only)",
}
DEFAULT_SCORE = "relative"
DEFAULT_MODEL = "cae"
DEFAULT_EPOCHS = 30  # ~190 steps on 400 images: long enough to learn a class, short enough for 30 s
MAX_STEPS = 3000  # caps the epochs on large normal sets (a full MNIST class is 6,000 images)


def anomaly_families() -> list[str]:
    """Registry families that can detect anomalies: they encode, reconstruct and train without labels."""
    return [n for n, s in MODELS.items() if _fits(s)]


def _fits(spec: ModelSpec) -> bool:
    return spec.is_latent and spec.reconstructs and not spec.approximate_encoder and not spec.needs_labels


@dataclass
class AnomalyConfig:
    """One anomaly experiment: the data, which classes are normal, the model and its training."""

    dataset: str | Dataset = "mnist5k"  # a spec, or a parsed Dataset (an upload: never a path to parse again)
    normal: tuple[int, ...] | None = (0,)  # class indices; None: every image of ``dataset`` is normal
    model: str = DEFAULT_MODEL
    model_config: dict[str, Any] = field(default_factory=dict)
    eval_dataset: str | Dataset | None = None  # suspects, or a labeled set with the same classes to score on
    seed: int = 0
    epochs: int = DEFAULT_EPOCHS
    batch_size: int | None = None  # None: the family's default
    lr: float | None = None
    score: str = DEFAULT_SCORE  # the headline score (roc_auc)
    device: str = "auto"

    def validate(self) -> "AnomalyConfig":
        """Raise ConfigError / ValueError with a one-line message for bad settings."""
        spec = get_spec(self.model)
        if not _fits(spec):
            raise ConfigError(f"{spec.title} cannot score anomalies by reconstruction; choose one of: "
                              f"{', '.join(anomaly_families())}")
        if self.score not in SCORES:
            raise ConfigError(f"unknown score {self.score!r}; choose one of: {', '.join(SCORES)}")
        if not 1 <= int(self.epochs) <= 1000:
            raise ValueError("epochs must be between 1 and 1,000")
        return self

    def train_config(self) -> TrainConfig:
        """The engine settings: the family's defaults, this config's epochs, capped at MAX_STEPS."""
        spec = get_spec(self.model)
        d = {**spec.train_defaults, "epochs": int(self.epochs)}
        if self.batch_size is not None:
            d["batch_size"] = int(self.batch_size)
        if self.lr is not None:
            d["lr"] = float(self.lr)
        return TrainConfig(**d, seed=self.seed, max_steps=MAX_STEPS, preview_every=0, device=self.device)
