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

import contextlib
import hashlib
import os
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


def prime_disk_cache(timeout: float = 600.0, force: bool = False) -> bool:
    """Import umap in a low-priority subprocess so numba's on-disk cache is filled; True if it ran.

    On a fresh install, ``import umap`` compiles pynndescent's cached functions
    (~20-35 s, once per installation); doing that in a niced child keeps the GIL
    and the CPU of this process (and its trainings) free. A marker file per
    library versions skips it afterwards.
    """
    marker = _prime_marker()
    if marker.exists() and not force:
        return False
    # The child lowers its own priority (preexec_fn is unsafe in a threaded server).
    code = "import os\nif hasattr(os, 'nice'): os.nice(19)\nimport umap.umap_"
    try:
        subprocess.run([sys.executable, "-c", code], timeout=timeout, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
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
    per installation; it never touches this process's GIL), so the in-process
    import takes ~3 s instead of ~25 s. ``delay_s`` holds the in-process part
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
                prime_disk_cache()
            time.sleep(max(0.0, delay_s - (time.monotonic() - started)))
            while wait_while is not None and wait_while() and not umap_graph.WARM.is_set():
                time.sleep(poll_s)
            warm_up()

        _WARM_THREAD = threading.Thread(target=work, name="umap-warm-up", daemon=True)
        _WARM_THREAD.start()
        return _WARM_THREAD
