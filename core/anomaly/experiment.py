"""One anomaly experiment: train a detector on the normal images, score the evaluation images, measure.

``run_anomaly`` trains through :func:`core.engine.train` (so progress and Stop
work as everywhere else), scores every evaluation image with every score the
model can give, measures each with its ROC AUC and keeps the most and least
anomalous images per score. ``AnomalyResult`` is what it returns (its
``summary()`` is the JSON of ``python -m core anomaly``), ``Progress`` what it reports.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ..datasets import Dataset, DatasetError
from ..device import seed_everything
from ..engine import Event, train
from ..models import ConfigError, RegistryModel, build_model, get_spec
from .config import AnomalyConfig
from .data import _load, eval_set, normal_train, spec_of
from .roc import roc_auc
from .scores import available_scores, score_images

EXAMPLES = 10  # most and least anomalous images kept per score for display


@dataclass
class Progress:
    """What a running experiment reports: which task (normal set), and the engine's event."""

    task: int  # 0-based index of the current normal set (always 0 outside the benchmark)
    n_tasks: int
    normal: str  # the current normal classes, as text
    event: Event | None = None
    stage: str = "train"  # "train" | "score" | "done"
    auc: float | None = None  # with stage "done": the finished task's headline AUC

    @property
    def fraction(self) -> float:
        """Overall fraction done, 0..1 (training is 95% of a task, scoring the rest)."""
        inner = {"score": 0.95, "done": 1.0}.get(self.stage, 0.95 * (self.event.progress if self.event else 0.0))
        return min(1.0, (self.task + inner) / max(1, self.n_tasks))


ProgressFn = Callable[[Progress], None]


@dataclass
class AnomalyResult:
    """One trained detector's scores on the evaluation images, and how good each score is."""

    config: AnomalyConfig
    normal_names: list[str]  # the normal classes' names, or ["all of <dataset>"]
    eval_spec: str
    is_anomaly: np.ndarray  # (N,) bool
    labels: np.ndarray  # (N,) int: class index, SUSPECT or NORMAL_UNLABELED (see EvalSet)
    classes: list[str]
    scores: dict[str, np.ndarray]  # name -> (N,)
    train_scores: dict[str, np.ndarray]  # name -> scores of the normal training images
    aucs: dict[str, float]
    n_train: int
    seconds: float  # training time
    status: str  # finished | stopped | diverged
    message: str
    history: dict[str, list[float]] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)  # score -> most/least anomalous
    model: RegistryModel | None = field(default=None, repr=False)
    kind: str = "image"  # the data's kind ("image" | "sequence"): how the examples are drawn

    @property
    def roc_auc(self) -> float:
        """The AUC of the headline score."""
        return self.aucs[self.config.score]

    def default_threshold(self, score: str) -> float:
        """A starting threshold: the one that flags 5% of the normal images scored.

        Not a percentile of the training images' scores: the model has seen
        those, so they score lower than unseen normal images and such a
        threshold flags far more than 5% of them.
        """
        return float(np.quantile(self.scores[score][~self.is_anomaly], 0.95))

    def summary(self) -> dict[str, Any]:
        """The JSON of `python -m core anomaly` (roc_auc, normal, n are a contract)."""
        c = self.config
        return {"roc_auc": round(self.roc_auc, 4), "normal": list(c.normal) if c.normal is not None else None,
                "normal_names": self.normal_names, "n": int(len(self.is_anomaly)),
                "n_anomalous": int(self.is_anomaly.sum()), "n_train": self.n_train, "score": c.score,
                "scores": {k: round(v, 4) for k, v in self.aucs.items()}, "model": c.model,
                "dataset": spec_of(c.dataset), "eval": self.eval_spec, "seed": c.seed, "epochs": c.epochs,
                "train_seconds": round(self.seconds, 2), "status": self.status}


def _normal_names(ds: Dataset, normal: tuple[int, ...] | None) -> list[str]:
    return [ds.classes[c] for c in normal] if normal is not None else [f"all of {ds.title}"]


def run_anomaly(config: AnomalyConfig, on_progress: ProgressFn | None = None,
                stop: threading.Event | None = None, *, dataset: Dataset | None = None,
                task: tuple[int, int] = (0, 1), keep_model: bool = True,
                example_scores: Sequence[str] | None = None) -> AnomalyResult:
    """Train ``config.model`` on the normal training images, score the evaluation images, measure AUCs.

    ``example_scores`` limits the scores whose most/least anomalous images are
    kept (default: all); ``keep_model=False`` drops the model from the result.
    """
    cfg = config.validate()
    ds = dataset if dataset is not None else _load(cfg.dataset)
    x_train = normal_train(ds, cfg.normal)
    ev = eval_set(ds, cfg.normal, cfg.eval_dataset)
    if ev.is_anomaly.all() or not ev.is_anomaly.any():  # say so before training, not after
        raise DatasetError("every image scored is normal: leave at least one class out of the normal ones"
                           if not ev.is_anomaly.any() else "there are no normal images to score")
    names = _normal_names(ds, cfg.normal)
    report = on_progress or (lambda p: None)
    label = ", ".join(names)

    seed_everything(cfg.seed)
    model = build_model(cfg.model, cfg.model_config, ds.shape, 0)
    if cfg.score not in available_scores(model):
        raise ConfigError(f"the {cfg.score} score needs a VAE; {get_spec(cfg.model).title} cannot give it")
    t0 = time.perf_counter()
    result = train(model, (x_train, None), cfg.train_config(),
                   on_event=lambda e: report(Progress(task[0], task[1], label, e)), stop=stop)
    seconds = time.perf_counter() - t0
    report(Progress(task[0], task[1], label, None, "score"))
    model.cpu()
    scores = score_images(model, ev.x, seed=cfg.seed)
    train_scores = score_images(model, x_train, seed=cfg.seed)
    aucs = {k: roc_auc(ev.is_anomaly, v) for k, v in scores.items()}
    examples = {k: _examples(model, ev.x, v) for k, v in scores.items()
                if example_scores is None or k in example_scores}
    # The result names its data by spec: it may cross to another process, and the datasets stay behind.
    kept = replace(cfg, dataset=ds.spec, eval_dataset=spec_of(cfg.eval_dataset))
    out = AnomalyResult(kept, names, ev.spec, ev.is_anomaly, ev.labels, list(ds.classes), scores, train_scores,
                        aucs, int(len(x_train)), seconds, result.status, result.reason, result.history,
                        examples, model if keep_model else None, getattr(ds, "kind", "image"))
    report(Progress(task[0], task[1], label, None, "done", out.roc_auc))
    return out


@torch.no_grad()
def _examples(model: RegistryModel, x: torch.Tensor, scores: np.ndarray, k: int = EXAMPLES) -> dict[str, Any]:
    """The k most and k least anomalous images by ``scores``, with their reconstructions and scores."""
    order = np.argsort(-scores, kind="stable")
    out: dict[str, Any] = {}
    for name, idx in (("most", order[:k]), ("least", order[::-1][:k])):
        imgs = x[torch.as_tensor(idx.copy())]
        # numpy, not tensors: a result crosses from the worker process by value, not through shared memory
        out[name] = {"index": idx.tolist(), "score": scores[idx].tolist(), "images": imgs.numpy().copy(),
                     "recons": model.reconstruct(imgs).clamp(0, 1).numpy()}
    return out
