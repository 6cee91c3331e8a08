"""Checkpoints of a training in flight, so a crash or a server restart loses at most ~30 s.

While a training runs, its run folder holds ``checkpoint.pt`` (the engine's
loop state: weights, optimiser state, step, data order, RNG, history) and a
``run.json`` with ``status: "running"``, the step reached and the process
that writes it. Both are replaced atomically. When training ends the
finished run replaces the folder as usual. A "running" run whose process is
gone was interrupted; ``core.pipeline.resume_run`` continues it.

Checkpoints are written with ``torch.save`` and read with
``torch.load(weights_only=True)``: tensors, numbers, strings and containers
only, never pickled code.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import socket
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from .store import META, RunError, atomic_file
from .worker import pid_alive

CHECKPOINT = "checkpoint.pt"


def write_checkpoint(path: str | Path, state: dict[str, Any], header: dict[str, Any], total_steps: int) -> None:
    """Atomically write the loop ``state`` and a "running" run.json (``header`` + progress) into ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_file(path / CHECKPOINT, buf.getvalue())
    meta = {**header, "status": "running", "progress": {"step": int(state["step"]), "total_steps": int(total_steps)},
            "pid": os.getpid(), "host": socket.gethostname(), "checkpointed": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_file(path / META, json.dumps(meta, indent=1, default=str).encode())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The loop state saved in a run folder; RunError if missing or damaged."""
    f = Path(path) / CHECKPOINT
    if not f.is_file():
        raise RunError(f"{path} has no checkpoint to resume from")
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise RunError(f"the checkpoint in {path} is damaged ({type(e).__name__}); it cannot be resumed") from None


def _alive(pid: Any, host: Any) -> bool:
    """Whether process ``pid`` on this machine still exists (another host: assume it does)."""
    if host != socket.gethostname():
        return True
    return isinstance(pid, int) and pid > 0 and pid_alive(pid)


def run_state(meta: dict[str, Any]) -> str:
    """"running" (a live process is training it), "interrupted" (its process is gone), else its status."""
    status = str(meta.get("status", ""))
    if status != "running":
        return status
    return "running" if _alive(meta.get("pid"), meta.get("host")) else "interrupted"


def progress_text(meta: dict[str, Any]) -> str:
    """'interrupted at step 1,200 of 3,000' (or 'training: step ...') for a run with a checkpoint."""
    p = meta.get("progress") or {}
    where = f"step {int(p.get('step', 0)):,} of {int(p.get('total_steps', 0)):,}"
    return f"interrupted at {where}" if run_state(meta) == "interrupted" else f"training: {where}"
