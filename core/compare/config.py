"""What defines a hybrid-vs-CNN comparison: its settings, their limits and names.

``CompareConfig`` holds every setting of one comparison (dataset, labels per
class, seeds, budget, the shared architecture and augmentation, the hybrid's
loss terms) and derives the two models' configs from it, so both always share
what must be shared. The constants name the variants, the sweep's
labels-per-class levels and the two roles; ``parse_level`` reads a level.
Nothing here trains or saves anything.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

VARIANTS = ("joint", "pretrain")
LABEL_LEVELS: tuple[int | None, ...] = (1, 5, 10, 50, 100, None)  # None = all labels
ROLES = ("cnn", "hybrid")
MAX_SEEDS = 20
MAX_STEPS = 100_000


# Settings whose default has changed, with the value a comparison saved without them used.
OLD_DEFAULTS: dict[str, Any] = {"pseudo": 0.0, "ramp": 0.0, "steps": 1000}


@dataclass
class CompareConfig:
    """Everything that defines a comparison; both models share all but the hybrid-only terms."""

    dataset: str = "mnist5k"
    labels_per_class: int | None = 10  # None = every training image labeled
    seeds: tuple[int, ...] = (0, 1, 2)
    variant: str = "joint"  # "joint" | "pretrain"
    lam: float = 1.0  # weight of the reconstruction term
    steps: int = 2000  # optimiser steps per model and seed: the budget (about 50 s for the hybrid on 2 CPU cores)
    labeled_batch: int = 32  # labeled images per step (oversampled when labels are few)
    # unlabeled images per step (the plain CNN skips them); 96 rather than 64: more unlabeled images per
    # step for the pseudo-label and entropy terms, 0.954 -> 0.960 at 10 labels/class (bench/hybrid.py, 2 threads) for
    # ~20% more time
    unlabeled_batch: int = 96
    lr: float = 2e-3
    # Shared architecture and augmentation (see core.models.classifiers.CNNConfig).
    widths: tuple[int, ...] = (16, 32)
    head_width: int = 64
    dropout: float = 0.3
    shift: float = 0.07  # max random shift, fraction of the image side (2 px on 28x28)
    rotate: float = 10.0  # max random rotation, degrees
    # Hybrid-only terms (see core.models.classifiers.HybridConfig).
    recon_from: str = "code"
    noise: float = 0.0
    entropy: float = 1.0  # entropy minimisation on unlabeled images; 0 = plain CE + lambda*recon
    balance: float = 1.0  # class-balance part of the entropy term (1: maximise mutual information)
    # FixMatch-style pseudo-labels: CE towards the model's own confident (>= threshold) predictions
    # on another augmented view of each unlabeled image (Sohn et al. 2020)
    pseudo: float = 1.0
    threshold: float = 0.95
    # share of the steps over which the unlabeled terms ramp up from ~0 (Laine & Aila 2017): early
    # predictions are mostly wrong, and at 1 label per class full weight from the start locks them in
    ramp: float = 0.2
    pretrain_fraction: float = 0.3  # "pretrain": share of the steps spent on reconstruction only
    eval_every: int | None = None  # steps between learning-curve points (None: about 20 points; 0: only the end)
    eval_dataset: str | None = None  # evaluate on this dataset spec instead of the test split
    device: str = "auto"
    sweep: str | None = None  # id of the sweep this comparison belongs to, if any

    def validate(self) -> CompareConfig:
        """Raise ValueError with a plain message for out-of-range values."""
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        lpc = self.labels_per_class
        if lpc is not None and (isinstance(lpc, bool) or not isinstance(lpc, int) or lpc < 1):
            raise ValueError(f"labels per class must be a whole number >= 1 or 'all', got {lpc!r}")
        if not self.seeds or len(self.seeds) > MAX_SEEDS:
            raise ValueError(f"give between 1 and {MAX_SEEDS} seeds")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be different from each other")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"the step budget must be between 1 and {MAX_STEPS:,}")
        if self.labeled_batch < 1 or self.unlabeled_batch < 0:
            raise ValueError("labeled batch must be >= 1 and unlabeled batch >= 0")
        if not 0 <= self.ramp <= 1:
            raise ValueError(f"ramp must be between 0 and 1 (a share of the steps), got {self.ramp!r}")
        for name in ("lam", "noise", "entropy", "balance", "pseudo", "shift", "rotate", "dropout"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if self.eval_every is not None and self.eval_every < 0:
            raise ValueError("eval_every must be >= 0 (0 = evaluate only at the end)")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("learning rate must be a positive number")
        if self.variant == "pretrain":
            if not 0 < self.pretrain_fraction < 1:
                raise ValueError("pretrain_fraction must be between 0 and 1")
            if self.steps < 2:
                raise ValueError("the 'pretrain' variant needs a budget of at least 2 steps")
        return self

    def cnn_config(self) -> dict[str, Any]:
        """The plain CNN's model config: the shared architecture and augmentation."""
        return {"widths": list(self.widths), "head_width": self.head_width, "dropout": self.dropout,
                "shift": self.shift, "rotate": self.rotate}

    def hybrid_config(self) -> dict[str, Any]:
        """The hybrid's model config: the CNN's plus its own loss terms."""
        return {**self.cnn_config(), "lam": self.lam, "noise": self.noise, "recon_from": self.recon_from,
                "entropy": self.entropy, "balance": self.balance, "pseudo": self.pseudo,
                "threshold": self.threshold}

    def curve_every(self) -> int:
        """Steps between learning-curve evaluations (0 = only at the end)."""
        if self.eval_every is None:
            return max(1, self.steps // 20)
        return self.eval_every

    def pretrain_steps(self) -> int:
        """Steps of reconstruction-only pre-training (0 for "joint")."""
        if self.variant != "pretrain":
            return 0
        return min(self.steps - 1, max(1, round(self.steps * self.pretrain_fraction)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy."""
        d = asdict(self)
        d["seeds"], d["widths"] = list(self.seeds), list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareConfig:
        """Rebuild from ``to_dict`` output; unknown keys are ignored (older/newer runs)."""
        names = {f.name for f in fields(cls)}
        # A comparison saved before a setting existed ran without it: its old default, not today's.
        kw = {**OLD_DEFAULTS, **{k: v for k, v in d.items() if k in names}}
        for k in ("seeds", "widths"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


def parse_level(text: str) -> int | None:
    """Labels per class from text: '10' -> 10, 'all' -> None (an argparse type)."""
    if text.strip().lower() == "all":
        return None
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"labels per class must be a whole number or 'all', got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"labels per class must be >= 1, got {v}")
    return v
