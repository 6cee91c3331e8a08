"""Jobs: long work (a training, a comparison) off the page's thread, with progress to poll.

One base, ``Job``: a worker that never touches the UI, a state machine
(new -> queued -> running -> finished | stopped | diverged | failed), a stop
request, a place in the shared queue, and ``snapshot()`` for a page to draw
from. ``TrainJob`` and ``CompareJob`` only say what the work is and what
progress they keep. ``JobSlots`` caps how many jobs run at once across all
browser sessions; the rest wait in a FIFO queue and know their position.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .compare import (ROLES, ComparisonResult, Progress, SweepResult, run_comparison,
                      run_sweep)
from .datasets import Dataset, DatasetError
from .engine import Event, TrainConfig
from .models import ConfigError, RegistryModel, get_spec
from .pipeline import train_and_save


class JobSlots:
    """At most ``cap`` jobs run at once; the others queue in arrival order."""

    def __init__(self, cap: int):
        self.cap = max(1, cap)
        self._cond = threading.Condition()
        self._running: set[int] = set()
        self._queue: deque[int] = deque()

    def position(self, job_id: int) -> int:
        """0 if running or not queued, else 1-based place in the queue."""
        with self._cond:
            return self._queue.index(job_id) + 1 if job_id in self._queue else 0

    def acquire(self, job_id: int, cancelled: threading.Event) -> bool:
        """Wait for a slot; False if cancelled while waiting."""
        with self._cond:
            self._queue.append(job_id)
            while not (len(self._running) < self.cap and self._queue[0] == job_id):
                if cancelled.is_set():
                    self._queue.remove(job_id)
                    self._cond.notify_all()
                    return False
                self._cond.wait(timeout=0.2)
            self._queue.popleft()
            self._running.add(job_id)
            self._cond.notify_all()
            return True

    def release(self, job_id: int) -> None:
        """Free the slot of a finished job."""
        with self._cond:
            self._running.discard(job_id)
            self._cond.notify_all()

    @property
    def running(self) -> int:
        """How many jobs hold a slot."""
        with self._cond:
            return len(self._running)


CURVE_POINTS = 400  # the live loss curve keeps between 400 and 800 points
SLOTS = JobSlots(int(os.environ.get("LATENT_LAB_MAX_JOBS", "2")))
_ids = iter(range(1, 1 << 62))


class Job:
    """One piece of long work in a worker thread; subclasses implement ``work`` and ``progress``."""

    title = "job"  # what the UI calls it, e.g. "Training a convolutional autoencoder"

    def __init__(self, slots: JobSlots | None = None):
        self.id = next(_ids)
        self.slots = slots if slots is not None else SLOTS
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self.state = "new"  # new | queued | running | finished | stopped | diverged | failed
        self.message = ""
        self.error: str | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._thread: threading.Thread | None = None

    # -- what a subclass provides ----------------------------------------------
    def work(self) -> tuple[str, str]:
        """Do the job on the worker thread; returns (final state, message)."""
        raise NotImplementedError

    def progress(self) -> dict[str, Any]:
        """The job's own progress fields for ``snapshot`` (called under the lock)."""
        return {}

    # -- worker side ---------------------------------------------------------
    def _work(self) -> None:
        try:
            self.state = "queued"
            if not self.slots.acquire(self.id, self.stop_event):
                self.state, self.message = "stopped", "cancelled while waiting in the queue"
                return
            try:
                self.state, self.started_at = "running", time.time()
                state, self.message = self.work()
                self.state = state
            finally:
                self.slots.release(self.id)
        except (DatasetError, ConfigError, ValueError) as e:
            self.state, self.error = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a worker must report, never die silently
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
        finally:
            self.ended_at = time.time()

    # -- UI side -------------------------------------------------------------
    def start(self) -> "Job":
        """Start the worker thread (queues if all slots are busy)."""
        self.state = "queued"
        self._thread = threading.Thread(target=self._work, name=f"job-{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to stop after the current step (or leave the queue)."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ("queued", "running")

    def queue_position(self) -> int:
        """1-based place in the queue while waiting, else 0."""
        return self.slots.position(self.id) if self.state == "queued" else 0

    @property
    def elapsed(self) -> float:
        """Seconds since the job started running (up to its end); 0 while queued."""
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.time()) - self.started_at

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the state and progress, for drawing."""
        with self._lock:
            return {"state": self.state, "message": self.message, "error": self.error,
                    "queue_position": self.queue_position(), "title": self.title, **self.progress()}


class TrainJob(Job):
    """One training of a registry model; keeps a thinned loss curve and the latest preview."""

    def __init__(self, model_name: str, model_config: dict[str, Any] | None, dataset: str | Dataset,
                 train_config: TrainConfig, root: str | Path | None = None,
                 slots: JobSlots | None = None, extra: dict[str, Any] | None = None,
                 quality_every: int = 0):
        spec = get_spec(model_name)  # fail fast on a bad name
        super().__init__(slots)
        self.title = f"Training {spec.noun}"
        self.model_name, self.model_config = model_name, dict(model_config or {})
        self.dataset, self.train_config, self.root, self.extra = dataset, train_config, root, extra
        self.run_path: Path | None = None
        self.metrics: dict[str, Any] = {}
        self.model: RegistryModel | None = None
        self._last: Event | None = None
        self._preview: torch.Tensor | None = None
        self._curve: dict[str, list[float]] = {"step": []}
        self._every = 1  # log every n-th step into the curve (doubles as it fills)
        self.quality_every = int(quality_every)  # steps between sample-quality points (0 = none)
        self._quality: dict[str, list[float]] = {"step": []}  # fd, precision, recall, class_coverage

    def _on_event(self, e: Event) -> None:
        # Runs on the worker thread for every step: keep it cheap.
        with self._lock:
            if e.kind == "quality":  # a sample-quality point (core.pipeline), not a training step
                self._quality["step"].append(e.step)
                for k, v in e.losses.items():
                    self._quality.setdefault(k, []).append(v)
                return
            self._last = e
            if e.preview is not None:
                self._preview = e.preview
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

    def work(self) -> tuple[str, str]:
        run, model, result, metrics = train_and_save(
            self.model_name, self.model_config, self.dataset, self.train_config,
            on_event=self._on_event, stop=self.stop_event, root=self.root, extra=self.extra,
            quality_every=self.quality_every)
        self.model, self.run_path, self.metrics = model, run, metrics
        return result.status, result.reason

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
        }


class CompareJob(Job):
    """A hybrid-vs-CNN comparison (or a sweep over label levels); keeps live accuracy curves."""

    title = "Comparing the hybrid with the plain CNN"

    def __init__(self, dataset: str | Dataset, labels_per_class: int | None = 10,
                 seeds: Sequence[int] | int = 3, *, sweep_levels: Sequence[int | None] | None = None,
                 root: str | Path | None = None, slots: JobSlots | None = None, **kwargs: Any):
        super().__init__(slots)
        self.dataset, self.labels_per_class, self.seeds = dataset, labels_per_class, seeds
        self.sweep_levels = list(sweep_levels) if sweep_levels is not None else None
        self.root, self.kwargs = root, kwargs
        self.result: ComparisonResult | SweepResult | None = None
        self._last: Progress | None = None
        self._curves: dict[str, dict[str, list[float]]] = {r: {"step": [], "accuracy": []} for r in ROLES}

    def _on_progress(self, p: Progress) -> None:
        # Runs on the worker thread for every step: keep it cheap.
        with self._lock:
            if p.kind == "start" and p.role == "cnn":  # a new seed (or level): fresh live curves
                self._curves = {r: {"step": [], "accuracy": []} for r in ROLES}
            if p.kind in ("eval", "model") and p.role in ROLES and p.accuracy is not None:
                self._curves[p.role]["step"].append(p.step)
                self._curves[p.role]["accuracy"].append(p.accuracy)
            self._last = p
            if p.message:
                self.message = p.message

    def work(self) -> tuple[str, str]:
        common = {"on_progress": self._on_progress, "stop": self.stop_event, "root": self.root, **self.kwargs}
        if self.sweep_levels is not None:
            self.result = run_sweep(self.dataset, self.sweep_levels, self.seeds, **common)
            return self.result.status, self.message
        self.result = run_comparison(self.dataset, self.labels_per_class, self.seeds, **common)
        return self.result.status, self.result.message

    def progress(self) -> dict[str, Any]:
        p = self._last
        return {"fraction": p.fraction if p else 0.0, "role": p.role if p else "",
                "seed": p.seed if p else None, "seed_index": p.seed_index if p else 0,
                "n_seeds": p.n_seeds if p else 0, "step": p.step if p else 0,
                "total_steps": p.total_steps if p else 0, "losses": dict(p.losses) if p else {},
                "elapsed": self.elapsed,
                "curves": {r: {k: list(v) for k, v in c.items()} for r, c in self._curves.items()},
                "result": self.result}
