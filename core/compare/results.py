"""What a comparison produces, and how it is kept: result types, saving, listing, reloading.

``ModelRuns`` holds one model's numbers over the seeds, ``ComparisonResult``
both models' on the same labeled subsets and evaluation images, and
``SweepResult`` one comparison per labels-per-class level. Their ``summary()``
and ``rows()`` are the JSON that ``python -m core compare`` prints (a
contract). Each trained model is saved as an ordinary run whose metadata holds
``extra["comparison"]``, so ``list_comparisons`` and ``load_comparison`` need
nothing but the run store.
"""
from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..store import list_runs, save_run
from .config import ROLES, CompareConfig

# One model's training on one seed, as the experiment records it: steps, seconds,
# labeled_seen, status, reason, curve ({"step", "accuracy"}) and history (engine losses).
TrainingRecord = dict[str, Any]


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> list[list[int]]:
    """K x K confusion matrix (rows: true class, columns: predicted), scikit-learn's."""
    from sklearn.metrics import confusion_matrix
    return confusion_matrix(list(y_true), list(y_pred), labels=list(range(n_classes))).tolist()


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

    def add_seed(self, *, accuracy: float, seconds: float, steps: int, labeled_seen: int, status: str,
                 curve: dict[str, list[float]], losses: dict[str, list[float]], predictions: list[int],
                 confusion: list[list[int]], run_path: str | None) -> None:
        """Append one seed's results to every list."""
        self.accuracy.append(accuracy)
        self.seconds.append(seconds)
        self.steps.append(steps)
        self.labeled_seen.append(labeled_seen)
        self.status.append(status)
        self.curves.append(curve)
        self.losses.append(losses)
        self.predictions.append(predictions)
        self.confusion.append(confusion)
        self.run_paths.append(run_path)

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


def new_comparison_id(dataset: str, labels_per_class: int | None) -> str:
    """A readable unique id like 'cmp-mnist5k-10pc-20261123-181502-3f2a'."""
    ds = "".join(ch if ch.isalnum() else "-" for ch in dataset.split(":")[-1].rsplit("/", 1)[-1])[:24].strip("-")
    lpc = "all" if labels_per_class is None else f"{labels_per_class}pc"
    return f"cmp-{ds or 'data'}-{lpc}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"


# --------------------------------------------------------------------------- saving and reloading


def save_model_run(model: Any, result: ComparisonResult, role: str, seed: int, seed_index: int,
                   rec: TrainingRecord, labeled: torch.Tensor, accuracy: float,
                   root: str | Path | None = None) -> Path:
    """Save one trained model as a run, with the comparison's metadata in extra["comparison"]."""
    cfg = result.config
    meta = {"id": result.id, "role": role, "seed": seed, "seed_index": seed_index, "config": cfg.to_dict(),
            "classes": result.classes, "eval": result.eval_spec, "accuracy": accuracy,
            "seconds": rec["seconds"], "steps": rec["steps"], "labeled_seen": rec["labeled_seen"],
            "curve": rec["curve"], "predictions": result.models[role].predictions[-1],
            "confusion": result.models[role].confusion[-1], "y_true": result.y_true,
            "labeled": None if cfg.labels_per_class is None else labeled.tolist()}
    tc = {"steps": cfg.steps, "lr": cfg.lr, "batch_size": cfg.labeled_batch + cfg.unlabeled_batch,
          "labeled_batch": cfg.labeled_batch, "unlabeled_batch": cfg.unlabeled_batch, "seed": seed,
          "variant": cfg.variant if role == "hybrid" else "supervised"}
    res = {"status": rec["status"], "reason": rec["reason"], "history": rec["history"],
           "seconds": rec["seconds"], "steps": rec["steps"]}
    return save_run(model, dataset=cfg.dataset, train_config=tc, result=res,
                    metrics={"accuracy": accuracy, "n": len(result.y_true)},
                    extra={"comparison": meta}, root=root)


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
            c = found[(si, role)]
            result.models[role].add_seed(
                accuracy=float(c["accuracy"]), seconds=float(c.get("seconds") or 0.0),
                steps=int(c.get("steps") or 0), labeled_seen=int(c.get("labeled_seen") or 0),
                status="finished", curve=c.get("curve", {"step": [], "accuracy": []}), losses={},
                predictions=list(c.get("predictions", [])), confusion=c.get("confusion", []),
                run_path=paths[(si, role)])
    result.config = replace(cfg, seeds=tuple(found[(si, "cnn")]["seed"] for si in complete) or cfg.seeds)
    if len(complete) < len(cfg.seeds):
        result.status = "stopped"
        result.message = f"{len(complete)} of {len(cfg.seeds)} seed(s) were completed"
    else:
        result.message = f"reloaded {len(complete)} seed(s)"
    return result
