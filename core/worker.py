"""What runs inside a job's worker process, and how such processes are started.

A job (core.jobs) runs its work here, in a process of its own: a training
that runs out of memory, crashes or hangs takes only its process with it,
torch's global RNG is the job's alone (a seeded run repeats exactly beside
others), and the process's main thread gets the full speed of torch's
thread pool (a training in a non-main thread of the server ran at ~0.6x on
2 cores). Processes come from a fork server that has imported torch and this
package but never run a torch op, so no thread pool is ever forked and a job
starts in milliseconds instead of the ~2 s a fresh interpreter needs.

The child speaks to its job over a queue, in tuples:
``("events", [...])`` progress (flushed every ~0.1 s), ``("done", result)``,
``("error", message)``; a task that returns ``Later`` sends ``("done, then", result)``,
does its remaining work, and sends ``("after", what it returned)``. It stops when the job's stop event is set, and exits
if the server that started it goes away.

A worker never re-runs the server's main script. multiprocessing would: a
child it starts runs the parent's ``__main__`` again as ``__mp_main__``, and
under ``streamlit run`` that is app.py, which drew a whole page in bare mode
(~1.2 s of each job's start) and started UMAP's warm-up thread inside the
training. The tasks live in importable modules, so ``_PREFIX`` processes get
no main module at all (``_without_main``).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import sys
import threading
import time
from typing import Any

FLUSH_S = 0.1  # progress messages are batched: one queue put per 0.1 s, not per step
_PREFIX = "latent-lab-"  # the name of every worker process
PRELOAD = ["core.worker_tasks", "torch._dynamo", "sklearn.decomposition"]  # what the fork server imports
_CTX: Any = None
_CTX_LOCK = threading.Lock()


def _without_main(get: Any) -> Any:
    """``spawn.get_preparation_data``, leaving out the parent's main module for our workers (applied once,
    by ``context``)."""
    def prep(name: str) -> dict[str, Any]:
        data = get(name)
        if str(name).startswith(_PREFIX):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data
    return prep


def context() -> Any:
    """The multiprocessing context jobs use: a preloaded fork server where available, else spawn."""
    global _CTX
    with _CTX_LOCK:
        if _CTX is None:
            from multiprocessing import spawn
            spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
            if "forkserver" in mp.get_all_start_methods():
                _CTX = mp.get_context("forkserver")
                # What a training imports before its first step: torch and the tasks; torch._dynamo, which
                # torch.optim imports on a first optimiser (2.4 s); scikit-learn's PCA for the map forming
                # (2 s). Not torchmetrics (and torchvision under it), for the sample-quality scores: the
                # jobs that score import it after "Done" (core.worker_tasks.Later) (issue 23).
                _CTX.set_forkserver_preload(PRELOAD)
            else:
                _CTX = mp.get_context("spawn")
        return _CTX


_WARM: list[threading.Thread] = []  # the one warm-up thread of this process, once started


def warm() -> threading.Thread | None:
    """Start the fork server in the background (it imports torch and the tasks, a few seconds).

    Called at app start-up, before the app's own imports, so the two import side by side on two cores and
    the first job a user starts does not wait for them; once per process (later calls return the same
    thread); None where jobs do not use a fork server.
    """
    if context().get_start_method() != "forkserver":
        return None
    from multiprocessing import forkserver

    def ensure() -> None:
        try:
            forkserver.ensure_running()
        except RuntimeError:  # e.g. a __main__ still importing (a test runner): the first job starts it
            pass

    with _CTX_LOCK:
        if not _WARM:
            _WARM.append(threading.Thread(target=ensure, name="warm-fork-server", daemon=True))
            _WARM[0].start()
        return _WARM[0]


def warm_local() -> threading.Thread | None:
    """:func:`warm` where jobs run in local worker processes (not in thread mode, not on a Ray cluster).

    Imports nothing heavy, so app.py calls it first thing."""
    from .cluster import address
    if address() or os.environ.get("LATENT_LAB_JOBS", "process") == "thread":
        return None
    return warm()


class Batcher:
    """Collects progress items in the child and sends them in batches."""

    def __init__(self, queue: Any):
        self.queue, self.items, self.last = queue, [], time.monotonic()

    def __call__(self, item: Any, force: bool = False) -> None:
        self.items.append(item)
        if force or time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.queue.put(("events", by_value(self.items)))
            self.items = []
        self.last = time.monotonic()


def by_value(obj: Any) -> bytes:
    """``obj`` pickled with plain pickle: tensors travel as bytes, not as shared-memory handles.

    multiprocessing's own pickler sends a tensor as a file descriptor of shared
    memory, which the receiver can only open while the sender still exists; a
    worker that has finished (or died) would leave "connection reset" behind.
    """
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _limit_memory(mb: int | None) -> None:
    """Cap this process's address space so a runaway job fails with MemoryError, not the server."""
    if not mb:
        return
    import resource
    limit = int(mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _watch_parent(parent_pid: int) -> None:
    """Exit when the server that started this worker is gone (no orphan keeps training)."""
    def watch() -> None:
        while True:
            if os.getppid() != parent_pid and not pid_alive(parent_pid):
                os._exit(3)
            time.sleep(1.0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lower_priority() -> None:
    """Run the job at a lower CPU priority (LATENT_LAB_JOB_NICE, default 10) than the web server.

    Trainings use every core they get; page reruns are short and someone waits
    for each. A nice value makes the kernel serve the server first when both
    want the CPU, and costs a job nothing when the server is idle.
    """
    try:
        nice = int(os.environ.get("LATENT_LAB_JOB_NICE", "10"))
    except ValueError:
        nice = 10
    if nice > 0 and hasattr(os, "nice"):
        try:
            os.nice(min(nice, 19))
        except OSError:
            pass  # not allowed here: run at the server's priority


def child_main(task: str, kwargs: dict[str, Any], queue: Any, stop: Any, env: dict[str, str],
               memory_mb: int | None, parent_pid: int) -> None:
    """Entry point of a worker process: run ``TASKS[task](**kwargs)`` and report back."""
    from .worker_tasks import TASKS, Later  # preloaded in the fork server

    for k in [k for k in os.environ if k.startswith("LATENT_LAB_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)  # the server's LATENT_LAB_* settings as they are now, not as the fork server saw them
    _lower_priority()
    _watch_parent(parent_pid)
    from .device import mark_cpu
    mark_cpu()  # from here to the training's start, the worker sees how busy the other processes keep the cores
    send = Batcher(queue)
    try:
        _limit_memory(memory_mb)
        result = TASKS[task](send=send, stop=stop, **kwargs)
        send.flush()
        if isinstance(result, Later):  # the result now; the work after it next, then its report
            queue.put(("done, then", by_value(result.result)))
            queue.put(("after", by_value(result.then())))
        else:
            queue.put(("done", by_value(result)))
    except Exception as e:  # noqa: BLE001 - reported to the job, which shows it
        send.flush()
        if isinstance(e, MemoryError) or "can't allocate memory" in str(e):  # torch's CPU allocator says so
            limit = f"the limit is {memory_mb:,} MB per job, LATENT_LAB_JOB_MEMORY_MB" if memory_mb else "no limit set"
            queue.put(("error", f"the job ran out of memory ({limit}): try a smaller model, batch or dataset"))
            return
        from .datasets import DatasetError
        from .models import ConfigError
        known = isinstance(e, (DatasetError, ConfigError, ValueError))
        queue.put(("error", str(e) if known else f"{type(e).__name__}: {e}"))
    finally:
        queue.close()
        queue.join_thread()
        sys.stdout.flush()


class StopFlag:
    """A worker's stop request: an event, and why (in shared memory), so that a training stopped by the
    server's time limit or its owner says so in its run, not "stopped by the user". The engine reads
    ``is_set()`` and ``why``; the job calls ``set(why)``."""

    WHY_BYTES = 240

    def __init__(self, ctx: Any):
        self._event = ctx.Event()
        self._why = ctx.Array("c", self.WHY_BYTES, lock=False)

    def set(self, why: str = "") -> None:
        if why and not self._why.value:
            self._why.value = why.encode("utf-8", "ignore")[:self.WHY_BYTES - 1]
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def why(self) -> str:
        return bytes(self._why.value).decode("utf-8", "ignore")


def start(task: str, kwargs: dict[str, Any], memory_mb: int | None,
          threads: int | None = None, nice: int | None = None) -> tuple[Any, Any, StopFlag]:
    """Start a worker for ``task`` (with ``threads`` CPU threads, default all; at ``nice``, default
    LATENT_LAB_JOB_NICE's); returns (process, queue, stop)."""
    ctx = context()
    queue, stop = ctx.Queue(), StopFlag(ctx)
    env = {k: v for k, v in os.environ.items() if k.startswith("LATENT_LAB_")}
    if threads:
        env["LATENT_LAB_THREADS"] = str(threads)  # the job's share (core.jobs.job_threads), within the owner's cap
    if nice is not None:
        env["LATENT_LAB_JOB_NICE"] = str(nice)  # core.jobs.job_nice
    proc = ctx.Process(target=child_main, args=(task, kwargs, queue, stop, env, memory_mb, os.getpid()),
                       name=f"{_PREFIX}{task}", daemon=True)
    proc.start()
    return proc, queue, stop


def describe_exit(code: int | None) -> str:
    """A worker's exit code in words."""
    if code is None:
        return "it did not exit"
    if code < 0:
        import signal
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (" (out of memory, or killed by someone)" if -code == 9 else "")
    return f"exit code {code}"

