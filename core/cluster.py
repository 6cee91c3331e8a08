"""Jobs on a Ray cluster, for when one server is not enough (LATENT_LAB_RAY_ADDRESS).

With LATENT_LAB_RAY_ADDRESS set (a cluster address such as ``ray://head:10001``
or ``auto``, or ``local`` for a Ray instance started in this process), a job's
task runs as a Ray task on the cluster's workers instead of in a local worker
process, on a GPU when the cluster has one. The server only draws it:
progress comes back over a ``ray.util.queue.Queue``, Stop sets a flag the
task reads, and a finished training comes back as the run's zip, which the
server imports into its own run store as usual. The code travels with the
task (Ray's ``working_dir``), so workers need only the requirements installed.

Ray is imported only here, only when that variable is set: without it the app
starts no faster or slower and runs no extra processes.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
_INIT = threading.Lock()


def address() -> str:
    """The configured cluster address, or '' when jobs run locally."""
    return os.environ.get("LATENT_LAB_RAY_ADDRESS", "").strip()


def _ray() -> Any:
    """Ray, connected to the configured cluster (once per server)."""
    import ray

    with _INIT:
        if not ray.is_initialized():
            where = address()
            ray.init(address=None if where == "local" else where, namespace="latent-lab", log_to_driver=False,
                     include_dashboard=False if where == "local" else None,
                     runtime_env={"working_dir": str(ROOT),
                                  "excludes": [".git", "runs", "test-artifacts", "__pycache__", "*.png"]})
    return ray


class _StopFlag:
    """A Ray actor: the server sets it (with why, e.g. its time limit), the task reads it."""

    def __init__(self) -> None:
        self.flag, self.why = False, ""

    def set(self, why: str = "") -> None:
        self.flag, self.why = True, self.why or str(why)

    def is_set(self) -> bool:
        return self.flag

    def state(self) -> tuple[bool, str]:
        return self.flag, self.why


class _RemoteStop:
    """The engine's ``stop`` inside a Ray task: asks the flag actor at most every 0.5 s."""

    def __init__(self, actor: Any):
        self.actor, self.last, self.value, self.why = actor, 0.0, False, ""

    def is_set(self) -> bool:
        if not self.value and time.monotonic() - self.last > 0.5:
            import ray
            flag, why = ray.get(self.actor.state.remote())
            self.value, self.why, self.last = bool(flag), str(why), time.monotonic()
        return self.value


class _QueueSink:
    """What core.worker.Batcher puts to: a Ray queue."""

    def __init__(self, queue: Any):
        self.queue = queue

    def put(self, item: Any) -> None:
        self.queue.put(item)


def _remote_task(task: str, kwargs: dict[str, Any], queue: Any, stop_actor: Any, env: dict[str, str]) -> Any:
    """Runs on a cluster worker: the job's task, into a scratch run store; a training returns its run as a zip."""
    from .run_share import export_run
    from .worker import Batcher
    from .worker_tasks import TASKS, settle

    os.environ.update(env)
    send = Batcher(_QueueSink(queue))
    with tempfile.TemporaryDirectory(prefix="latent-lab-ray-") as scratch:
        if "root" in kwargs:
            kwargs = {**kwargs, "root": scratch}
        result = settle(TASKS[task](send=send, stop=_RemoteStop(stop_actor), **kwargs))  # all before the zip
        send.flush()
        if isinstance(result, dict) and "run_path" in result:
            result = {**result, "run_zip": export_run(result["run_path"], private=True), "run_name": Path(result["run_path"]).name}
    return result


def run(task: str, kwargs: dict[str, Any], apply: Callable[[list[Any]], None], stopping: threading.Event) -> Any:
    """Run a job's task on the cluster; ``apply`` gets progress batches; returns the task's result."""
    ray = _ray()
    from ray.util.queue import Empty, Queue

    queue = Queue(maxsize=1000)
    stop_actor = ray.remote(_StopFlag).remote()
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    env = {k: v for k, v in os.environ.items() if k.startswith("LATENT_LAB_") and k != "LATENT_LAB_RAY_ADDRESS"}
    ref = ray.remote(num_gpus=gpus, max_retries=0)(_remote_task).remote(task, kwargs, queue, stop_actor, env)
    asked = False
    try:
        while True:
            ready, _ = ray.wait([ref], timeout=0.2)
            try:
                while True:
                    kind, payload = queue.get_nowait()
                    if kind == "events":
                        apply(pickle.loads(payload))
            except Empty:
                pass
            if ready:
                return ray.get(ref)
            if stopping.is_set() and not asked:
                stop_actor.set.remote(getattr(stopping, "why", ""))  # who asked: the engine's reason says so
                asked = True
    finally:
        ray.kill(stop_actor)
        queue.shutdown()


def bring_home(result: Any, root: str) -> Any:
    """A training's result from the cluster: its run imported into this server's store."""
    if isinstance(result, dict) and "run_zip" in result:
        from .run_share import bring_home as save_home
        path = save_home(result.pop("run_zip"), root, result.pop("run_name"))
        result = {**result, "run_path": str(path)}
    return result
