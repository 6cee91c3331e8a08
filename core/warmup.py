"""Getting UMAP ready before anyone asks for it: numba's disk cache and in-process compilation.

A first UMAP in a fresh process would otherwise wait for ``import umap`` (~25 s
on a fresh install, ~3 s once numba's disk cache is filled) and for numba to
compile the layout optimiser. The app calls ``start_warm_up`` at start-up: a
niced subprocess fills the disk cache once per installation
(``prime_disk_cache``), then a daemon thread compiles the layout on a tiny
input (``warm_up``), holding back while a training runs, because compiling
holds the GIL. The "warm" flag itself is ``core.umap_graph.WARM``, set by every
layout, so this module and the projection share it without importing each other.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import umap_graph

_WARM_LOCK = threading.Lock()  # held while compiling
_THREAD_LOCK = threading.Lock()  # held while starting the background thread
_WARM_THREAD: threading.Thread | None = None


def is_warm() -> bool:
    """Whether this process has UMAP's layout optimiser compiled (a first UMAP will be fast)."""
    return umap_graph.WARM.is_set()


@contextlib.contextmanager
def _short_gil_slices(interval: float = 1e-4) -> Iterator[None]:
    """Hand the GIL over every ``interval`` s instead of every 5 ms, for the duration.

    Importing umap and numba-compiling are pure-Python work that holds the GIL;
    a training thread in the same process needs the GIL back after every torch
    op and, with the default 5 ms slices, waits up to 5 ms each time. Measured
    on 2 busy cores: a small training loop beside a pure-Python thread ran at
    0.46-0.55 x its speed with 5 ms slices and 0.64 x with 0.1 ms. It softens a
    training that starts during a warm-up; ``start_warm_up(wait_while=...)``
    avoids the overlap altogether.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def warm_up() -> float:
    """Compile UMAP's numba layout code in this process on a tiny input; seconds spent (0 if warm).

    Thread-safe and idempotent: a second caller waits for the first and returns 0.
    """
    if umap_graph.WARM.is_set():
        return 0.0
    with _WARM_LOCK:
        if umap_graph.WARM.is_set():
            return 0.0
        t = time.perf_counter()
        x = np.random.RandomState(0).normal(size=(64, 8)).astype(np.float32)
        with _short_gil_slices():
            # Same code path and argument types as a real fit, a handful of epochs.
            umap_graph.umap_layout(x, 2, 8, 0.1, 5, "spectral", 0)
            umap_graph.umap_layout(x, 2, 8, 0.1, 5, "pca", 0)
        umap_graph.WARM.set()
        return time.perf_counter() - t


def _prime_marker() -> Path:
    """A file saying numba's disk cache was filled for these library versions and cache folder."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        libs = "-".join(version(p) for p in ("umap-learn", "pynndescent", "numba"))
    except PackageNotFoundError:
        libs = "unknown"
    where = os.environ.get("NUMBA_CACHE_DIR", "")
    place = hashlib.sha1(where.encode()).hexdigest()[:8] if where else "default"
    tag = f"{libs}-py{sys.version_info[0]}{sys.version_info[1]}-{place}"
    base = Path(os.environ.get("LATENT_LAB_CACHE", Path.home() / ".cache" / "latent-lab"))
    return base / f"numba-primed-{tag}"


PRIME_CODE = "import os\nif hasattr(os, 'nice'): os.nice(19)\nimport umap.umap_"  # the child lowers its own priority


def prime_disk_cache(timeout: float = 600.0, force: bool = False,
                     pause_while: Callable[[], bool] | None = None, poll_s: float = 0.2) -> bool:
    """Import umap in a low-priority subprocess so numba's on-disk cache is filled; True if it ran.

    On a fresh install, ``import umap`` compiles pynndescent's cached functions
    (~20-35 s, once per installation); doing that in a niced child keeps the GIL
    and the CPU of this process free. A marker file per library versions skips it
    afterwards. ``pause_while`` (e.g. "a training is running") stops the child
    (SIGSTOP) for as long as it holds: niced or not, a compile on one of two cores
    made the first training start on one thread instead of two and take 16 s instead
    of 8 (bench/first_minute.py). ``timeout`` counts the seconds the child ran.
    """
    marker = _prime_marker()
    if marker.exists() and not force:
        return False
    # preexec_fn is unsafe in a threaded server, so the child nices itself (PRIME_CODE).
    try:
        child = subprocess.Popen([sys.executable, "-c", PRIME_CODE], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    except OSError:
        return False
    ran, paused, can_pause = 0.0, False, hasattr(signal, "SIGSTOP")
    atexit.register(child.kill)  # a server that stops takes its primer with it (no orphan compiling on)
    try:
        while child.poll() is None:
            if ran > timeout:
                child.kill()
                child.wait()
                return False
            hold = bool(can_pause and pause_while is not None and pause_while())
            if hold != paused:
                child.send_signal(signal.SIGSTOP if hold else signal.SIGCONT)
                paused = hold
            time.sleep(poll_s)
            ran += 0.0 if paused else poll_s
    finally:
        atexit.unregister(child.kill)
        if paused and child.poll() is None:
            child.send_signal(signal.SIGCONT)
    if child.returncode != 0:
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # no writable cache folder: prime again next time (cheap once the cache is full)
    return True


def start_warm_up(prime: bool = True, wait_while: Callable[[], bool] | None = None,
                  poll_s: float = 2.0, delay_s: float = 0.0) -> threading.Thread:
    """Warm UMAP up in a daemon thread (once per process); returns the thread.

    ``wait_while`` (e.g. "a training is running") holds the in-process part back
    until it is false: importing umap and compiling hold the GIL for ~5 s, which
    a training thread in the same process feels (bench/projection.py measures
    it). With ``prime``, a niced subprocess first fills numba's disk cache (once
    per installation; it never touches this process's GIL, and it is paused while
    ``wait_while`` holds), so the in-process import takes ~3 s instead of ~25 s. ``delay_s`` holds the in-process part
    back that long first: a user who starts a training on their first page
    gets both cores for it, and the warm-up then waits for it to finish.
    """
    global _WARM_THREAD
    with _THREAD_LOCK:
        if _WARM_THREAD is not None:
            return _WARM_THREAD

        def work() -> None:
            started = time.monotonic()
            if prime and "umap" not in sys.modules:
                prime_disk_cache(pause_while=wait_while)
            time.sleep(max(0.0, delay_s - (time.monotonic() - started)))
            while wait_while is not None and wait_while() and not umap_graph.WARM.is_set():
                time.sleep(poll_s)
            warm_up()

        _WARM_THREAD = threading.Thread(target=work, name="umap-warm-up", daemon=True)
        _WARM_THREAD.start()
        return _WARM_THREAD
