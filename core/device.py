"""Where and how torch runs: device choice, thread counts, seeding.

Shared by the engine (training), the pages (interactive decodes on one thread)
and the benchmarks, so every caller picks devices and threads the same way.
"""
from __future__ import annotations

import contextlib
import os
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
