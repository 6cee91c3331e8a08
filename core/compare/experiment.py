"""The hybrid-vs-CNN experiment: labeled subsets, shared batches, training both models, sweeps.

Per seed: draw ``labels_per_class`` labeled images per class from the training
split (the rest of it is the unlabeled pool), then train

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
as everywhere else; the training recipe (cosine schedule per phase, loss
weights per phase, counting labeled examples) goes to the engine as
``TrainConfig.lr_schedule`` and a ``step_fn``, never by patching the model.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from ..datasets import Dataset, DatasetError, load_dataset
from ..device import seed_everything
from ..engine import Event, Sampler, StepFn, TrainConfig, TrainResult, train
from ..models import build_model
from ..models.base import Classifier
from .config import LABEL_LEVELS, MAX_STEPS, ROLES, CompareConfig
from .results import (ComparisonResult, ModelRuns, SweepResult, TrainingRecord, confusion,
                      new_comparison_id, save_model_run)

# While pre-training there is no classifier to sharpen yet: the unlabeled terms stay off.
PRETRAIN_WEIGHTS = {"entropy": 0.0, "pseudo": 0.0}


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
# report(kind, role, phase, step, losses, accuracy): _train_one's progress, turned into a Progress.
ReportFn = Callable[[str, str, str, int, dict[str, float], float | None], None]


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


# --------------------------------------------------------------------------- data


def _labeled_dataset(dataset: str | Dataset) -> Dataset:
    """The dataset, loaded if given by spec; a DatasetError if it has no labels."""
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if not ds.labeled:
        raise DatasetError(f"{ds.title} has no labels: a comparison of classifiers needs a labeled dataset")
    return ds


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


# --------------------------------------------------------------------------- training one model


def _phases(role: str, cfg: CompareConfig,
            targets: torch.Tensor) -> list[tuple[str, int, torch.Tensor, dict[str, float] | None]]:
    """(phase, steps, targets, loss weights) for each training phase of one model."""
    n_pre = cfg.pretrain_steps() if role == "hybrid" else 0
    if n_pre == 0:
        return [("train", cfg.steps, targets, None)]
    return [("pretrain", n_pre, torch.full_like(targets, -1), PRETRAIN_WEIGHTS),  # labels hidden
            ("finetune", cfg.steps - n_pre, targets, None)]


def ramp_factor(step: int, ramp_steps: int) -> float:
    """Laine & Aila's (2017) ramp-up exp(-5 (1 - t)^2), t = step / ramp_steps, reaching 1 at the end."""
    if ramp_steps <= 0 or step >= ramp_steps:
        return 1.0
    t = step / ramp_steps
    return math.exp(-5.0 * (1.0 - t) ** 2)


def _counting_step(rec: TrainingRecord, weights: dict[str, float] | None, ramp_steps: int = 0) -> StepFn:
    """A step_fn: the model's own step (with ``weights``), counting labeled examples into ``rec``.

    With ``ramp_steps`` the unlabeled terms (entropy, pseudo-labels) start near 0
    and ramp up over that many steps: early on the classifier is mostly wrong,
    and sharpening its guesses would lock them in.
    """
    done = [0]

    def step(model: Any, x: torch.Tensor, y: torch.Tensor | None, optimizers: list) -> dict[str, float]:
        if y is not None:
            rec["labeled_seen"] += int((y >= 0).sum())  # a fairness check
        w = weights
        if ramp_steps and hasattr(model, "loss_weights"):
            r = ramp_factor(done[0], ramp_steps)
            full = model.loss_weights(weights)
            w = {**full, "entropy": full["entropy"] * r, "pseudo": full["pseudo"] * r}
        done[0] += 1
        return model.train_step(x, y, optimizers, **({"weights": w} if w else {}))
    return step


def _train_one(role: str, cfg: CompareConfig, ds: Dataset, targets: torch.Tensor, sampler: Sampler,
               seed: int, x_eval: torch.Tensor, y_eval: torch.Tensor,
               report: ReportFn, stop: threading.Event) -> tuple[Classifier, TrainingRecord]:
    """Build and train one model; returns it and its record (seconds exclude the curve evaluations)."""
    seed_everything(seed)  # same seed -> same initial weights of the shared layers for both roles
    model = build_model(role, cfg.cnn_config() if role == "cnn" else cfg.hybrid_config(),
                        ds.shape, ds.n_classes)
    n_lab = int((targets >= 0).sum())
    per_epoch = steps_per_epoch(len(targets), n_lab, cfg.labeled_batch, cfg.unlabeled_batch)
    rec: TrainingRecord = {"steps": 0, "seconds": 0.0, "labeled_seen": 0, "status": "finished",
                           "reason": "", "curve": {"step": [], "accuracy": []}, "history": {}}
    every = cfg.curve_every()
    offset = 0
    for phase, n_steps, y_phase, weights in _phases(role, cfg, targets):
        eval_time = [0.0]

        def on_event(e: Event, phase: str = phase, offset: int = offset,
                     eval_time: list[float] = eval_time) -> None:
            acc = None
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
                         seed=seed, max_steps=n_steps, preview_every=0, device=cfg.device,
                         lr_schedule="cosine")  # one cosine schedule per phase
        res: TrainResult = train(model, (ds.x_train, y_phase), tc, on_event, stop, sampler,
                                 step_fn=_counting_step(rec, weights, round(cfg.ramp * n_steps)
                                                        if role == "hybrid" and weights is None else 0))
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


# --------------------------------------------------------------------------- comparisons and sweeps


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
    ds = _labeled_dataset(dataset)
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
        done: dict[str, tuple[Classifier, TrainingRecord]] = {}
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
            m.add_seed(accuracy=acc, seconds=rec["seconds"], steps=rec["steps"], labeled_seen=rec["labeled_seen"],
                       status=rec["status"], curve=rec["curve"], losses=rec["history"], predictions=pred.tolist(),
                       confusion=confusion(y_eval.tolist(), pred.tolist(), ds.n_classes), run_path=None)
            if save:
                m.run_paths[-1] = str(save_model_run(model, result, role, seed, si, rec, lab, acc, root))
            emit(Progress("model", role, "train", seed, si, len(seed_list), rec["steps"], cfg.steps,
                          (2 * si + 2) * cfg.steps / total_units, {}, acc,
                          f"{role} seed {seed}: accuracy {acc:.4f} in {rec['seconds']:.1f} s"))
    if result.status == "finished":
        result.message = f"compared on {len(seed_list)} seed(s)"
    emit(Progress("end", "", "", -1, len(result.seeds_done), len(seed_list), 0, cfg.steps,
                  1.0 if result.status == "finished" else
                  len(result.seeds_done) / len(seed_list), {}, None, result.message))
    return result


def run_sweep(dataset: str | Dataset = "mnist5k", levels: Sequence[int | None] = LABEL_LEVELS,
              seeds: Sequence[int] | int = 3, *, on_progress: ProgressFn | None = None,
              stop: threading.Event | None = None, **kwargs: Any) -> SweepResult:
    """run_comparison for each labels-per-class level (levels a class cannot fill are skipped)."""
    ds = _labeled_dataset(dataset)
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
