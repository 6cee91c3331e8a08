"""Training as a job: load data, build, train, evaluate, save; optionally in a thread.

``train_and_save`` is what the CLI, the benchmarks and the UI all call.
``TrainJob`` runs it in a worker thread that never touches the UI: it records
progress, a thinned loss history and the latest preview, under a lock, for a
page to poll. ``JobSlots`` caps how many trainings run at once across all
browser sessions; the rest wait in a FIFO queue and know their position.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch

from .data import Dataset, DatasetError, load_dataset
from .device import seed_everything
from .engine import Event, TrainConfig, TrainResult, train
from .models import ConfigError, RegistryModel, build_model, get_spec
from .store import save_run


def evaluate(model: RegistryModel, ds: Dataset, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """The model's metrics on a dataset split (accuracy, or reconstruction BCE/MSE)."""
    x, y = ds.split(split)
    if limit is not None:
        x, y = x[:limit], (y[:limit] if y is not None else None)
    if model.family == "classifier" and y is None:
        raise DatasetError(f"{ds.title} has no labels, so a classifier cannot be evaluated on it")
    return model.evaluate(x, y)


def train_and_save(model_name: str, model_config: dict[str, Any] | None, dataset: str | Dataset,
                   train_config: TrainConfig | None = None,
                   on_event: Callable[[Event], None] | None = None,
                   stop: threading.Event | None = None, root: str | Path | None = None,
                   path: str | Path | None = None, extra: dict[str, Any] | None = None,
                   ) -> tuple[Path, RegistryModel, TrainResult, dict[str, Any]]:
    """Train model ``model_name`` on ``dataset``, evaluate it on the test split, save the run."""
    cfg = (train_config or TrainConfig()).validate()
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    spec = get_spec(model_name)
    if spec.family == "classifier" and not ds.labeled:
        raise DatasetError(f"{spec.title} needs labels and {ds.title} has none; "
                           "pick a labeled dataset or a latent model")
    seed_everything(cfg.seed)
    model = build_model(model_name, model_config, ds.shape, ds.n_classes)
    result = train(model, ds, cfg, on_event, stop)
    # The approximate (optimisation) encoder costs hundreds of steps per image: a GAN's
    # reconstruction score uses the first 256 test images (marked "approximate").
    metrics = evaluate(model, ds, "test", limit=256 if getattr(model, "approximate_encoder", False) else None)
    run = save_run(model, dataset=ds.spec, train_config=asdict(cfg), result=result.to_dict(),
                   metrics=metrics, extra=extra, path=path, root=root)
    return run, model, result, metrics


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


class TrainJob:
    """One training in a worker thread; poll ``snapshot()`` from the UI."""

    def __init__(self, model_name: str, model_config: dict[str, Any] | None, dataset: str | Dataset,
                 train_config: TrainConfig, root: str | Path | None = None,
                 slots: JobSlots = SLOTS, extra: dict[str, Any] | None = None):
        get_spec(model_name)  # fail fast on a bad name
        self.id = next(_ids)
        self.model_name, self.model_config = model_name, dict(model_config or {})
        self.dataset, self.train_config, self.root, self.extra = dataset, train_config, root, extra
        self.slots = slots
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self.state = "new"  # new | queued | running | finished | stopped | diverged | failed
        self.message = ""
        self.error: str | None = None
        self.run_path: Path | None = None
        self.metrics: dict[str, Any] = {}
        self.model: RegistryModel | None = None
        self.started_at = self.ended_at = None
        self._last: Event | None = None
        self._preview: torch.Tensor | None = None
        self._curve: dict[str, list[float]] = {"step": []}
        self._every = 1  # log every n-th step into the curve (doubles as it fills)
        self._thread: threading.Thread | None = None

    # -- worker side ---------------------------------------------------------
    def _on_event(self, e: Event) -> None:
        # Runs on the worker thread for every step: keep it cheap.
        with self._lock:
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

    def _work(self) -> None:
        try:
            self.state = "queued"
            if not self.slots.acquire(self.id, self.stop_event):
                self.state, self.message = "stopped", "cancelled while waiting in the queue"
                return
            try:
                self.state, self.started_at = "running", time.time()
                run, model, result, metrics = train_and_save(
                    self.model_name, self.model_config, self.dataset, self.train_config,
                    on_event=self._on_event, stop=self.stop_event, root=self.root, extra=self.extra)
                self.model, self.run_path, self.metrics = model, run, metrics
                self.message = result.reason
                self.state = result.status
            finally:
                self.slots.release(self.id)
        except (DatasetError, ConfigError, ValueError) as e:
            self.state, self.error = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a worker must report, never die silently
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
        finally:
            self.ended_at = time.time()

    # -- UI side -------------------------------------------------------------
    def start(self) -> "TrainJob":
        """Start the worker thread (queues if all slots are busy)."""
        self.state = "queued"
        self._thread = threading.Thread(target=self._work, name=f"train-{self.id}", daemon=True)
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

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the progress, for drawing."""
        with self._lock:
            e = self._last
            return {
                "state": self.state, "message": self.message, "error": self.error,
                "queue_position": self.queue_position(),
                "step": e.step if e else 0, "total_steps": e.total_steps if e else 0,
                "epoch": e.epoch if e else 0, "epochs": e.epochs if e else self.train_config.epochs,
                "progress": e.progress if e else 0.0, "eta": e.eta if e else None,
                "elapsed": e.elapsed if e else 0.0,
                "images_per_sec": e.images_per_sec if e else 0.0,
                "losses": dict(e.losses) if e else {},
                "curve": {k: list(v) for k, v in self._curve.items()},
                "preview": self._preview,
                "run_path": self.run_path, "metrics": dict(self.metrics),
            }
