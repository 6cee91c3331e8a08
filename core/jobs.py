"""Jobs: long work (a training, a comparison) in a worker process, with progress to poll.

One base, ``Job``: a state machine (new -> queued -> running -> finished |
stopped | diverged | failed), a stop request (polite, then the worker is
terminated after a grace period), a place in the shared queue, and
``snapshot()`` for a page to draw from. The work itself is a function in
core.worker_tasks, run in a worker process (core.worker) that reports over a
queue; a thread of the job drains that queue into the job's state. A worker
that dies ends its job as failed with a message; the server carries on.
``TrainJob`` and ``CompareJob`` only say which task, with what arguments, and
what progress they keep. ``JobSlots`` caps how many jobs run at once across
all browser sessions; the rest wait in a FIFO queue and know their position.

Settings: LATENT_LAB_MAX_JOBS (jobs at once, 2), LATENT_LAB_JOB_MEMORY_MB
(address-space limit per worker, 8192; 0 = none), LATENT_LAB_STOP_GRACE_S
(seconds a stopped worker may stay silent before it is terminated, 30),
LATENT_LAB_JOBS=thread (run jobs in threads of the server instead: debugging),
LATENT_LAB_RAY_ADDRESS (run jobs on a Ray cluster instead: core.cluster).
"""
from __future__ import annotations

import os
import pickle
import queue as queue_mod
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import cluster, worker
from .compare import ROLES, ComparisonResult, Progress, SweepResult
from .datasets import DATASETS, Dataset
from .anomaly import AnomalyConfig, AnomalyResult, BenchmarkResult
from .anomaly import Progress as AnomalyProgress
from .device import thread_budget
from .engine import Event, TrainConfig
from .models import get_spec
from .store import runs_root
from .watch import LatentEvent


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


def job_threads(running: int) -> int:
    """CPU threads for a job starting while ``running`` jobs (itself included) hold a slot: its share of the
    server's threads. Alone it gets them all; beside another on 2 cores, one each (with two each, the four
    threads' waits on each other made six small trainings take minutes instead of seconds)."""
    return max(1, thread_budget() // max(1, running))


CURVE_POINTS = 400  # the live loss curve keeps between 400 and 800 points
SLOTS = JobSlots(int(os.environ.get("LATENT_LAB_MAX_JOBS", "2")))


def warm_workers() -> threading.Thread | None:
    """Start the local worker machinery now, ahead of the first job (nothing in thread mode or on Ray)."""
    if cluster.address() or os.environ.get("LATENT_LAB_JOBS", "process") == "thread":
        return None
    return worker.warm()
_ids = iter(range(1, 1 << 62))


class JobFailed(Exception):
    """The worker reported an error or died; the message is for the user."""


def _setting(name: str, default: float) -> float:
    """A numeric LATENT_LAB_* setting (read when a job starts, so tests and owners can change it)."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def portable(dataset: str | Dataset) -> str | Dataset:
    """What a worker gets: a registry name (it loads it itself), else the parsed Dataset (never a path to parse again)."""
    if isinstance(dataset, Dataset) and dataset.spec in DATASETS:
        return dataset.spec
    return dataset


class Job:
    """One piece of long work in a worker; subclasses name the task, its arguments and their progress."""

    title = "job"  # what the UI calls it, e.g. "Training a convolutional autoencoder"
    task = ""  # a key of core.worker_tasks.TASKS

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
        self.worker_pid: int | None = None
        self.stop_heard = False  # the work said it is stopping: no grace-period termination then
        self._thread: threading.Thread | None = None

    # -- what a subclass provides ----------------------------------------------
    def arguments(self) -> dict[str, Any]:
        """The task's keyword arguments (picklable)."""
        raise NotImplementedError

    def apply(self, item: Any) -> None:
        """Take one progress item from the worker (called under the lock)."""

    def finish(self, result: Any) -> tuple[str, str]:
        """Keep the task's result; returns (final state, message)."""
        raise NotImplementedError

    def progress(self) -> dict[str, Any]:
        """The job's own progress fields for ``snapshot`` (called under the lock)."""
        return {}

    # -- worker side ---------------------------------------------------------
    def _apply_all(self, items: list[Any]) -> None:
        with self._lock:
            for item in items:
                self.apply(item)

    def _run_here(self) -> Any:
        """LATENT_LAB_JOBS=thread: the task in this thread."""
        from .worker_tasks import TASKS
        return TASKS[self.task](send=lambda item, force=False: self._apply_all([item]), stop=self.stop_event,
                                **self.arguments())

    def _run_in_worker(self) -> Any:
        """The task in a worker process: drain its queue until it reports, stops or dies."""
        memory = int(_setting("LATENT_LAB_JOB_MEMORY_MB", 8192)) or None
        proc, q, stop = worker.start(self.task, self.arguments(), memory, threads=job_threads(self.slots.running))
        self.worker_pid = proc.pid
        asked_at = None
        try:
            while True:
                # Checked on every pass, not only when the queue is quiet: a worker that reports
                # every 0.1 s never leaves it quiet for the 0.2 s timeout, and would never hear Stop.
                if self.stop_event.is_set() and asked_at is None:
                    stop.set()  # polite: the engine stops after the current step
                    asked_at = time.monotonic()
                try:
                    kind, payload = q.get(timeout=0.2)
                except queue_mod.Empty:
                    grace = _setting("LATENT_LAB_STOP_GRACE_S", 30)
                    if asked_at is not None and not self.stop_heard and time.monotonic() - asked_at > grace:
                        proc.terminate()
                        proc.join(5)
                        raise JobFailed("the worker did not stop in time and was terminated")
                    if not proc.is_alive():
                        raise JobFailed(f"the worker died ({worker.describe_exit(proc.exitcode)}); the server "
                                        "and other sessions carry on. An interrupted training can be resumed "
                                        "from the Runs page.")
                    continue
                if asked_at is not None:
                    asked_at = time.monotonic()  # it still talks: the grace period counts from its last word
                if kind == "events":
                    self._apply_all(pickle.loads(payload))
                elif kind == "done":
                    return pickle.loads(payload)
                else:
                    raise JobFailed(payload)
        finally:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
            q.close()

    def _work(self) -> None:
        try:
            self.state = "queued"
            if not self.slots.acquire(self.id, self.stop_event):
                self.state, self.message = "stopped", "cancelled while waiting in the queue"
                return
            try:
                self.state, self.started_at = "running", time.time()
                if cluster.address():
                    result = cluster.bring_home(cluster.run(self.task, self.arguments(), self._apply_all,
                                                            self.stop_event), self.arguments().get("root", ""))
                elif os.environ.get("LATENT_LAB_JOBS", "process") == "thread":
                    result = self._run_here()
                else:
                    result = self._run_in_worker()
                state, message = self.finish(result)
                self.message, self.state = message, state
            finally:
                self.slots.release(self.id)
        except JobFailed as e:
            self.state, self.error = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a job must report, never die silently
            self.state, self.error = "failed", str(e) or type(e).__name__
        finally:
            self.ended_at = time.time()

    # -- UI side -------------------------------------------------------------
    def start(self) -> "Job":
        """Start the job (it queues if all slots are busy)."""
        self.state = "queued"
        self._thread = threading.Thread(target=self._work, name=f"job-{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to stop after the current step (or leave the queue)."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the job to end."""
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
