"""Hybrid (AE+CNN) vs plain CNN: does an autoencoder help a classifier, and when?

The experiment, per seed: draw ``labels_per_class`` labeled images per class
from the training split (the rest of it is the unlabeled pool), then train

- the plain CNN on the labeled images only, and
- the hybrid (the same CNN whose layers are also an autoencoder's encoder) on
  all of them: cross-entropy on the labeled ones + lambda * reconstruction on
  every image, plus an optional entropy / pseudo-label term on the unlabeled.

Fairness: both models get the same architecture (front end + back end), the
same initial weights of those layers, the same optimiser and learning-rate
schedule, the same number of optimiser steps, the same batches (indices) and
the same augmentation. What differs is only what the hybrid does with the
unlabeled images in each batch (the plain CNN skips them) and, for the
"pretrain" variant, that the first part of the hybrid's steps hides all labels.
Everything trains through :func:`core.engine.train`, so progress and Stop work
as everywhere else. Each trained model is saved as a run whose metadata holds
``extra["comparison"]``, so a comparison can be listed and reloaded.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from .data import Dataset, DatasetError, load_dataset
from .device import seed_everything
from .engine import Event, Sampler, TrainConfig, TrainResult, train
from .models import build_model
from .store import list_runs, save_run

VARIANTS = ("joint", "pretrain")
LABEL_LEVELS: tuple[int | None, ...] = (1, 5, 10, 50, 100, None)  # None = all labels
ROLES = ("cnn", "hybrid")
MAX_SEEDS = 20
MAX_STEPS = 100_000

# What the page says about the method (kept here so the CLI, bench and page agree).
METHOD_TEXT = (
    "Both models share one CNN: a conv front end and a conv back end ending in a pooled code "
    "and a linear classifier. The plain CNN learns from the labeled images only. The hybrid "
    "also decodes its code back into the image, so every image, labeled or not, shapes its "
    "layers through the reconstruction loss (CE + lambda x reconstruction). With the entropy "
    "option (eta > 0) it is also pushed to make confident predictions on the unlabeled images "
    "while keeping them spread over all classes, so that it cannot collapse onto one class. "
    "With few labels the CNN has little to learn from and overfits; the unlabeled images are "
    "extra signal only the hybrid gets, so the gap is largest at about 5-10 labels per class "
    "(with one label per class every result is noisy) and closes as labels become plentiful. "
    "Honest caveat, measured on MNIST-5k with 10 labels per class (bench/hybrid.py, 3 seeds): "
    "the plain CNN reaches 90%, the hybrid 93%; without the reconstruction term (lambda = 0) "
    "the hybrid still reaches 93%, and without the entropy term (eta = 0) 89%. Most of the gain "
    "comes from the entropy term on the unlabeled images, not from reconstruction: set lambda "
    "or eta to 0 to see each part on your data.")
FAIRNESS_TEXT = (
    "Same for both: architecture and initial weights of the shared layers, optimiser (Adam, "
    "cosine learning-rate decay), number of optimiser steps, the batches drawn, the labeled "
    "images and their augmentation (random shifts and rotations). Different: the hybrid has "
    "a decoder and uses the unlabeled images in each batch, which the plain CNN skips (so a "
    "hybrid step costs more time); in the 'pretrain' variant the hybrid spends its first "
    "steps on reconstruction alone, with labels hidden.")


@dataclass
class CompareConfig:
    """Everything that defines a comparison; both models share all but the hybrid-only terms."""

    dataset: str = "mnist5k"
    labels_per_class: int | None = 10  # None = every training image labeled
    seeds: tuple[int, ...] = (0, 1, 2)
    variant: str = "joint"  # "joint" | "pretrain"
    lam: float = 1.0  # weight of the reconstruction term
    steps: int = 1000  # optimiser steps per model and seed: the budget
    labeled_batch: int = 32  # labeled images per step (oversampled when labels are few)
    unlabeled_batch: int = 64  # unlabeled images per step (the plain CNN skips them)
    lr: float = 2e-3
    # Shared architecture and augmentation (see core.models.classifiers.CNNConfig).
    widths: tuple[int, ...] = (16, 32)
    head_width: int = 64
    dropout: float = 0.3
    shift: float = 0.07  # max random shift, fraction of the image side (2 px on 28x28)
    rotate: float = 10.0  # max random rotation, degrees
    # Hybrid-only terms (see core.models.classifiers.HybridConfig).
    recon_from: str = "code"
    noise: float = 0.0
    entropy: float = 1.0  # entropy minimisation on unlabeled images; 0 = plain CE + lambda*recon
    balance: float = 1.0  # class-balance part of the entropy term (1: maximise mutual information)
    pseudo: float = 0.0
    threshold: float = 0.95
    pretrain_fraction: float = 0.3  # "pretrain": share of the steps spent on reconstruction only
    eval_every: int | None = None  # steps between learning-curve points (None: about 20 points; 0: only the end)
    eval_dataset: str | None = None  # evaluate on this dataset spec instead of the test split
    device: str = "auto"
    sweep: str | None = None  # id of the sweep this comparison belongs to, if any

    def validate(self) -> CompareConfig:
        """Raise ValueError with a plain message for out-of-range values."""
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        lpc = self.labels_per_class
        if lpc is not None and (isinstance(lpc, bool) or not isinstance(lpc, int) or lpc < 1):
            raise ValueError(f"labels per class must be a whole number >= 1 or 'all', got {lpc!r}")
        if not self.seeds or len(self.seeds) > MAX_SEEDS:
            raise ValueError(f"give between 1 and {MAX_SEEDS} seeds")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be different from each other")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"the step budget must be between 1 and {MAX_STEPS:,}")
        if self.labeled_batch < 1 or self.unlabeled_batch < 0:
            raise ValueError("labeled batch must be >= 1 and unlabeled batch >= 0")
        for name in ("lam", "noise", "entropy", "balance", "pseudo", "shift", "rotate", "dropout"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if self.eval_every is not None and self.eval_every < 0:
            raise ValueError("eval_every must be >= 0 (0 = evaluate only at the end)")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("learning rate must be a positive number")
        if self.variant == "pretrain":
            if not 0 < self.pretrain_fraction < 1:
                raise ValueError("pretrain_fraction must be between 0 and 1")
            if self.steps < 2:
                raise ValueError("the 'pretrain' variant needs a budget of at least 2 steps")
        return self

    def cnn_config(self) -> dict[str, Any]:
        """The plain CNN's model config: the shared architecture and augmentation."""
        return {"widths": list(self.widths), "head_width": self.head_width, "dropout": self.dropout,
                "shift": self.shift, "rotate": self.rotate, "decay_steps": self.steps}

    def hybrid_config(self) -> dict[str, Any]:
        """The hybrid's model config: the CNN's plus its own loss terms."""
        return {**self.cnn_config(), "lam": self.lam, "noise": self.noise, "recon_from": self.recon_from,
                "entropy": self.entropy, "balance": self.balance, "pseudo": self.pseudo,
                "threshold": self.threshold}

    def curve_every(self) -> int:
        """Steps between learning-curve evaluations (0 = only at the end)."""
        if self.eval_every is None:
            return max(1, self.steps // 20)
        return self.eval_every

    def pretrain_steps(self) -> int:
        """Steps of reconstruction-only pre-training (0 for "joint")."""
        if self.variant != "pretrain":
            return 0
        return min(self.steps - 1, max(1, round(self.steps * self.pretrain_fraction)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy."""
        d = asdict(self)
        d["seeds"], d["widths"] = list(self.seeds), list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareConfig:
        """Rebuild from ``to_dict`` output; unknown keys are ignored (older/newer runs)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("seeds", "widths"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


# --------------------------------------------------------------------------- labels and batches


def labeled_subset(y: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of ``per_class`` training images per class, drawn with ``seed`` (None = all)."""
    y = torch.as_tensor(y)
    if per_class is None:
        return torch.arange(len(y))
    if per_class < 1:
        raise ValueError(f"labels per class must be >= 1, got {per_class}")
    g = torch.Generator().manual_seed(int(seed))
    picked = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} training images, fewer than the "
                             f"{per_class} labels per class asked for; pick at most {len(idx)} or 'all'")
        picked.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picked).sort().values


def semi_supervised_targets(y: torch.Tensor, labeled: torch.Tensor) -> torch.Tensor:
    """Labels where ``labeled`` points, -1 (unlabeled) everywhere else."""
    out = torch.full_like(y, -1)
    out[labeled] = y[labeled]
    return out


def mixed_batches(labeled: torch.Tensor, unlabeled: torch.Tensor, labeled_batch: int,
                  unlabeled_batch: int) -> Sampler:
    """Engine sampler: each batch = ``labeled_batch`` labeled + ``unlabeled_batch`` unlabeled indices.

    An epoch is one pass over the unlabeled pool; labeled images are cycled
    (oversampled) to fill every batch. With no unlabeled images (all labels),
    plain shuffled batches of ``labeled_batch + unlabeled_batch``.
    """
    def sample(epoch: int, gen: torch.Generator) -> list[torch.Tensor]:
        if len(unlabeled) == 0 or unlabeled_batch == 0:
            size = labeled_batch + unlabeled_batch
            return list(labeled[torch.randperm(len(labeled), generator=gen)].split(size))
        unl = unlabeled[torch.randperm(len(unlabeled), generator=gen)].split(unlabeled_batch)
        need = len(unl) * labeled_batch
        reps = -(-need // len(labeled))
        lab = torch.cat([labeled[torch.randperm(len(labeled), generator=gen)] for _ in range(reps)])
        return [torch.cat([lb, ub]) for lb, ub in zip(lab[:need].split(labeled_batch), unl)]
    return sample


def steps_per_epoch(n_train: int, n_labeled: int, labeled_batch: int, unlabeled_batch: int) -> int:
    """Optimiser steps in one epoch of :func:`mixed_batches` (one pass over the unlabeled pool)."""
    n_unl = n_train - n_labeled
    if n_unl == 0 or unlabeled_batch == 0:
        return -(-n_labeled // (labeled_batch + unlabeled_batch))
    return -(-n_unl // unlabeled_batch)


# --------------------------------------------------------------------------- evaluation data


def eval_split(ds: Dataset, eval_dataset: str | Dataset | None = None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(x, y, spec) to score on: ds's test split, or all of another dataset of the same shape and classes."""
    if eval_dataset is None:
        if ds.y_test is None:
            raise DatasetError(f"{ds.title} has no test labels to score the models on")
        return ds.x_test, ds.y_test, f"{ds.spec} (test split)"
    ev = load_dataset(eval_dataset) if isinstance(eval_dataset, str) else eval_dataset
    if ev.spec == ds.spec:  # the same data: only its test split is unseen
        return eval_split(ds, None)
    if not ev.labeled or ev.y_test is None:
        raise DatasetError(f"the evaluation dataset {ev.title} has no labels, so accuracy cannot be measured")
    if tuple(ev.shape) != tuple(ds.shape):
        raise DatasetError(f"the evaluation dataset has {'x'.join(map(str, ev.shape))} images but the models "
                           f"are trained on {'x'.join(map(str, ds.shape))} images; they must match")
    if ev.n_classes != ds.n_classes or list(ev.classes) != list(ds.classes):
        raise DatasetError(f"the evaluation dataset's classes ({', '.join(ev.classes[:12])}) do not match the "
                           f"training classes ({', '.join(ds.classes[:12])})")
    # A different dataset: none of it was trained on, so score on all of it.
    return torch.cat([ev.x_train, ev.x_test]), torch.cat([ev.y_train, ev.y_test]), ev.spec


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> list[list[int]]:
    """K x K confusion matrix (rows: true class, columns: predicted), scikit-learn's."""
    from sklearn.metrics import confusion_matrix
    return confusion_matrix(list(y_true), list(y_pred), labels=list(range(n_classes))).tolist()


# --------------------------------------------------------------------------- results


@dataclass
class ModelRuns:
    """One model's results over the seeds (lists are per seed, in seed order)."""

    role: str  # "cnn" | "hybrid"
    accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # training time, learning-curve evaluation excluded
    steps: list[int] = field(default_factory=list)  # optimiser steps taken
    labeled_seen: list[int] = field(default_factory=list)  # labeled examples that reached the loss
    status: list[str] = field(default_factory=list)
    curves: list[dict[str, list[float]]] = field(default_factory=list)  # step, accuracy (eval set)
    losses: list[dict[str, list[float]]] = field(default_factory=list)  # engine history per step
    predictions: list[list[int]] = field(default_factory=list)
    confusion: list[list[list[int]]] = field(default_factory=list)
    run_paths: list[str | None] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """Mean accuracy over seeds (nan if none)."""
        return statistics.fmean(self.accuracy) if self.accuracy else float("nan")

    @property
    def std(self) -> float:
        """Sample standard deviation of the accuracy over seeds (0 for one seed)."""
        return statistics.stdev(self.accuracy) if len(self.accuracy) > 1 else 0.0

    @property
    def median(self) -> float:
        """Median accuracy over seeds (nan if none)."""
        return statistics.median(self.accuracy) if self.accuracy else float("nan")

    def summary(self) -> dict[str, Any]:
        """Accuracy per seed, mean, std, median and training seconds, rounded."""
        return {"accuracy": [round(a, 4) for a in self.accuracy], "mean": round(self.mean, 4),
                "std": round(self.std, 4), "median": round(self.median, 4),
                "seconds": [round(s, 1) for s in self.seconds], "steps": list(self.steps),
                "labeled_seen": list(self.labeled_seen)}


@dataclass
class ComparisonResult:
    """Both models' results on the same labeled subsets and evaluation images."""

    id: str
    config: CompareConfig
    classes: list[str]
    eval_spec: str
    y_true: list[int]
    labeled: list[list[int] | None]  # labeled training indices per seed (None = all)
    models: dict[str, ModelRuns]
    status: str = "finished"  # "finished" | "stopped"
    message: str = ""

    @property
    def seeds_done(self) -> list[int]:
        """The seeds for which both models finished."""
        return list(self.config.seeds[: len(self.models["hybrid"].accuracy)])

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON: settings and, per model, accuracy per seed, mean, std and seconds."""
        c = self.config
        return {"comparison": self.id, "status": self.status, "dataset": c.dataset, "eval": self.eval_spec,
                "labels_per_class": c.labels_per_class if c.labels_per_class is not None else "all",
                "variant": c.variant, "lam": c.lam, "entropy": c.entropy, "steps": c.steps,
                "seeds": self.seeds_done,
                **{role: m.summary() for role, m in self.models.items()}}

    def disagreements(self, seed_index: int = 0) -> dict[str, list[int]]:
        """Evaluation-image indices the hybrid gets right and the CNN wrong, and the reverse."""
        cnn = torch.tensor(self.models["cnn"].predictions[seed_index])
        hyb = torch.tensor(self.models["hybrid"].predictions[seed_index])
        y = torch.tensor(self.y_true)
        return {"hybrid_right_cnn_wrong": ((hyb == y) & (cnn != y)).nonzero().flatten().tolist(),
                "cnn_right_hybrid_wrong": ((cnn == y) & (hyb != y)).nonzero().flatten().tolist()}


@dataclass
class Progress:
    """What a comparison reports while it runs (kind: "start", "step", "eval", "model", "end")."""

    kind: str
    role: str
    phase: str  # "train" | "pretrain" | "finetune"
    seed: int
    seed_index: int
    n_seeds: int
    step: int  # optimiser steps of this model so far (all phases)
    total_steps: int  # this model's budget
    fraction: float  # of the whole comparison, 0..1
    losses: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None  # the latest evaluation of this model
    message: str = ""


ProgressFn = Callable[[Progress], None]


def new_comparison_id(dataset: str, labels_per_class: int | None) -> str:
    """A readable unique id like 'cmp-mnist5k-10pc-20261123-181502-3f2a'."""
    ds = "".join(ch if ch.isalnum() else "-" for ch in dataset.split(":")[-1].rsplit("/", 1)[-1])[:24].strip("-")
    lpc = "all" if labels_per_class is None else f"{labels_per_class}pc"
    return f"cmp-{ds or 'data'}-{lpc}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"


# --------------------------------------------------------------------------- the experiment


def _train_one(role: str, cfg: CompareConfig, ds: Dataset, targets: torch.Tensor, sampler: Sampler,
               seed: int, x_eval: torch.Tensor, y_eval: torch.Tensor,
               report: Callable[..., None], stop: threading.Event) -> tuple[Any, dict[str, Any]]:
    """Build and train one model; returns it and its record (seconds exclude the curve evaluations)."""
    seed_everything(seed)  # same seed -> same initial weights of the shared layers for both roles
    model = build_model(role, cfg.cnn_config() if role == "cnn" else cfg.hybrid_config(),
                        ds.shape, ds.n_classes)
    n_pre = cfg.pretrain_steps() if role == "hybrid" else 0
    phases = [("train", cfg.steps, targets)] if n_pre == 0 else [
        ("pretrain", n_pre, torch.full_like(targets, -1)),  # labels hidden: reconstruction only
        ("finetune", cfg.steps - n_pre, targets)]
    n_lab = int((targets >= 0).sum())
    per_epoch = steps_per_epoch(len(targets), n_lab, cfg.labeled_batch, cfg.unlabeled_batch)
    rec: dict[str, Any] = {"steps": 0, "seconds": 0.0, "labeled_seen": 0, "status": "finished",
                           "reason": "", "curve": {"step": [], "accuracy": []}, "history": {}}
    offset = 0
    for phase, n_steps, y_phase in phases:
        if phase == "pretrain":  # no classifier to sharpen yet: the unlabeled terms stay off
            saved = (model.config.entropy, model.config.pseudo)
            model.config.entropy = model.config.pseudo = 0.0
        model.set_schedule(n_steps)  # one cosine schedule per phase
        eval_time = [0.0]

        def on_event(e: Event, phase: str = phase, offset: int = offset,
                     eval_time: list[float] = eval_time) -> None:
            acc = None
            every = cfg.curve_every()
            if e.kind == "step" and every and (offset + e.step) % every == 0 and e.step < e.total_steps:
                t = time.perf_counter()
                acc = float((model.predict(x_eval) == y_eval).float().mean())
                model.train()  # predict() switched to eval mode
                rec["curve"]["step"].append(offset + e.step)
                rec["curve"]["accuracy"].append(acc)
                eval_time[0] += time.perf_counter() - t
            if e.kind in ("step", "start"):
                report("eval" if acc is not None else e.kind, role, phase, offset + e.step, e.losses, acc)

        epochs = -(-n_steps // per_epoch)
        if epochs > 10_000:
            raise ValueError(f"a budget of {n_steps} steps is more than 10,000 passes over this data; "
                             "use fewer steps or a larger dataset")
        tc = TrainConfig(epochs=epochs, batch_size=cfg.labeled_batch + cfg.unlabeled_batch, lr=cfg.lr,
                         seed=seed, max_steps=n_steps, preview_every=0, device=cfg.device)
        counter = _LabeledCounter(model)
        try:
            res: TrainResult = train(model, (ds.x_train, y_phase), tc, on_event, stop, sampler)
        finally:
            counter.detach()
        if phase == "pretrain":
            model.config.entropy, model.config.pseudo = saved
        rec["labeled_seen"] += counter.count
        rec["steps"] += res.steps
        rec["seconds"] += max(0.0, res.seconds - eval_time[0])
        for k, v in res.history.items():
            vals = [offset + s for s in v] if k == "step" else list(v)
            rec["history"].setdefault(k, []).extend(vals)
        rec["status"], rec["reason"] = res.status, res.reason
        offset += res.steps
        if res.status != "finished":
            break
    model.eval()
    return model, rec


class _LabeledCounter:
    """Wraps ``model.train_step`` to count labeled examples per step (a fairness check)."""

    def __init__(self, model: Any):
        self.model, self.count = model, 0
        self._orig = model.train_step

        def counted(x: torch.Tensor, y: torch.Tensor | None, optimizers: list) -> dict[str, float]:
            if y is not None:
                self.count += int((y >= 0).sum())
            return self._orig(x, y, optimizers)
        model.train_step = counted

    def detach(self) -> None:
        """Restore the model's own train_step."""
        self.model.__dict__.pop("train_step", None)


def run_comparison(dataset: str | Dataset = "mnist5k", labels_per_class: int | None = 10,
                   seeds: Sequence[int] | int = 3, variant: str = "joint", lam: float = 1.0,
                   steps: int | None = None, epochs: int | None = None, *,
                   on_progress: ProgressFn | None = None, stop: threading.Event | None = None,
                   eval_dataset: str | Dataset | None = None, save: bool = True,
                   root: str | Path | None = None, config: CompareConfig | None = None,
                   **options: Any) -> ComparisonResult:
    """Train the plain CNN and the hybrid on the same labeled subset for each seed, and score both.

    The budget is ``steps`` optimiser steps per model, or ``epochs`` passes over
    the unlabeled pool (over the labeled images when all are labeled). Other
    CompareConfig fields may be passed as keyword ``options`` or as ``config``.
    """
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if not ds.labeled:
        raise DatasetError(f"{ds.title} has no labels: a comparison of classifiers needs a labeled dataset")
    if ds.n_classes < 2:
        raise DatasetError(f"{ds.title} has only one class; a classifier needs at least two")
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    base = config or CompareConfig()
    unknown = sorted(set(options) - {f.name for f in fields(CompareConfig)})
    if unknown:
        raise ValueError(f"unknown comparison option(s): {', '.join(unknown)}")
    own = sorted(set(options) & {"dataset", "labels_per_class", "seeds", "variant", "lam", "steps", "eval_dataset"})
    if own:
        raise ValueError(f"pass {', '.join(own)} as run_comparison's own argument(s), not as options")
    if steps is not None and epochs is not None:
        raise ValueError("give a budget in steps or in epochs, not both")
    cfg = replace(base, dataset=ds.spec, labels_per_class=labels_per_class, seeds=seed_list,
                  variant=variant, lam=float(lam),
                  eval_dataset=eval_dataset if isinstance(eval_dataset, str) or eval_dataset is None
                  else eval_dataset.spec, **options)
    if steps is not None:
        cfg = replace(cfg, steps=int(steps))
    cfg.validate()
    x_eval, y_eval, eval_spec = eval_split(ds, eval_dataset)
    subsets = [labeled_subset(ds.y_train, labels_per_class, s) for s in seed_list]  # fail fast
    if epochs is not None:
        if epochs < 1:
            raise ValueError("epochs must be >= 1")
        per_epoch = steps_per_epoch(len(ds.y_train), len(subsets[0]), cfg.labeled_batch, cfg.unlabeled_batch)
        cfg = replace(cfg, steps=min(MAX_STEPS, int(epochs) * per_epoch)).validate()

    stop = stop or threading.Event()
    emit = on_progress or (lambda p: None)
    cid = new_comparison_id(ds.spec, labels_per_class)
    result = ComparisonResult(cid, cfg, list(ds.classes), eval_spec, y_eval.tolist(), [],
                              {r: ModelRuns(r) for r in ROLES})
    total_units = 2 * cfg.steps * len(seed_list)
    last_acc: dict[str, float | None] = {}

    for si, (seed, lab) in enumerate(zip(seed_list, subsets)):
        targets = semi_supervised_targets(ds.y_train, lab)
        is_lab = torch.zeros(len(targets), dtype=torch.bool)
        is_lab[lab] = True
        sampler = mixed_batches(lab, (~is_lab).nonzero().flatten(), cfg.labeled_batch, cfg.unlabeled_batch)
        done: dict[str, tuple[Any, dict[str, Any]]] = {}
        for ri, role in enumerate(ROLES):
            if stop.is_set():
                break

            def report(kind: str, role: str, phase: str, step: int, losses: dict[str, float],
                       acc: float | None, si: int = si, ri: int = ri, seed: int = seed) -> None:
                if acc is not None:
                    last_acc[role] = acc
                units = (2 * si + ri) * cfg.steps + step
                emit(Progress(kind, role, phase, seed, si, len(seed_list), step, cfg.steps,
                              min(1.0, units / total_units), dict(losses), last_acc.get(role)))

            last_acc[role] = None
            model, rec = _train_one(role, cfg, ds, targets, sampler, seed, x_eval, y_eval, report, stop)
            if rec["status"] == "stopped":
                break
            done[role] = (model, rec)
        if len(done) < len(ROLES):  # stopped mid-seed: keep only complete pairs
            result.status = "stopped"
            result.message = f"stopped by the user; {si} of {len(seed_list)} seed(s) completed"
            break
        result.labeled.append(None if labels_per_class is None else lab.tolist())
        for role, (model, rec) in done.items():
            pred = model.predict(x_eval)
            acc = float((pred == y_eval).float().mean())
            rec["curve"]["step"].append(rec["steps"])
            rec["curve"]["accuracy"].append(acc)
            m = result.models[role]
            m.accuracy.append(acc)
            m.seconds.append(rec["seconds"])
            m.steps.append(rec["steps"])
            m.labeled_seen.append(rec["labeled_seen"])
            m.status.append(rec["status"])
            m.curves.append(rec["curve"])
            m.losses.append(rec["history"])
            m.predictions.append(pred.tolist())
            m.confusion.append(confusion(y_eval.tolist(), pred.tolist(), ds.n_classes))
            path = None
            if save:
                path = _save(model, role, seed, si, rec, result, lab, acc, root)
            m.run_paths.append(str(path) if path else None)
            emit(Progress("model", role, "train", seed, si, len(seed_list), rec["steps"], cfg.steps,
                          (2 * si + 2) * cfg.steps / total_units, {}, acc,
                          f"{role} seed {seed}: accuracy {acc:.4f} in {rec['seconds']:.1f} s"))
    if result.status == "finished":
        result.message = f"compared on {len(seed_list)} seed(s)"
    emit(Progress("end", "", "", -1, len(result.seeds_done), len(seed_list), 0, cfg.steps,
                  1.0 if result.status == "finished" else
                  len(result.seeds_done) / len(seed_list), {}, None, result.message))
    return result


def _save(model: Any, role: str, seed: int, si: int, rec: dict[str, Any], result: ComparisonResult,
          lab: torch.Tensor, acc: float, root: str | Path | None) -> Path:
    """Save one trained model as a run, with the comparison's metadata in extra["comparison"]."""
    cfg = result.config
    meta = {"id": result.id, "role": role, "seed": seed, "seed_index": si, "config": cfg.to_dict(),
            "classes": result.classes, "eval": result.eval_spec, "accuracy": acc,
            "seconds": rec["seconds"], "steps": rec["steps"], "labeled_seen": rec["labeled_seen"],
            "curve": rec["curve"], "predictions": result.models[role].predictions[-1],
            "confusion": result.models[role].confusion[-1], "y_true": result.y_true,
            "labeled": None if cfg.labels_per_class is None else lab.tolist()}
    tc = {"steps": cfg.steps, "lr": cfg.lr, "batch_size": cfg.labeled_batch + cfg.unlabeled_batch,
          "labeled_batch": cfg.labeled_batch, "unlabeled_batch": cfg.unlabeled_batch, "seed": seed,
          "variant": cfg.variant if role == "hybrid" else "supervised"}
    res = {"status": rec["status"], "reason": rec["reason"], "history": rec["history"],
           "seconds": rec["seconds"], "steps": rec["steps"]}
    return save_run(model, dataset=cfg.dataset, train_config=tc, result=res,
                    metrics={"accuracy": acc, "n": len(result.y_true)},
                    extra={"comparison": meta}, root=root)


# --------------------------------------------------------------------------- sweep


@dataclass
class SweepResult:
    """One comparison per labels-per-class level."""

    levels: list[int | None]
    results: list[ComparisonResult]
    status: str = "finished"

    def rows(self) -> list[dict[str, Any]]:
        """Per level: labels per class and each model's mean, std, median accuracy and mean seconds."""
        out = []
        for r in self.results:
            row: dict[str, Any] = {"labels_per_class": r.config.labels_per_class
                                   if r.config.labels_per_class is not None else "all",
                                   "comparison": r.id, "seeds": r.seeds_done}
            for role, m in r.models.items():
                row[role] = {"mean": round(m.mean, 4), "std": round(m.std, 4), "median": round(m.median, 4),
                             "accuracy": [round(a, 4) for a in m.accuracy],
                             "seconds": round(statistics.fmean(m.seconds), 1) if m.seconds else None}
            out.append(row)
        return out


def run_sweep(dataset: str | Dataset = "mnist5k", levels: Sequence[int | None] = LABEL_LEVELS,
              seeds: Sequence[int] | int = 3, *, on_progress: ProgressFn | None = None,
              stop: threading.Event | None = None, **kwargs: Any) -> SweepResult:
    """run_comparison for each labels-per-class level (levels a class cannot fill are skipped)."""
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if not ds.labeled:
        raise DatasetError(f"{ds.title} has no labels: a comparison of classifiers needs a labeled dataset")
    smallest = int(torch.bincount(ds.y_train).min())
    usable = [lv for lv in levels if lv is None or lv <= smallest]
    if not usable:
        raise ValueError(f"every level asks for more labels per class than the smallest class has ({smallest})")
    stop = stop or threading.Event()
    sweep_id = new_comparison_id(ds.spec, None).replace("cmp-", "sweep-", 1)
    out = SweepResult(list(usable), [])
    for i, lv in enumerate(usable):
        if stop.is_set():
            out.status = "stopped"
            break

        def scaled(p: Progress, i: int = i) -> None:
            if on_progress is not None:
                on_progress(replace(p, fraction=(i + p.fraction) / len(usable)))

        r = run_comparison(ds, lv, seeds, on_progress=scaled, stop=stop, sweep=sweep_id, **kwargs)
        out.results.append(r)
        if r.status != "finished":
            out.status = "stopped"
            break
    return out


# --------------------------------------------------------------------------- reloading


def list_comparisons(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Saved comparisons, newest first: id, dataset, labels per class, variant, seeds, mean accuracies."""
    groups: dict[str, dict[str, Any]] = {}
    for meta in list_runs(root):
        c = meta.get("comparison")
        if not isinstance(c, dict) or "id" not in c:
            continue
        g = groups.setdefault(c["id"], {"id": c["id"], "created": meta.get("created", ""),
                                        "config": c.get("config", {}), "acc": {r: {} for r in ROLES}})
        if c.get("role") in ROLES:
            g["acc"][c["role"]][c.get("seed")] = c.get("accuracy")
        g["created"] = min(g["created"], meta.get("created", "")) or g["created"]
    out = []
    for g in groups.values():
        cfg = g["config"]
        seeds = sorted(set(g["acc"]["cnn"]) & set(g["acc"]["hybrid"]), key=lambda s: (s is None, s))
        row = {"id": g["id"], "created": g["created"], "dataset": cfg.get("dataset"), "sweep": cfg.get("sweep"),
               "labels_per_class": cfg.get("labels_per_class") if cfg.get("labels_per_class") is not None else "all",
               "variant": cfg.get("variant"), "lam": cfg.get("lam"), "steps": cfg.get("steps"), "seeds": seeds}
        for role in ROLES:
            accs = [g["acc"][role][s] for s in seeds]
            row[role] = round(statistics.fmean(accs), 4) if accs else None
        out.append(row)
    out.sort(key=lambda r: (r["created"], r["id"]), reverse=True)
    return out


def load_comparison(comparison_id: str, root: str | Path | None = None) -> ComparisonResult:
    """Rebuild a saved comparison from its runs' metadata (complete seed pairs only)."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    paths: dict[tuple[int, str], str] = {}
    for meta in list_runs(root):
        c = meta.get("comparison")
        if isinstance(c, dict) and c.get("id") == comparison_id and c.get("role") in ROLES:
            found[(int(c["seed_index"]), c["role"])] = c
            paths[(int(c["seed_index"]), c["role"])] = meta["path"]
    if not found:
        raise ValueError(f"no saved comparison {comparison_id!r}; list_comparisons() shows the saved ones")
    first = next(iter(found.values()))
    cfg = CompareConfig.from_dict(first["config"])
    result = ComparisonResult(comparison_id, cfg, list(first.get("classes", [])), first.get("eval", ""),
                              list(first.get("y_true", [])), [], {r: ModelRuns(r) for r in ROLES})
    indices = sorted({si for si, _ in found})
    complete = [si for si in indices if all((si, r) in found for r in ROLES)]
    for si in complete:
        result.labeled.append(found[(si, "cnn")].get("labeled"))
        for role in ROLES:
            c, m = found[(si, role)], result.models[role]
            m.accuracy.append(float(c["accuracy"]))
            m.seconds.append(float(c.get("seconds") or 0.0))
            m.steps.append(int(c.get("steps") or 0))
            m.labeled_seen.append(int(c.get("labeled_seen") or 0))
            m.status.append("finished")
            m.curves.append(c.get("curve", {"step": [], "accuracy": []}))
            m.losses.append({})
            m.predictions.append(list(c.get("predictions", [])))
            m.confusion.append(c.get("confusion", []))
            m.run_paths.append(paths[(si, role)])
    result.config = replace(cfg, seeds=tuple(found[(si, "cnn")]["seed"] for si in complete) or cfg.seeds)
    if len(complete) < len(cfg.seeds):
        result.status = "stopped"
        result.message = f"{len(complete)} of {len(cfg.seeds)} seed(s) were completed"
    else:
        result.message = f"reloaded {len(complete)} seed(s)"
    return result


# --------------------------------------------------------------------------- figures (plotly, no UI)

COLORS = {"cnn": "#F76707", "hybrid": "#4C6EF5"}
TITLES = {"cnn": "plain CNN", "hybrid": "AE+CNN hybrid"}


def curves_figure(curves: dict[str, list[dict[str, list[float]]]], height: int = 320) -> Any:
    """Evaluation accuracy against step: one line per model and seed (role -> list of curves)."""
    import plotly.graph_objects as go
    fig = go.Figure()
    for role, per_seed in curves.items():
        for i, c in enumerate(per_seed):
            fig.add_trace(go.Scatter(x=c.get("step", []), y=c.get("accuracy", []), mode="lines+markers",
                                     name=TITLES.get(role, role), legendgroup=role, showlegend=i == 0,
                                     line={"color": COLORS.get(role), "width": 2}, marker={"size": 4},
                                     hovertemplate=f"{TITLES.get(role, role)}, seed {i + 1}<br>step %{{x}}: "
                                                   "%{y:.1%}<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white",
                      xaxis_title="optimiser step", yaxis_title="accuracy", yaxis_tickformat=".1%",
                      legend={"orientation": "h", "y": 1.12})
    return fig


def confusion_figure(matrix: list[list[int]], classes: list[str], title: str, height: int = 360) -> Any:
    """A confusion-matrix heatmap (rows: true class, columns: predicted)."""
    import plotly.graph_objects as go
    fig = go.Figure(go.Heatmap(z=matrix, x=classes, y=classes, colorscale="Blues", showscale=False,
                               text=matrix, texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                      template="plotly_white")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def sweep_figure(rows: list[dict[str, Any]], height: int = 340) -> Any:
    """Mean accuracy (error bars: std over seeds) against labels per class, for both models."""
    import plotly.graph_objects as go
    x = [str(r["labels_per_class"]) for r in rows]
    fig = go.Figure()
    for role in ROLES:
        fig.add_trace(go.Scatter(x=x, y=[r[role]["mean"] for r in rows], name=TITLES[role], mode="lines+markers",
                                 error_y={"type": "data", "array": [r[role]["std"] for r in rows]},
                                 line={"color": COLORS[role], "width": 2}))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, template="plotly_white",
                      xaxis_title="labels per class", xaxis_type="category", yaxis_title="test accuracy",
                      yaxis_tickformat=".0%", legend={"orientation": "h", "y": 1.12})
    return fig


# --------------------------------------------------------------------------- command line


def parse_level(text: str) -> int | None:
    """Labels per class from text: '10' -> 10, 'all' -> None (an argparse type)."""
    if text.strip().lower() == "all":
        return None
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"labels per class must be a whole number or 'all', got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"labels per class must be >= 1, got {v}")
    return v


def cmd_compare(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core compare`: train both models, print a progress bar, return the JSON summary."""
    import sys

    from tqdm import tqdm
    if a.seeds < 1 or a.seeds > MAX_SEEDS:
        raise ValueError(f"--seeds must be between 1 and {MAX_SEEDS}")
    options: dict[str, Any] = {"device": a.device}
    for name in ("entropy", "balance", "pseudo", "noise", "lr"):
        if getattr(a, name) is not None:
            options[name] = getattr(a, name)
    bars: list[tqdm] = []  # made at the first report, so bad input fails without a bar

    def on_progress(p: Progress) -> None:
        if not bars:
            bars.append(tqdm(total=1000, desc="compare", unit="‰", file=sys.stderr, dynamic_ncols=True,
                             mininterval=0.5, bar_format="{l_bar}{bar}| {elapsed}<{remaining}"))
        bar = bars[0]
        bar.update(int(p.fraction * 1000) - bar.n)
        if p.kind in ("eval", "model", "start"):
            acc = f" acc {p.accuracy:.3f}" if p.accuracy is not None else ""
            bar.set_description(f"{p.role or 'done'} seed {p.seed}{acc}", refresh=False)

    seeds = list(range(a.seed_start, a.seed_start + a.seeds))
    common = {"variant": a.variant, "lam": a.lam, "steps": a.budget_steps, "epochs": a.epochs,
              "eval_dataset": a.eval_dataset, "save": not a.no_save, "root": a.root, "on_progress": on_progress,
              **options}
    try:
        if a.sweep:
            levels = a.levels or list(LABEL_LEVELS)
            sweep = run_sweep(a.dataset, levels, seeds, **common)
            out: dict[str, Any] = {"sweep": sweep.rows(), "status": sweep.status, "dataset": a.dataset,
                                   "variant": a.variant, "lam": a.lam}
        else:
            out = run_comparison(a.dataset, a.labels_per_class, seeds, **common).summary()
    finally:
        for bar in bars:
            bar.close()
    return out


def add_cli(subparsers: Any) -> None:
    """Add the `compare` sub-command to `python -m core`."""
    p = subparsers.add_parser("compare", help="hybrid (AE+CNN) vs plain CNN with few labels",
                              description="Train a plain CNN and the AE+CNN hybrid on the same labeled "
                                          "subset, per seed, and print their test accuracies as one JSON line.")
    p.add_argument("--dataset", default="mnist5k", help="dataset spec (default mnist5k)")
    p.add_argument("--labels-per-class", type=parse_level, default=10, metavar="N|all",
                   help="labeled training images per class; the rest are unlabeled (default 10)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (label draws), default 3")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--eval-dataset", help="score on this dataset spec (e.g. npz:PATH) instead of the test split")
    p.add_argument("--variant", default="joint", choices=list(VARIANTS))
    p.add_argument("--lam", type=float, default=CompareConfig.lam, help="weight of the reconstruction term")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-steps", type=int, help=f"optimiser steps per model (default {CompareConfig.steps})")
    budget.add_argument("--epochs", type=int, help="passes over the unlabeled images instead of a step budget")
    p.add_argument("--entropy", type=float, help=f"weight of entropy minimisation (default {CompareConfig.entropy})")
    p.add_argument("--balance", type=float,
                   help=f"class-balance part of the entropy term (default {CompareConfig.balance})")
    p.add_argument("--pseudo", type=float, help="weight of the pseudo-label term (default 0 = off)")
    p.add_argument("--noise", type=float, help="denoising input noise of the hybrid (default 0)")
    p.add_argument("--lr", type=float, help=f"learning rate (default {CompareConfig.lr})")
    p.add_argument("--sweep", action="store_true", help="run every labels-per-class level (1, 5, 10, 50, 100, all)")
    p.add_argument("--levels", type=parse_level, nargs="+", metavar="N|all", help="levels for --sweep")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--root", help="runs folder (default: $LATENT_LAB_HOME or ./runs)")
    p.add_argument("--no-save", action="store_true", help="do not save the trained models as runs")
    p.set_defaults(fn=cmd_compare)


# --------------------------------------------------------------------------- a job for the UI


_job_ids = iter(range(1, 1 << 62))


class CompareJob:
    """A comparison (or a sweep) in a worker thread that never touches the UI; poll ``snapshot()``."""

    def __init__(self, dataset: str | Dataset, labels_per_class: int | None = 10,
                 seeds: Sequence[int] | int = 3, *, sweep_levels: Sequence[int | None] | None = None,
                 root: str | Path | None = None, slots: Any = None, **kwargs: Any):
        from .jobs import SLOTS
        # Negative ids: the shared slots queue by id, and TrainJob ids are positive.
        self.id = -next(_job_ids)
        self.dataset, self.labels_per_class, self.seeds = dataset, labels_per_class, seeds
        self.sweep_levels = list(sweep_levels) if sweep_levels is not None else None
        self.root, self.kwargs = root, kwargs
        self.slots = slots if slots is not None else SLOTS
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self.state = "new"  # new | queued | running | finished | stopped | failed
        self.message = ""
        self.error: str | None = None
        self.result: ComparisonResult | SweepResult | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._last: Progress | None = None
        self._curves: dict[str, dict[str, list[float]]] = {r: {"step": [], "accuracy": []} for r in ROLES}
        self._thread: threading.Thread | None = None

    # -- worker side ---------------------------------------------------------
    def _on_progress(self, p: Progress) -> None:
        # Runs on the worker thread for every step: keep it cheap.
        with self._lock:
            if p.kind == "start" and p.role == "cnn":  # a new seed (or level): fresh live curves
                self._curves = {r: {"step": [], "accuracy": []} for r in ROLES}
            if p.kind in ("eval", "model") and p.role in ROLES and p.accuracy is not None:
                self._curves[p.role]["step"].append(p.step)
                self._curves[p.role]["accuracy"].append(p.accuracy)
            self._last = p
            if p.message:
                self.message = p.message

    def _work(self) -> None:
        try:
            if not self.slots.acquire(self.id, self.stop_event):
                self.state, self.message = "stopped", "cancelled while waiting in the queue"
                return
            try:
                self.state, self.started_at = "running", time.time()
                common = {"on_progress": self._on_progress, "stop": self.stop_event, "root": self.root,
                          **self.kwargs}
                if self.sweep_levels is not None:
                    self.result = run_sweep(self.dataset, self.sweep_levels, self.seeds, **common)
                else:
                    self.result = run_comparison(self.dataset, self.labels_per_class, self.seeds, **common)
                self.state = self.result.status
                if isinstance(self.result, ComparisonResult):
                    self.message = self.result.message
            finally:
                self.slots.release(self.id)
        except (DatasetError, ValueError) as e:
            self.state, self.error = "failed", str(e)
        except Exception as e:  # noqa: BLE001 - a worker must report, never die silently
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
        finally:
            self.ended_at = time.time()

    # -- UI side -------------------------------------------------------------
    def start(self) -> CompareJob:
        """Start the worker thread (queues if all training slots are busy)."""
        self.state = "queued"
        self._thread = threading.Thread(target=self._work, name=f"compare{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the comparison to stop after the current step (complete seeds are kept)."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ("queued", "running")

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the progress, for drawing."""
        with self._lock:
            p = self._last
            return {"state": self.state, "message": self.message, "error": self.error,
                    "queue_position": self.slots.position(self.id) if self.state == "queued" else 0,
                    "fraction": p.fraction if p else 0.0, "role": p.role if p else "",
                    "seed": p.seed if p else None, "seed_index": p.seed_index if p else 0,
                    "n_seeds": p.n_seeds if p else 0, "step": p.step if p else 0,
                    "total_steps": p.total_steps if p else 0, "losses": dict(p.losses) if p else {},
                    "elapsed": (self.ended_at or time.time()) - self.started_at if self.started_at else 0.0,
                    "curves": {r: {k: list(v) for k, v in c.items()} for r, c in self._curves.items()},
                    "result": self.result}
