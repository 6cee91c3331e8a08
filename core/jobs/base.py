"""The job base: long work (a training, a comparison) in a worker process, with progress to poll.

One base, ``Job``: a state machine (new -> queued -> running -> finished |
stopped | diverged | failed), a stop request (polite, then the worker is
terminated after a grace period), a place in the shared queue, and
``snapshot()`` for a page to draw from. The work itself is a function in
core.worker_tasks, run in a worker process (core.worker) that reports over a
queue; a thread of the job drains that queue into the job's state. A worker
that dies ends its job as failed with a message; the server carries on.
The kinds (core.jobs.kinds: ``TrainJob``, ``CompareJob``, ``AnomalyJob``)
only say which task, with what arguments, and what progress they keep; the
place in the queue comes from core.jobs.slots.

Every started job is in ``live_jobs()`` until it ends (the Runs page's admin panel stops any of them), and
every job has a wall-clock ceiling: at LATENT_LAB_JOB_MAX_MINUTES of running it is stopped as Stop does
(a training saves the model so far), whoever started it. A stop carries who asked (``StopSignal.why``, passed
to a worker process in shared memory and to a Ray task through its flag actor), so the engine's reason, the
saved run and the job's message say "stopped at this server's limit ..." or "stopped by the server's owner"
rather than "stopped by the user".

A task may leave work until after its result (core.worker_tasks.``Later``: a training's sample-quality scores).
The job then ends as usual, "Done" on its page, and its thread waits for that work (``following`` meanwhile; its
outcome reaches ``after``, or ``after_error``) with its slot already free.

Settings: LATENT_LAB_MAX_JOBS (jobs at once, 2), LATENT_LAB_JOB_MEMORY_MB
(address-space limit per worker, 8192; 0 = none), LATENT_LAB_STOP_GRACE_S
(seconds a stopped worker may stay silent before it is terminated, 30), LATENT_LAB_JOB_MAX_MINUTES
(the ceiling, 30; 0 = none),
LATENT_LAB_AFTER_MAX_S (seconds a worker's work after its result may take, 600),
LATENT_LAB_JOBS=thread (run jobs in threads of the server instead: debugging),
LATENT_LAB_RAY_ADDRESS (run jobs on a Ray cluster instead: core.cluster).
"""
from __future__ import annotations

import os
import pickle
import queue as queue_mod
import threading
import time
import weakref
from typing import Any

from .. import cluster, worker
from ..datasets import DATASETS, Dataset
from . import slots as _slots
from .slots import JobSlots, job_nice, job_threads


def warm_workers() -> threading.Thread | None:
    """Start the local worker machinery now, ahead of the first job (nothing in thread mode or on Ray)."""
    return worker.warm_local()


_ids = iter(range(1, 1 << 62))
_LIVE: "weakref.WeakSet[Job]" = weakref.WeakSet()  # every started job (a finished one drops out with its tab)
_LIVE_LOCK = threading.Lock()


def live_jobs() -> list["Job"]:
    """Every job on this server that is queued or running, oldest first (for the server's owner)."""
    with _LIVE_LOCK:
        jobs = list(_LIVE)
    return sorted((j for j in jobs if j.active), key=lambda j: j.id)


def ceiling_minutes() -> float:
    """LATENT_LAB_JOB_MAX_MINUTES: the longest a job may run (0 or less: no ceiling)."""
    return _setting("LATENT_LAB_JOB_MAX_MINUTES", 30)


def _end_worker(proc: Any, q: Any) -> None:
    """A worker process that has reported (or failed): reaped, killed if it lingers, its queue closed."""
    proc.join(2)
    if proc.is_alive():
        proc.kill()
    q.close()


class JobFailed(Exception):
    """The worker reported an error or died; the message is for the user."""


class StopSignal(threading.Event):
    """A job's stop request, and who made it (``why``, e.g. the server's time limit): the engine's reason,
    the saved run's and the job's message then say so instead of "stopped by the user"."""

    def __init__(self) -> None:
        super().__init__()
        self.why = ""

    def set(self, why: str = "") -> None:
        """Ask the job to stop; the first ``why`` given is kept."""
        if why and not self.why:
            self.why = why
        super().set()


BY_THE_USER = "stopped by the user"  # what the work says of a stop, unless the stop signal says why


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
        self.slots = slots if slots is not None else _slots.SLOTS  # looked up now: tests may swap it
        self.stop_event = StopSignal()
        self._lock = threading.Lock()
        self.state = "new"  # new | queued | running | finished | stopped | diverged | failed
        self.message = ""
        self.error: str | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.worker_pid: int | None = None
        self.stop_heard = False  # the work said it is stopping: no grace-period termination then
        self.timed_out = False  # stopped at the server's ceiling (LATENT_LAB_JOB_MAX_MINUTES)
        self.ceiling = 0.0  # that ceiling in minutes, as read when the job started running (0 = none)
        self.following = False  # ended, and its task still does work it left until after (core.worker_tasks.Later)
        self.browser_here = False  # started from a browser on this machine (start(); core.jobs.job_threads)
        self.after_error: str | None = None  # what went wrong in that work, if it did
        self._then: Any = None  # that work, done by the job's thread once the job has ended
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

    def after(self, result: Any) -> None:
        """Take what the task's work after its result returned (``Later``; called under the lock)."""

    def spares_a_core(self) -> bool:
        """Whether the job leaves a core to the browser on this machine that started it (core.jobs.job_threads);
        a kind whose models gain more from every core says no (core.models.ModelSpec.spare_core)."""
        return self.browser_here

    # -- worker side ---------------------------------------------------------
    def _apply_all(self, items: list[Any]) -> None:
        with self._lock:
            for item in items:
                self.apply(item)

    def _run_here(self) -> Any:
        """LATENT_LAB_JOBS=thread: the task in this thread."""
        from ..worker_tasks import TASKS, Later
        result = TASKS[self.task](send=lambda item, force=False: self._apply_all([item]), stop=self.stop_event,
                                  **self.arguments())
        if isinstance(result, Later):
            self._then, self.following = result.then, True
            return result.result
        return result

    def _run_in_worker(self) -> Any:
        """The task in a worker process: drain its queue until it reports, stops or dies."""
        memory = int(_setting("LATENT_LAB_JOB_MEMORY_MB", 8192)) or None
        running, spare = self.slots.running, self.spares_a_core()
        threads = job_threads(running, spare)
        proc, q, stop = worker.start(self.task, self.arguments(), memory, threads=threads,
                                     nice=job_nice(running, threads, spare))
        self.worker_pid = proc.pid
        asked_at, handed_on = None, False
        try:
            while True:
                # Checked on every pass, not only when the queue is quiet: a worker that reports
                # every 0.1 s never leaves it quiet for the 0.2 s timeout, and would never hear Stop.
                if self.stop_event.is_set() and asked_at is None:
                    stop.set(self.stop_event.why)  # polite: the engine stops after the current step
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
                elif kind == "done, then":  # the result; the worker goes on with its work after it
                    self._then, self.following, handed_on = (lambda: self._drain_after(proc, q)), True, True
                    return pickle.loads(payload)
                else:
                    raise JobFailed(payload)
        finally:
            if not handed_on:
                _end_worker(proc, q)

    def _drain_after(self, proc: Any, q: Any) -> Any:
        """The worker's report of its work after the result (``Later``); then the worker is gone."""
        deadline = time.monotonic() + _setting("LATENT_LAB_AFTER_MAX_S", 600)
        try:
            while True:
                try:
                    kind, payload = q.get(timeout=0.5)
                except queue_mod.Empty:
                    if not proc.is_alive():
                        raise JobFailed(f"the worker died ({worker.describe_exit(proc.exitcode)})") from None
                    if time.monotonic() > deadline:
                        raise JobFailed("the worker's work after the result took too long") from None
                    continue
                if kind == "after":
                    return pickle.loads(payload)
                if kind == "error":
                    raise JobFailed(payload)
        finally:
            _end_worker(proc, q)

    def _work(self) -> None:
        try:
            self.state = "queued"
            if not self.slots.acquire(self.id, self.stop_event):
                self.state, self.message = "stopped", "cancelled while waiting in the queue"
                return
            self.ceiling = max(0.0, ceiling_minutes())
            timer = threading.Timer(self.ceiling * 60, self._time_up) if self.ceiling > 0 else None
            try:
                self.state, self.started_at = "running", time.time()
                if timer is not None:
                    timer.daemon = True
                    timer.start()
                if cluster.address():
                    result = cluster.bring_home(cluster.run(self.task, self.arguments(), self._apply_all,
                                                            self.stop_event), self.arguments().get("root", ""))
                elif os.environ.get("LATENT_LAB_JOBS", "process") == "thread":
                    result = self._run_here()
                else:
                    result = self._run_in_worker()
                state, message = self.finish(result)
                self.message, self.state = (message if state == "finished" else self._say_why(message)), state
            finally:
                if timer is not None:
                    timer.cancel()
                self.slots.release(self.id)
        except JobFailed as e:
            self.state, self.error = "failed", f"{self._ceiling_note()}, and {e}" if self.timed_out else str(e)
        except Exception as e:  # noqa: BLE001 - a job must report, never die silently
            self.state, self.error = "failed", str(e) or type(e).__name__
        finally:
            self.ended_at = time.time()
        self._follow_up()

    def _follow_up(self) -> None:
        """The task's work after its result (``Later``), once the job has ended and its slot is free."""
        then, self._then = self._then, None
        if then is None:
            return
        try:
            result = then()
            with self._lock:
                self.after(result)
        except Exception as e:  # noqa: BLE001 - the job has ended well; this part only goes missing, said so
            self.after_error = str(e) or type(e).__name__
        finally:
            self.following = False

    def _time_up(self) -> None:
        """The ceiling: stop as Stop does (a training keeps what it learned), saying why."""
        if self.stop_event.is_set():
            return  # already stopping (the user or the owner asked first)
        self.timed_out = True
        self.stop_event.set(self._ceiling_note())

    def _ceiling_note(self) -> str:
        return (f"stopped at this server's limit of {self.ceiling:g} minutes per job "
                "(LATENT_LAB_JOB_MAX_MINUTES)")

    def _say_why(self, message: str) -> str:
        """The final message, naming who stopped the job when it was not its user (the time limit, the owner).

        A training's message already does (the engine reads the stop signal); a comparison or an anomaly
        experiment says "stopped by the user", which is replaced.
        """
        why = self.stop_event.why
        if not why or why in message:
            return message
        if BY_THE_USER in message:
            return message.replace(BY_THE_USER, why, 1)
        return f"{why}; {message}" if message else why

    # -- UI side -------------------------------------------------------------
    def start(self, browser_here: bool = False) -> "Job":
        """Start the job (it queues if all slots are busy). ``browser_here``: a browser on this machine started
        it and draws its progress (core.jobs.job_threads leaves it a core)."""
        self.browser_here = bool(browser_here)
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.state = "queued"
        self._thread = threading.Thread(target=self._work, name=f"job-{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, why: str = "") -> None:
        """Ask the job to stop after the current step (or leave the queue); ``why`` names who asked, if not
        its user (e.g. "stopped by the server's owner")."""
        self.stop_event.set(why)

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
                    "queue_position": self.queue_position(), "title": self.title, "following": self.following,
                    "after_error": self.after_error, **self.progress()}
