"""Watch the latent space form: a fixed probe set encoded now and then while a model trains.

The engine stays model-agnostic and unchanged: ``LatentWatch.wrap`` returns an
``on_event`` callback that, between two steps, encodes the probe images (the
first ~1,000 test images) and passes a ``LatentEvent`` (an Event with the
codes) on to the caller's callback; a job keeps them for the live view. The
snapshots are spaced densely early (the map changes most in the first steps)
and paced by a time budget: from the measured cost of one snapshot and the pace
of training, the watch plans as many snapshots as fit in ``budget`` (3.5%) of
the projected training time and re-plans after each, so the overhead stays
under 5% whatever the model and machine (a very short training still gets
MIN_FRAMES snapshots: a few seconds' work at most). Encoding is
deterministic and uses no random numbers, so the trained weights are the same
with or without a watch.

``layout`` turns the snapshots into comparable 2-D frames: a 2-D latent is
shown as it is; a larger one through one PCA fitted on the last snapshot and
applied to every earlier one. ``Frames`` are what a run keeps on disk
(``latent-watch.npz`` in the run folder) and what the pages replay.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .engine import Event

PROBE_N = 1000  # probe images (the first of the test split)
MAX_FRAMES = 40  # at most this many snapshots (plus the first), spaced densely early
MIN_FRAMES = 8  # however short the training: a few seconds' work at most
BUDGET = 0.035  # at most this fraction of the projected training time goes into snapshots
FILE = "latent-watch.npz"


@dataclass
class LatentEvent(Event):
    """An Event carrying the probe set's codes at this step (kind "latent")."""

    codes: np.ndarray | None = None  # (N, D) float32
    labels: np.ndarray | None = None  # (N,) int64, or None for unlabeled data


def candidate_steps(total: int, n: int = MAX_FRAMES) -> list[int]:
    """Steps 0..total at which a snapshot is wanted: (i/n)^1.6 spacing, dense where the map moves most."""
    raw = np.round(total * (np.arange(n + 1) / n) ** 1.6).astype(int)
    return sorted(set(int(s) for s in raw))


class LatentWatch:
    """Encodes a probe set at budgeted steps of one training; see the module docstring."""

    def __init__(self, x_probe: torch.Tensor, y_probe: torch.Tensor | None = None,
                 budget: float = BUDGET, max_frames: int = MAX_FRAMES):
        if x_probe.shape[0] < 3:
            raise ValueError("the probe set needs at least 3 images")
        self.x = x_probe
        self.labels = y_probe.numpy().astype(np.int64) if y_probe is not None else None
        self.budget, self.max_frames = budget, max_frames
        self.steps: list[int] = []
        self.codes: list[np.ndarray] = []
        self.loss: list[float] = []
        self.spent = 0.0  # seconds spent taking snapshots
        self._cost = 0.0  # seconds the last snapshot took
        self._targets: list[int] = []
        self._planned = False
        self._n = MIN_FRAMES  # frames in the current plan

    @classmethod
    def for_dataset(cls, ds: Any, n: int = PROBE_N, **kw: Any) -> "LatentWatch":
        """A watch on the first ``n`` test images of a dataset (its train split if it has no test split)."""
        x, y = ds.split("test")
        if x.shape[0] < 3:
            x, y = ds.x_train, ds.y_train
        return cls(x[:n], y[:n] if y is not None else None, **kw)

    @torch.no_grad()
    def snapshot(self, model: torch.nn.Module, step: int, loss: float) -> np.ndarray:
        """Encode the probe set now (eval mode, then back); records and returns the codes (N, D)."""
        t0 = time.perf_counter()
        was = model.training
        model.eval()
        dev = next(iter(model.parameters())).device
        z = torch.cat([model.encode(b.to(dev)).float().cpu() for b in self.x.split(500)])
        model.train(was)
        codes = z.numpy()
        self.steps.append(int(step))
        self.codes.append(codes)
        self.loss.append(float(loss))
        self._cost = time.perf_counter() - t0
        self.spent += self._cost
        return codes

    def _projected(self, e: Event) -> float:
        """Projected seconds of the whole training, snapshots excluded, from the pace so far."""
        return max(1e-9, e.elapsed - self.spent) / max(1, e.step) * e.total_steps

    def _plan(self, e: Event) -> None:
        """Choose the remaining snapshot steps: as many frames as the budget pays for, dense early."""
        n = int(self.budget * self._projected(e) / max(self._cost, 1e-6))
        self._n = n = max(MIN_FRAMES, min(self.max_frames, n))
        self._targets = [t for t in candidate_steps(e.total_steps, n) if t > e.step]

    def _due(self, e: Event) -> bool:
        """Whether this step event gets a snapshot: a planned step, and the budget still allows it."""
        if e.step == 1 and not self._planned:
            self._plan(e)
            self._planned = True
        if not self._targets or e.step < self._targets[0]:
            return False
        while self._targets and self._targets[0] <= e.step:
            self._targets.pop(0)
        # The minimum plan is always taken (spread over the whole run); a bigger one while the
        # budget lasts, keeping one snapshot's cost in reserve for the final one.
        return self._n <= MIN_FRAMES or self.spent + 2 * self._cost <= self.budget * self._projected(e)

    def wrap(self, model: torch.nn.Module,
             on_event: Callable[[Event], None] | None = None) -> Callable[[Event], None]:
        """An engine callback: snapshots at start, at planned steps and at the end, then ``on_event``."""
        emit = on_event or (lambda e: None)

        def callback(e: Event) -> None:
            emit(e)
            if e.kind == "start":
                take = True
            elif e.kind == "end":
                take = not self.steps or self.steps[-1] != e.step  # the trained model, unless just taken
            else:
                take = e.kind == "step" and self._due(e)
            if take:
                codes = self.snapshot(model, e.step, e.losses.get("loss", float("nan")))
                if e.kind == "step":
                    self._plan(e)  # better estimates of both costs now
                emit(LatentEvent(kind="latent", step=e.step, total_steps=e.total_steps, epoch=e.epoch,
                                 epochs=e.epochs, losses=dict(e.losses), elapsed=e.elapsed,
                                 codes=codes, labels=self.labels if len(self.steps) == 1 else None))

        return callback

    def frames(self) -> "Frames":
        """The recorded snapshots as comparable 2-D frames."""
        return Frames.from_codes(self.steps, self.codes, self.loss, self.labels)


# --------------------------------------------------------------------------- frames


def layout(codes: list[np.ndarray]) -> tuple[np.ndarray, str]:
    """Snapshots [(N, D)] -> (T, N, 2) frames and how: "code" (D <= 2) or "pca" (fitted on the last)."""
    if not codes:
        return np.zeros((0, 0, 2), np.float32), "code"
    stack = np.stack([np.asarray(c, np.float64) for c in codes])  # (T, N, D)
    d = stack.shape[-1]
    if d <= 2:
        xy = stack if d == 2 else np.concatenate([stack, np.zeros_like(stack)], -1)
        return xy.astype(np.float32), "code"
    from sklearn.decomposition import PCA

    last = stack[-1]
    if not np.isfinite(stack).all():
        stack = np.nan_to_num(stack, nan=0.0, posinf=0.0, neginf=0.0)
    pca = PCA(n_components=2, svd_solver="covariance_eigh").fit(np.nan_to_num(last))
    xy = pca.transform(stack.reshape(-1, d)).reshape(stack.shape[0], stack.shape[1], 2)
    return xy.astype(np.float32), "pca"


def normalised(xy: np.ndarray) -> np.ndarray:
    """Each frame centred and scaled to unit spread (one scalar per frame: shapes and aspect kept)."""
    centred = xy - xy.mean(axis=1, keepdims=True)
    spread = np.sqrt((centred ** 2).sum(-1).mean(-1))[:, None, None]  # (T, 1, 1)
    return (centred / np.where(spread > 0, spread, 1.0)).astype(np.float32)


@dataclass
class Frames:
    """A training's latent snapshots laid out in 2-D: what a run keeps and the pages replay."""

    steps: np.ndarray  # (T,) int
    xy: np.ndarray  # (T, N, 2) float32, one shared projection
    loss: np.ndarray  # (T,) training loss at each snapshot (NaN before the first step)
    labels: np.ndarray | None  # (N,) int or None
    method: str  # "code" (2-D latent, shown as it is) | "pca" (fitted on the last frame)

    @classmethod
    def from_codes(cls, steps: list[int], codes: list[np.ndarray], loss: list[float],
                   labels: np.ndarray | None) -> "Frames":
        """Lay out raw snapshots (see ``layout``)."""
        xy, method = layout(codes)
        return cls(np.asarray(steps, np.int64), xy, np.asarray(loss, np.float64), labels, method)

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def save(self, run_path: str | Path) -> Path:
        """Write ``latent-watch.npz`` into a run folder (atomically); returns its path."""
        target = Path(run_path) / FILE
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, steps=self.steps, xy=self.xy, loss=self.loss, method=np.array(self.method),
                                    labels=self.labels if self.labels is not None else np.zeros(0, np.int64))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, run_path: str | Path) -> "Frames | None":
        """The frames a run kept, or None if it has none (or the file is damaged)."""
        f = Path(run_path) / FILE
        if not f.is_file():
            return None
        try:
            with np.load(f, allow_pickle=False) as z:
                steps, xy, loss = z["steps"], z["xy"], z["loss"]
                labels, method = z["labels"], str(z["method"])
        except (OSError, ValueError, KeyError):
            return None
        if xy.ndim != 3 or xy.shape[0] != steps.shape[0] or xy.shape[2] != 2 or loss.shape != steps.shape:
            return None
        labels = labels if labels.shape == (xy.shape[1],) else None
        return cls(steps, xy.astype(np.float32), loss, labels, method)


def can_watch(spec: Any) -> bool:
    """Whether a family's latent space can be watched cheaply (a latent model with a real encoder)."""
    return bool(spec.is_latent and not spec.approximate_encoder)
