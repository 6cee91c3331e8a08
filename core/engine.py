"""The one training loop, for every model in the registry.

Nothing here knows which model it trains (minGPT's trainer idea): the model
supplies ``configure_optimizers`` and ``train_step``; the loop supplies data
order, seeding, stop, divergence recovery, timing and events. What changes
over the course of training belongs to the recipe, not to the model: the
learning-rate schedule is a TrainConfig field, and a ``step_fn`` may replace
``model.train_step`` for one ``train()`` call (e.g. to pass loss weights or to
count examples), so callers never patch a model instance. The UI, the CLI,
the tests and the benchmarks differ only in the ``on_event`` callback.

Checkpoints: with a ``checkpoint`` callback the loop hands it, at most every
``TrainConfig.checkpoint_every_s`` seconds, everything needed to continue
exactly where it was (weights, optimiser state, step, position in the epoch,
the data-order generator at the epoch's start, torch's RNG, history); the
same dict given back as ``resume`` continues the same loss curve, step for
step, as if training had never stopped.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from .device import configure_threads, describe_device, job_start_threads, pick_device
from .models import RegistryModel

LR_SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
# What the Train form offers (ui/model_form.py draws its widgets from these), and so what the server trains for
# anyone: Train again and Resume of a run (which may have been uploaded) are held to the same ranges.
FORM_EPOCHS = (1, 500)
FORM_BATCH_SIZES = (16, 32, 64, 128, 256)
FORM_LEARNING_RATES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)
FORM_SEEDS = (0, 1_000_000)
FORM_PREVIEW_N = 64  # preview images per snapshot
FORM_MIN_EVERY = 5  # steps between previews (0 = only at the end) and between NaN-recovery snapshots
FORM_MIN_CHECKPOINT_S = 5.0  # seconds between checkpoints


@dataclass
class TrainConfig:
    """How to train: budget, batch, optimiser step size and schedule, seed, device."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    max_steps: int | None = None  # stop after this many steps, whatever the epochs
    preview_every: int = 50  # steps between preview images; 0 = only at the end
    preview_n: int = 16  # images in the preview batch
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "mps"
    snapshot_every: int = 25  # steps between in-memory copies for NaN recovery
    lr_schedule: str = "constant"  # "constant" | "cosine": every lr decays to 0 over this call's steps
    checkpoint_every_s: float = 30.0  # at most this often, a checkpoint callback gets the loop's state
    # CPU threads: 0 = auto (in a job's worker, its share of the cores that others leave free as it starts;
    # else the model's own count or the budget). A fixed count makes a seeded run repeat to the last digit
    # alone or beside other trainings: a conv model's floats differ around the 8th digit across counts.
    threads: int = 0

    @classmethod
    def from_dict(cls, d: Any) -> "TrainConfig":
        """A saved run's training settings (its run.json "train"); ValueError, in words, if they are not."""
        if not isinstance(d, dict):
            raise ValueError("the run's training settings are damaged (not a table of settings)")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"the run's training settings hold {', '.join(map(repr, unknown[:3]))}, which this "
                             "version does not know; the run file is damaged or from another version")
        for k, v in d.items():
            default = getattr(cls, k)
            if isinstance(default, str):
                ok = isinstance(v, str)
            elif default is None:  # max_steps: a count or none
                ok = v is None or type(v) is int
            else:  # a number: an int field takes ints only (JSON's true is not 1)
                ok = type(v) in ((int, float) if isinstance(default, float) else (int,))
            if not ok:
                raise ValueError(f"the run's training setting {k!r} is {str(v)[:40]!r}, not a valid value; the "
                                 "run file is damaged")
        return cls(**d).validate()

    def validate(self) -> "TrainConfig":
        """Raise ValueError with a plain message for out-of-range values."""
        if not 1 <= self.epochs <= 10_000:
            raise ValueError("epochs must be between 1 and 10,000")
        if not 1 <= self.batch_size <= 65_536:
            raise ValueError("batch size must be between 1 and 65,536")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("learning rate must be a positive number")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if not 0 <= self.threads <= 1024:
            raise ValueError("threads must be 0 (auto) or a count of CPU threads between 1 and 1,024")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        return self

    def within_form(self, cores: int, min_checkpoint_s: float = FORM_MIN_CHECKPOINT_S) -> "TrainConfig":
        """Raise ValueError, in words, unless these settings are what the Train form could ask for on a server
        with ``cores`` CPU threads (the form's ranges; the settings it does not show at sane values).

        ``min_checkpoint_s``: the shortest checkpoint interval allowed; a server whose owner checkpoints more
        often (LATENT_LAB_CHECKPOINT_S, core.pipeline.form_settings) must still resume its own runs.
        """
        self.validate()
        lo, hi = FORM_EPOCHS
        checks = [
            (lo <= self.epochs <= hi, f"{self.epochs:,} epochs (the Train form allows {lo} to {hi})"),
            (FORM_BATCH_SIZES[0] <= self.batch_size <= FORM_BATCH_SIZES[-1],
             f"a batch size of {self.batch_size:,} (the form allows {FORM_BATCH_SIZES[0]} to {FORM_BATCH_SIZES[-1]})"),
            (FORM_LEARNING_RATES[0] <= self.lr <= FORM_LEARNING_RATES[-1],
             f"a learning rate of {self.lr:g} (the form allows {FORM_LEARNING_RATES[0]:g} to "
             f"{FORM_LEARNING_RATES[-1]:g})"),
            (FORM_SEEDS[0] <= self.seed <= FORM_SEEDS[1], f"seed {self.seed} (the form allows {FORM_SEEDS[0]} to "
             f"{FORM_SEEDS[1]:,})"),
            (self.threads <= cores, f"{self.threads} CPU threads (this server has {cores})"),
            (self.preview_n <= FORM_PREVIEW_N, f"{self.preview_n:,} preview images (at most {FORM_PREVIEW_N})"),
            (self.preview_every == 0 or self.preview_every >= FORM_MIN_EVERY,
             f"a preview every {self.preview_every} steps (at least {FORM_MIN_EVERY}, or 0)"),
            (self.snapshot_every >= FORM_MIN_EVERY, f"a recovery snapshot every {self.snapshot_every} steps (at "
             f"least {FORM_MIN_EVERY})"),
            (self.checkpoint_every_s >= min_checkpoint_s, f"a checkpoint every {self.checkpoint_every_s:g} s "
             f"(at least {min_checkpoint_s:g})"),
            (self.device in DEVICES, f"the device {self.device[:20]!r} (one of {', '.join(DEVICES)})"),
        ]
        bad = [what for ok, what in checks if not ok]
        if bad:
            raise ValueError(f"its settings ask for {'; '.join(bad[:3])}: on this server a training stays within "
                             "the Train form's limits. Set it up on the Train page instead")
        return self


@dataclass
class Event:
    """What the loop reports: kind is "start", "step", "preview", "epoch", "stopping" or "end"."""

    kind: str
    step: int
    total_steps: int
    epoch: int
    epochs: int
    losses: dict[str, float] = field(default_factory=dict)
    images_per_sec: float = 0.0
    elapsed: float = 0.0
    preview: torch.Tensor | None = None  # (N, C, H, W) in [0, 1], on the CPU
    message: str = ""

    @property
    def progress(self) -> float:
        """Fraction done, 0..1."""
        return min(1.0, self.step / max(1, self.total_steps))

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from the pace so far."""
        if self.step <= 0:
            return None
        return self.elapsed / self.step * (self.total_steps - self.step)


@dataclass
class TrainResult:
    """How training ended, and its history."""

    status: str  # "finished" | "stopped" | "diverged"
    reason: str
    steps: int
    epochs_done: float
    seconds: float
    images_per_sec: float
    history: dict[str, list[float]]  # per logged step: "step", "epoch" and every loss part
    final_losses: dict[str, float]
    threads: int = 0  # CPU threads it trained on (0 on a GPU): a seeded run repeats exactly on the same count
    started_at: float = 0.0  # when this (part of the) loop began, epoch seconds: what came before it is set-up

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy."""
        return asdict(self)


Sampler = Callable[[int, torch.Generator], list[torch.Tensor]]
# (model, x, y, optimizers) -> loss parts as floats; the default is model.train_step(x, y, optimizers).
StepFn = Callable[[RegistryModel, torch.Tensor, torch.Tensor | None, list[torch.optim.Optimizer]],
                  dict[str, float]]


def _shuffled_batches(n: int, batch_size: int) -> Sampler:
    """Default data order: a fresh permutation per epoch, cut into batches."""
    def sample(epoch: int, gen: torch.Generator) -> list[torch.Tensor]:
        return list(torch.randperm(n, generator=gen).split(batch_size))
    return sample


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` to 0: the lr for the step after ``step`` of ``total`` steps."""
    t = min(step, total) / total
    return base * 0.5 * (1 + math.cos(math.pi * t))


def train(model: RegistryModel, data: Any, config: TrainConfig | None = None,
          on_event: Callable[[Event], None] | None = None,
          stop: threading.Event | None = None,
          sampler: Sampler | None = None,
          step_fn: StepFn | None = None,
          checkpoint: Callable[[dict[str, Any]], None] | None = None,
          resume: dict[str, Any] | None = None) -> TrainResult:
    """Train ``model`` on ``data`` (a core.datasets.Dataset or an (x, y) pair) in place.

    ``on_event`` gets an Event per step, per preview, per epoch and at start/end;
    ``stop`` ends training between steps. A NaN/inf loss ends training with
    status "diverged" and the last good weights restored. ``sampler(epoch, gen)``
    may replace the data order (e.g. to oversample labeled images);
    ``step_fn(model, x, y, optimizers)`` may replace ``model.train_step`` for
    each step (e.g. to pass loss weights); ``config.lr_schedule`` sets the
    learning rate of every optimiser before each step. ``checkpoint(state)``
    gets the loop's state now and then, and ``resume=state`` continues from it
    (see the module docstring).
    """
    cfg = (config or TrainConfig()).validate()
    emit = on_event or (lambda e: None)
    stop = stop or threading.Event()
    x, y = (data.x_train, data.y_train) if hasattr(data, "x_train") else data
    if x.shape[0] == 0:
        raise ValueError("there are no training images")
    device = pick_device(cfg.device)
    threads_before = torch.get_num_threads()
    fixed = cfg.threads or int((resume or {}).get("threads") or 0)
    if device.type == "cpu":
        # A fixed count as asked; a resumed auto run keeps the count it started on; else, in a job's worker,
        # the cores other processes leave free (at most the server's budget), or the model's own count or
        # the budget. Kept for the whole training: see job_start_threads.
        configure_threads(fixed or job_start_threads(model.train_threads) or model.train_threads)
    model.to(device).train()
    # Data lives on the device once; batches are index gathers (no DataLoader
    # workers: for in-memory image tensors they only add overhead).
    x = x.to(device)
    y = y.to(device) if y is not None else None
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if resume is None:
        model.fit_start(x)
    sampler = sampler or _shuffled_batches(x.shape[0], cfg.batch_size)
    steps_per_epoch = len(sampler(0, torch.Generator().manual_seed(cfg.seed)))
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    preview_x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1))[:cfg.preview_n]]

    optimizers = model.configure_optimizers(cfg.lr)
    cosine = cfg.lr_schedule == "cosine"
    base_lrs = [[g["lr"] for g in opt.param_groups] for opt in optimizers]
    good_state = copy.deepcopy(model.state_dict())
    history: dict[str, list[float]] = {"step": [], "epoch": []}
    log_every = max(1, total // 2000)  # keep at most ~2,000 history points
    step, status, reason = 0, "finished", f"trained {cfg.epochs} epoch(s)"
    losses: dict[str, float] = {}
    epoch_sums: dict[str, float] = {}
    epoch, skip, already = 0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        for opt, st in zip(optimizers, resume["optimizers"]):
            opt.load_state_dict(st)
        step, epoch, skip, already = int(resume["step"]), int(resume["epoch"]), int(resume["batch"]), resume["elapsed"]
        gen.set_state(resume["epoch_gen"])  # the data order of the epoch it stopped in
        torch.set_rng_state(resume["torch_rng"])
        history = {k: list(v) for k, v in resume["history"].items()}
        epoch_sums = dict(resume["epoch_sums"])
        good_state = copy.deepcopy(model.state_dict())
    t0 = last_ckpt = time.perf_counter() - already
    loop_started_at = time.time()

    def event(kind: str, **kw: Any) -> Event:
        elapsed = time.perf_counter() - t0
        ips = step * cfg.batch_size / elapsed if elapsed > 0 else 0.0
        return Event(kind, step, total, epoch, cfg.epochs, dict(losses), ips, elapsed, **kw)

    def preview() -> torch.Tensor:
        was = model.training
        model.eval()
        img = model.preview(preview_x).detach().float().cpu()
        model.train(was)
        return img

    def state(epoch_gen: torch.Tensor, n_batches: int) -> dict[str, Any]:
        return {"step": step, "epoch": epoch, "batch": n_batches, "epoch_gen": epoch_gen,
                "torch_rng": torch.get_rng_state(), "model": model.state_dict(),
                "optimizers": [opt.state_dict() for opt in optimizers], "history": history,
                "epoch_sums": dict(epoch_sums), "elapsed": time.perf_counter() - t0,
                "threads": torch.get_num_threads() if device.type == "cpu" else 0}

    emit(event("start", message=f"{'resuming' if resume else 'training'} {model.name} on {describe_device(device)}"))
    while step < total and status == "finished":
        n_batches, epoch_gen = skip, gen.get_state()
        if not skip:
            epoch_sums = {}
        for idx in sampler(epoch, gen)[skip:]:
            if step >= total:
                break
            if stop.is_set():
                # Who stopped it: a job's stop signal may say (the server's time limit, its owner); else the user.
                why = str(getattr(stop, "why", "") or "") or "stopped by the user"
                status, reason = "stopped", f"{why} at step {step} of {total}"
                emit(event("stopping", message=reason))  # heard: what follows (scoring, saving) is not a hang
                break
            idx = idx.to(device)
            if cosine:
                for opt, bases in zip(optimizers, base_lrs):
                    for g, base in zip(opt.param_groups, bases):
                        g["lr"] = cosine_lr(base, step, total)
            xb, yb = x[idx], y[idx] if y is not None else None
            if step_fn is None:
                losses = model.train_step(xb, yb, optimizers)
            else:
                losses = step_fn(model, xb, yb, optimizers)
            if not all(math.isfinite(v) for v in losses.values()):
                model.load_state_dict(good_state)
                bad = ", ".join(k for k, v in losses.items() if not math.isfinite(v))
                status = "diverged"
                reason = (f"the loss became {losses['loss']} ({bad}) at step {step + 1}: training "
                          "diverged, so it stopped and the last good weights were restored. "
                          "Try a smaller learning rate.")
                losses = {k: v for k, v in losses.items() if math.isfinite(v)}
                break
            step += 1
            n_batches += 1
            for k, v in losses.items():
                epoch_sums[k] = epoch_sums.get(k, 0.0) + v
            if step % cfg.snapshot_every == 0:
                good_state = copy.deepcopy(model.state_dict())
            if step % log_every == 0 or step == total:
                history["step"].append(step)
                history["epoch"].append(epoch + n_batches / steps_per_epoch)
                for k, v in losses.items():
                    history.setdefault(k, []).append(v)
            emit(event("step"))
            if cfg.preview_every and step % cfg.preview_every == 0:
                emit(event("preview", preview=preview()))
            if checkpoint is not None and time.perf_counter() - last_ckpt >= cfg.checkpoint_every_s:
                checkpoint(state(epoch_gen, n_batches))
                last_ckpt = time.perf_counter()
        else:
            epoch += 1
            means = {k: v / max(1, n_batches) for k, v in epoch_sums.items()}
            emit(event("epoch", message=f"epoch {epoch}: " +
                       ", ".join(f"{k} {v:.4f}" for k, v in means.items())))
            skip = 0
            continue
        if status == "finished":  # inner loop hit max_steps
            epoch += n_batches / steps_per_epoch
            break

    model.fit_end(x)
    model.eval()
    seconds = time.perf_counter() - t0
    if status == "finished" and cfg.max_steps is not None and step >= cfg.max_steps:
        reason = f"trained {step} step(s)"
    final = {k: v / max(1, n_batches) for k, v in epoch_sums.items()} if epoch_sums else dict(losses)
    result = TrainResult(status, reason, step, round(step / max(1, steps_per_epoch), 3),
                         seconds, step * cfg.batch_size / seconds if seconds > 0 else 0.0,
                         history, final, torch.get_num_threads() if device.type == "cpu" else 0, loop_started_at)
    emit(event("end", preview=preview(), message=reason))
    if model.train_threads is not None or fixed:
        torch.set_num_threads(threads_before)  # a model's or a config's own count is for this training only
    return result
