"""The one-class benchmark: each class in turn is the normal one, and the AUCs are averaged.

This is the protocol of Ruff et al. (2018, Deep SVDD); ``BenchmarkResult``
keeps one AnomalyResult per class and compares the headline AUC with Deep
SVDD's published numbers when the data is MNIST digits (its ``summary()`` is
the JSON of ``python -m core anomaly --normal all``).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..datasets import DatasetError
from .config import AnomalyConfig
from .data import _check_normal, _load, spec_of
from .experiment import AnomalyResult, ProgressFn, run_anomaly

# Deep SVDD (one-class), Ruff et al. 2018, Table 1: MNIST AUC per normal digit, trained on
# ~6,000 images per class and tested on the full 10,000-image MNIST test set.
DEEP_SVDD_MNIST: dict[int, float] = {0: 0.980, 1: 0.997, 2: 0.917, 3: 0.919, 4: 0.949, 5: 0.885,
                                     6: 0.983, 7: 0.946, 8: 0.939, 9: 0.965}
DEEP_SVDD_MNIST_MEAN = 0.948


@dataclass
class BenchmarkResult:
    """Each class in turn as the normal one: the AUC of every score per class, and their means."""

    config: AnomalyConfig  # normal is ignored: every class takes its turn
    classes: list[str]
    results: list[AnomalyResult]  # one per completed class, in order (no models; headline examples only)
    status: str  # finished | stopped
    seconds: float

    @property
    def per_class(self) -> dict[str, float]:
        """Class name -> AUC of the headline score."""
        return {self.classes[r.config.normal[0]]: r.roc_auc for r in self.results}

    @property
    def mean_roc_auc(self) -> float:
        """Mean headline AUC over the completed classes (nan before any)."""
        vals = list(self.per_class.values())
        return float(np.mean(vals)) if vals else float("nan")

    def mean_by_score(self) -> dict[str, float]:
        """Mean AUC per score over the completed classes."""
        keys = self.results[0].aucs if self.results else {}
        return {k: float(np.mean([r.aucs[k] for r in self.results])) for k in keys}

    def rows(self) -> list[dict[str, Any]]:
        """One row per class: AUC per score, training seconds and the Deep SVDD reference (MNIST)."""
        return [{"class": self.classes[r.config.normal[0]], **{k: v for k, v in r.aucs.items()},
                 "seconds": r.seconds, "deep_svdd": self.reference(r.config.normal[0])} for r in self.results]

    def reference(self, cls: int) -> float | None:
        """Deep SVDD's published AUC for this class when the data is MNIST digits, else None."""
        return DEEP_SVDD_MNIST.get(cls) if spec_of(self.config.dataset) in ("mnist5k", "mnist") else None

    def summary(self) -> dict[str, Any]:
        """The JSON of `python -m core anomaly --normal all` (per_class, mean_roc_auc are a contract)."""
        c = self.config
        return {"per_class": {k: round(v, 4) for k, v in self.per_class.items()},
                "mean_roc_auc": round(self.mean_roc_auc, 4) if self.results else None, "normal": "all", "score": c.score,
                "mean_by_score": {k: round(v, 4) for k, v in self.mean_by_score().items()},
                "n": int(len(self.results[0].is_anomaly)) if self.results else 0,
                "model": c.model, "dataset": spec_of(c.dataset), "seed": c.seed, "epochs": c.epochs,
                "seconds_per_class": {self.classes[r.config.normal[0]]: round(r.seconds, 2) for r in self.results},
                "seconds": round(self.seconds, 2), "status": self.status}


def run_benchmark(config: AnomalyConfig, on_progress: ProgressFn | None = None,
                  stop: threading.Event | None = None, classes: Sequence[int] | None = None) -> BenchmarkResult:
    """The one-class protocol: each class (or each of ``classes``) in turn normal; stops between classes."""
    cfg = config.validate()
    ds = _load(cfg.dataset)
    if not ds.labeled or ds.n_classes < 2:
        raise DatasetError(f"the one-class benchmark needs a labeled dataset with at least 2 classes; "
                           f"{ds.title} has {'none' if not ds.labeled else 'one'}")
    todo = list(range(ds.n_classes)) if classes is None else [int(c) for c in classes]
    _check_normal(ds, tuple(todo))
    stop = stop or threading.Event()
    t0, done, status = time.perf_counter(), [], "finished"
    for i, c in enumerate(todo):
        if stop.is_set():
            status = "stopped"
            break
        # Ten results stay in memory per browser tab: keep images for the headline score only.
        r = run_anomaly(replace(cfg, normal=(c,)), on_progress, stop, dataset=ds, task=(i, len(todo)),
                        keep_model=False, example_scores=[cfg.score])
        if r.status == "stopped":  # a class cut short is not a fair number: leave it out
            status = "stopped"
            break
        done.append(r)
    kept = replace(cfg, dataset=ds.spec, eval_dataset=spec_of(cfg.eval_dataset))
    return BenchmarkResult(kept, list(ds.classes), done, status, time.perf_counter() - t0)
