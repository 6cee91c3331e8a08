"""The kinds of job: a training, a hybrid-vs-CNN comparison (or sweep), an anomaly experiment. Each names
its task in core.worker_tasks, the task's arguments, and the progress it keeps from the worker's items."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..anomaly import AnomalyConfig, AnomalyResult, BenchmarkResult
from ..anomaly import Progress as AnomalyProgress
from ..compare import ROLES, ComparisonResult, Progress, SweepResult
from ..datasets import Dataset
from ..engine import Event, TrainConfig
from ..models import get_spec
from ..store import runs_root
from ..watch import LatentEvent
from .base import Job, portable
from .slots import JobSlots

CURVE_POINTS = 400  # the live loss curve keeps between 400 and 800 points


class TrainJob(Job):
    """One training of a registry model (or the resumption of one); keeps a thinned loss curve and the latest preview."""

    task = "train"

    def __init__(self, model_name: str, model_config: dict[str, Any] | None, dataset: str | Dataset,
                 train_config: TrainConfig, root: str | Path | None = None,
                 slots: JobSlots | None = None, extra: dict[str, Any] | None = None,
                 resume: str | Path | None = None, watch: bool = True, quality_every: int = 0):
        spec = get_spec(model_name)  # fail fast on a bad name
        super().__init__(slots)
        self.title = f"{'Resuming' if resume else 'Training'} {spec.noun}"
        self.model_name, self.model_config = model_name, dict(model_config or {})
        self.dataset, self.train_config, self.extra = dataset, train_config, extra
        self.root = str(Path(root or runs_root()).absolute())  # resolved now: the worker has its own cwd/env
        self.resume = str(resume) if resume else None
        self.watch = watch  # record the latent map forming (core.watch), for families with an encoder
        self._watch: dict[str, Any] = {"steps": [], "codes": [], "loss": [], "labels": None}
        self.run_path: Path | None = None
        self.metrics: dict[str, Any] = {}
        self._last: Event | None = None
        self._preview: torch.Tensor | None = None
        self._curve: dict[str, list[float]] = {"step": []}
        self._every = 1  # log every n-th step into the curve (doubles as it fills)
        self.quality_every = int(quality_every)  # steps between sample-quality points (0 = none)
        self._quality: dict[str, list[float]] = {"step": []}  # fd, precision, recall, class_coverage

    def arguments(self) -> dict[str, Any]:
        # started_at (when the job left the queue, epoch seconds) goes into run.json: the order in which
        # jobs got their slots, exact where "created" (the worker's start, to the second) is not.
        extra = {**(self.extra or {}), "started_at": self.started_at} if self.started_at and not self.resume \
            else self.extra
        return {"model_name": self.model_name, "model_config": self.model_config,
                "dataset": portable(self.dataset), "train_config": self.train_config, "root": self.root,
                "extra": extra, "resume": self.resume, "watch": self.watch,
                "quality_every": self.quality_every}

    def spares_a_core(self) -> bool:
        return self.browser_here and get_spec(self.model_name).spare_core

    def apply(self, e: Event) -> None:
        if e.kind == "quality":  # a sample-quality point (core.pipeline), not a training step
            self._quality["step"].append(e.step)
            for k, v in e.losses.items():
                self._quality.setdefault(k, []).append(v)
            return
        if isinstance(e, LatentEvent):  # a latent-map snapshot: kept apart from the progress
            w = self._watch
            w["steps"].append(e.step)
            w["codes"].append(e.codes)
            w["loss"].append(e.losses.get("loss", float("nan")))
            if e.labels is not None:
                w["labels"] = e.labels
            return
        self._last = e
        if e.preview is not None:
            self._preview = torch.tensor(e.preview) if isinstance(e.preview, np.ndarray) else e.preview
        if e.kind == "step" and (e.step % self._every == 0 or e.step == e.total_steps):
            self._curve["step"].append(e.step)
            for k, v in e.losses.items():
                self._curve.setdefault(k, []).append(v)
            if len(self._curve["step"]) >= 2 * CURVE_POINTS:
                # Keep every other point and log half as often: bounded, and the
                # first steps are there from the start.
                self._curve = {k: v[1::2] for k, v in self._curve.items()}
                self._every *= 2
        if e.message:
            self.message = e.message
        if e.kind == "stopping":
            self.stop_heard = True

    def finish(self, result: dict[str, Any]) -> tuple[str, str]:
        self.run_path, self.metrics = Path(result["run_path"]), result["metrics"]
        return result["status"], result["reason"]

    def after(self, scores: dict[str, Any]) -> None:
        self.metrics.update(scores)  # the sample-quality scores, saved into the run's run.json a moment after it

    def progress(self) -> dict[str, Any]:
        e = self._last
        return {
            "step": e.step if e else 0, "total_steps": e.total_steps if e else 0,
            "epoch": e.epoch if e else 0, "epochs": e.epochs if e else self.train_config.epochs,
            "progress": e.progress if e else 0.0, "eta": e.eta if e else None,
            "elapsed": e.elapsed if e else 0.0,
            "images_per_sec": e.images_per_sec if e else 0.0,
            "losses": dict(e.losses) if e else {},
            "curve": {k: list(v) for k, v in self._curve.items()},
            "quality": {k: list(v) for k, v in self._quality.items()},
            "preview": self._preview,
            "run_path": self.run_path, "metrics": dict(self.metrics),
            "watch": {k: list(v) if isinstance(v, list) else v for k, v in self._watch.items()},
        }


class CompareJob(Job):
    """A hybrid-vs-CNN comparison (or a sweep over label levels); keeps live accuracy curves."""

    title = "Comparing the hybrid with the plain CNN"
    task = "compare"

    def __init__(self, dataset: str | Dataset, labels_per_class: int | None = 10,
                 seeds: Sequence[int] | int = 3, *, sweep_levels: Sequence[int | None] | None = None,
                 root: str | Path | None = None, slots: JobSlots | None = None, **kwargs: Any):
        super().__init__(slots)
        self.dataset, self.labels_per_class, self.seeds = dataset, labels_per_class, seeds
        self.sweep_levels = list(sweep_levels) if sweep_levels is not None else None
        self.root, self.kwargs = str(Path(root or runs_root()).absolute()), kwargs
        self.result: ComparisonResult | SweepResult | None = None
        self._last: Progress | None = None
        self._curves: dict[str, dict[str, list[float]]] = {r: {"step": [], "accuracy": []} for r in ROLES}

    def arguments(self) -> dict[str, Any]:
        return {"dataset": portable(self.dataset), "labels_per_class": self.labels_per_class, "seeds": self.seeds,
                "sweep_levels": self.sweep_levels, "root": self.root, "options": self.kwargs}

    def apply(self, p: Progress) -> None:
        if p.kind == "start" and p.role == "cnn":  # a new seed (or level): fresh live curves
            self._curves = {r: {"step": [], "accuracy": []} for r in ROLES}
        if p.kind in ("eval", "model") and p.role in ROLES and p.accuracy is not None:
            self._curves[p.role]["step"].append(p.step)
            self._curves[p.role]["accuracy"].append(p.accuracy)
        self._last = p
        if p.message:
            self.message = p.message

    def finish(self, result: ComparisonResult | SweepResult) -> tuple[str, str]:
        self.result = result
        return result.status, result.message if isinstance(result, ComparisonResult) else self.message

    def progress(self) -> dict[str, Any]:
        p = self._last
        return {"fraction": p.fraction if p else 0.0, "role": p.role if p else "",
                "seed": p.seed if p else None, "seed_index": p.seed_index if p else 0,
                "n_seeds": p.n_seeds if p else 0, "step": p.step if p else 0,
                "total_steps": p.total_steps if p else 0, "losses": dict(p.losses) if p else {},
                "elapsed": self.elapsed,
                "curves": {r: {k: list(v) for k, v in c.items()} for r, c in self._curves.items()},
                "result": self.result}


class AnomalyJob(Job):
    """Anomaly detection on one normal set, or the one-class benchmark; keeps the live loss and AUCs."""

    task = "anomaly"

    def __init__(self, config: AnomalyConfig, benchmark: bool = False, slots: JobSlots | None = None):
        spec = get_spec(config.model)  # fail fast on a bad name
        super().__init__(slots)
        self.config, self.benchmark = config, benchmark
        self.title = (f"One-class benchmark with {spec.noun}" if benchmark else
                      f"Anomaly detection with {spec.noun}")
        self.result: AnomalyResult | BenchmarkResult | None = None
        self._last: AnomalyProgress | None = None
        self._event: Event | None = None  # the last training event (scoring reports none)
        self._curve: dict[str, list[float]] = {"step": []}
        self._done: dict[str, float] = {}  # normal set -> AUC, as each task ends

    def arguments(self) -> dict[str, Any]:
        c = self.config
        ev = None if c.eval_dataset is None else portable(c.eval_dataset)
        return {"config": replace(c, dataset=portable(c.dataset), eval_dataset=ev), "benchmark": self.benchmark}

    def apply(self, p: AnomalyProgress) -> None:
        if self._last is None or p.task != self._last.task:
            self._curve, self._event = {"step": []}, None  # a new class of the benchmark: fresh curve
        e = p.event
        if e is not None:
            self._event = e
            if e.kind == "step" and e.step % max(1, e.total_steps // CURVE_POINTS) == 0:
                self._curve["step"].append(e.step)
                for k, v in e.losses.items():
                    self._curve.setdefault(k, []).append(v)
            if e.kind == "stopping":
                self.stop_heard = True  # no grace-period termination: it is scoring what it has
        if p.auc is not None:
            self._done[p.normal] = p.auc
        self._last = p

    def finish(self, result: AnomalyResult | BenchmarkResult) -> tuple[str, str]:
        self.result = result
        if self.benchmark:
            return result.status, f"mean AUC {result.mean_roc_auc:.3f} over {len(result.results)} class(es)"
        return result.status, result.message

    def progress(self) -> dict[str, Any]:
        p, e = self._last, self._event
        return {"fraction": p.fraction if p else 0.0, "task": p.task if p else 0,
                "n_tasks": p.n_tasks if p else (0 if self.benchmark else 1), "normal": p.normal if p else "",
                "stage": p.stage if p else "", "step": e.step if e else 0, "total_steps": e.total_steps if e else 0,
                "losses": dict(e.losses) if e else {}, "elapsed": self.elapsed,
                "curve": {k: list(v) for k, v in self._curve.items()}, "done": dict(self._done),
                "result": self.result}
