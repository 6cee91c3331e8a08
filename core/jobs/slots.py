"""Job slots: at most LATENT_LAB_MAX_JOBS jobs run at once across all browser sessions (default 2); the
others wait in a FIFO queue and know their place. And each job's share of the CPU threads."""
from __future__ import annotations

import os
import threading
from collections import deque

from ..device import thread_budget, usable_cores


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



def job_threads(running: int, browser_here: bool = False) -> int:
    """CPU threads for a job starting while ``running`` jobs (itself included) hold a slot: its share of the
    server's threads. Alone it gets them all; beside another on 2 cores, one each (with two each, the four
    threads' waits on each other made six small trainings take minutes instead of seconds).

    ``browser_here``: the job was started from a browser on this machine, which draws its progress while it
    runs, and its models gain little from every core (core.jobs.Job.spares_a_core). It then leaves that
    browser and the web server one core: their drawing takes about 0.6 of a core during a training, and a
    training's threads wait for each other at every step. On 2 cores the first preset trained in 16.7 s on
    one thread against 20.5 s on two (median of 3 paired fresh starts; 11 of 11 pairs over three runs faster
    on one; issue 23, bench/first_minute.py --remote-baseline)."""
    share = max(1, thread_budget() // max(1, running))
    return min(share, max(1, usable_cores() - 1)) if browser_here else share


def job_nice(running: int, threads: int, browser_here: bool) -> int | None:
    """The nice value for a job (core.worker), or None for the owner's LATENT_LAB_JOB_NICE (default 10).

    0 (the web server's own priority) for a job that runs alone, was started from a browser on this machine
    and leaves a core free (``job_threads``): at nice 10 its one thread lost its core whenever that browser
    and the server briefly wanted both, and the first preset trained 1.14x slower (16.8 s against 14.7 s,
    median of 3, interleaved). The owner's LATENT_LAB_JOB_NICE, when set, always wins."""
    if "LATENT_LAB_JOB_NICE" in os.environ or not browser_here or running > 1 or threads >= usable_cores():
        return None
    return 0


SLOTS = JobSlots(int(os.environ.get("LATENT_LAB_MAX_JOBS", "2")))
