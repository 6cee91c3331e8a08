"""Where and how torch runs: device choice, thread counts, seeding.

Shared by the engine (training), the pages (interactive decodes on one thread)
and the benchmarks, so every caller picks devices and threads the same way.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, else CPU; an explicit choice that is missing falls back to CPU."""
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if preference in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def usable_cores() -> int:
    """The cores this process may run on (not the host's count, which may be larger)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_budget() -> int:
    """CPU threads this process may use: every usable core, or LATENT_LAB_THREADS if that is set and lower.

    A job's worker process gets LATENT_LAB_THREADS from the server (its share of the cores while other
    jobs run, see core.jobs.job_threads): two jobs with two threads each on two cores spend much of their
    time in each other's way. A value that is not a number is ignored.
    """
    n = usable_cores()
    with contextlib.suppress(ValueError):
        n = min(n, int(os.environ.get("LATENT_LAB_THREADS", "") or n))
    return max(1, n)


def cpu_sample() -> tuple[float, float, float, int] | None:
    """(now, CPU seconds all processes have used, CPU seconds this process has used, CPUs counted) from
    /proc/stat and os.times(); None where there is no /proc (macOS, Windows)."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
        ticks = [int(v) for v in lines[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # all but idle and iowait
    cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
    own = os.times()
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, max(1, cpus)


_mark: tuple[float, float, float, int] | None = None  # cpu_sample() when this worker started or last decided
_in_worker = False


def mark_cpu() -> None:
    """This process is a job's worker: start the window :func:`job_start_threads` measures (core.worker)."""
    global _mark, _in_worker
    _mark, _in_worker = cpu_sample(), True


def threads_for(free: float, ceiling: int) -> int:
    """Threads for ``free`` cores: all ``ceiling`` when nearly that many are free, else the free cores rounded."""
    return ceiling if free >= ceiling - 0.25 else max(1, min(ceiling, int(free + 0.5)))


def _others(start: tuple[float, float, float, int], now: tuple[float, float, float, int]) -> float:
    """Cores other processes kept busy, on average, between two cpu_sample()s."""
    return max(0.0, (now[1] - start[1]) - (now[2] - start[2])) / (now[0] - start[0])


def job_start_threads(model_threads: int | None, min_window_s: float = 0.2,
                      recheck_s: float = 0.15) -> int | None:
    """How many threads a training in a job's worker gets: its share of the cores (thread_budget(), see
    core.jobs.job_threads) or the model's own count, but no more than the cores other processes left free,
    measured from when the worker started (or last decided) to now. None outside a worker (the CLI, the
    benchmarks and thread-mode jobs keep their count), with LATENT_LAB_ADAPT_THREADS=0, or without /proc.

    A job's worker runs niced (core.worker), so the kernel serves the web server and anything else at normal
    priority first. With two threads on two cores that backfires when someone else keeps one core busy: the
    worker's thread on that core gets a tenth of it, and every parallel op waits for that thread (a lone CAE
    took 130 s instead of 5 s beside one busy process; bench/train_throughput.py). The count is chosen once
    per training and kept (and saved in the run): changing it mid-training made a seeded run's last digits
    depend on when the load changed; on a fixed count a seeded run repeats exactly. Across counts a conv
    model's floats differ around the eighth digit (oneDNN splits its weight-gradient sums by thread;
    tests/unit/test_workers.py).

    A window that looks busy is measured once more, over ``recheck_s``, and the quieter of the two counts:
    the page's own rerun after the Start click falls in the first window, and alone it had a lone
    training start on one thread of two (1.7x slower); a neighbour that keeps a core busy shows in both.
    """
    global _mark
    if not _in_worker or os.environ.get("LATENT_LAB_ADAPT_THREADS") == "0":
        return None
    start = _mark or cpu_sample()
    if start is None:
        return None
    wait = min_window_s - (time.monotonic() - start[0])
    if wait > 0:
        time.sleep(wait)
    now = cpu_sample()
    _mark = now
    if now is None or now[0] <= start[0]:
        return None
    share = thread_budget()
    cores, ceiling = min(usable_cores(), now[3]), min(model_threads or share, share)
    others = _others(start, now)
    if threads_for(cores - others, ceiling) < ceiling and recheck_s > 0:
        time.sleep(recheck_s)
        again = cpu_sample()
        if again is not None and again[0] > now[0]:
            others = min(others, _others(now, again))
            _mark = again
    return threads_for(cores - others, ceiling)


def configure_threads(n: int | None = None) -> int:
    """Use ``n`` CPU threads (default: ``thread_budget()``)."""
    if n is None:
        n = thread_budget()
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> None:
    """Seed torch's CPU and CUDA generators (model init, noise, data order)."""
    torch.manual_seed(seed)


def describe_device(device: torch.device) -> str:
    """Human-readable device name, e.g. 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with n torch threads on this thread, then restore the previous count.

    For interactive decodes (1 to a few hundred images): on cores that a
    training or other users keep busy, every OpenMP region waits for its
    slowest thread, so 2 threads were 5-20x slower than 1 (bench/generate.py
    --page-threads 2 vs 1 at load 5-6 on 2 cores). With OpenMP the count is
    per thread, but new threads inherit the last one set, hence the restore;
    core.engine sets its own count when a training starts.
    """
    old = torch.get_num_threads()
    if old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
