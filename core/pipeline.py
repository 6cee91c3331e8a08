"""What the CLI, the jobs and the benchmarks call: train a model and save it, evaluate a run.

``train_and_save`` = load the data, check it fits the family, build through
the registry, train with the one engine, score on the test split, save the
run. ``default_train_config`` gives a family's training defaults from its
registry entry.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from .datasets import Dataset, DatasetError, check_fits, load_dataset
from .device import seed_everything
from .engine import Event, TrainConfig, TrainResult, train
from .models import RegistryModel, build_model, get_spec
from .store import save_run
from .watch import LatentWatch, can_watch

# The approximate (optimisation) encoder costs hundreds of steps per image: a GAN's
# reconstruction score uses this many test images (and is marked "approximate").
APPROX_EVAL_IMAGES = 256


def default_train_config(model: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig a family gets when the user changes nothing (from its registry entry)."""
    return replace(TrainConfig(**get_spec(model).train_defaults), **overrides)


def evaluate(model: RegistryModel, ds: Dataset, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """The model's metrics on a dataset split (accuracy, or reconstruction BCE/MSE)."""
    x, y = ds.split(split)
    if limit is not None:
        x, y = x[:limit], (y[:limit] if y is not None else None)
    if model.family == "classifier" and y is None:
        raise DatasetError(f"{ds.title} has no labels, so a classifier cannot be evaluated on it")
    return model.evaluate(x, y)


def train_and_save(model_name: str, model_config: dict[str, Any] | None, dataset: str | Dataset,
                   train_config: TrainConfig | None = None,
                   on_event: Callable[[Event], None] | None = None,
                   stop: threading.Event | None = None, root: str | Path | None = None,
                   path: str | Path | None = None, extra: dict[str, Any] | None = None,
                   watch: bool = False) -> tuple[Path, RegistryModel, TrainResult, dict[str, Any]]:
    """Train model ``model_name`` on ``dataset``, evaluate it on the test split, save the run.

    ``watch=True`` records the latent map forming (core.watch) for a family with an
    encoder: ``on_event`` also gets its LatentEvents, and the run keeps the frames.
    """
    cfg = (train_config or TrainConfig()).validate()
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    spec = get_spec(model_name)
    if spec.needs_labels:
        check_fits(ds, ds.shape, needs_labels=True, what=spec.title)
    seed_everything(cfg.seed)
    model = build_model(model_name, model_config, ds.shape, ds.n_classes)
    watcher = LatentWatch.for_dataset(ds) if watch and can_watch(spec) else None
    result = train(model, ds, cfg, watcher.wrap(model, on_event) if watcher else on_event, stop)
    metrics = evaluate(model, ds, "test", limit=APPROX_EVAL_IMAGES if spec.approximate_encoder else None)
    run = save_run(model, dataset=ds.spec, train_config=asdict(cfg), result=result.to_dict(),
                   metrics=metrics, extra=extra, path=path, root=root)
    if watcher is not None and watcher.steps:
        watcher.frames().save(run)
    return run, model, result, metrics
