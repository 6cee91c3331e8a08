"""What the CLI, the jobs and the benchmarks call: train a model and save it, evaluate a run.

``train_and_save`` = load the data, check it fits the family, build through
the registry, train with the one engine, score on the test split, save the
run. ``default_train_config`` gives a family's training defaults from its
registry entry. With ``quality_every`` > 0, a model that samples is also
scored every that many steps (core.quality, a few hundred samples): the
callback then gets extra events of kind "quality" whose ``losses`` hold
fd, precision, recall and class_coverage.
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
from .quality import LIVE_SAMPLES, SampleScorer, sample_quality
from .store import save_run

# The approximate (optimisation) encoder costs hundreds of steps per image: a GAN's
# reconstruction score uses this many test images (and is marked "approximate").
APPROX_EVAL_IMAGES = 256


def default_train_config(model: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig a family gets when the user changes nothing (from its registry entry)."""
    return replace(TrainConfig(**get_spec(model).train_defaults), **overrides)


def evaluate(model: RegistryModel, ds: Dataset, split: str = "test", limit: int | None = None,
             quality: bool = True, iw_samples: int | None = None) -> dict[str, Any]:
    """The model's metrics on a dataset split.

    Accuracy for a classifier; reconstruction BCE/MSE for a latent model, plus
    for a VAE the negative ELBO, its parts and the IWAE bound in nats per image
    (``iw_samples`` importance samples, default the model's), and, with
    ``quality`` on a labeled dataset, the sample-quality scores of
    core.quality (samples against the training split, whatever ``split``).
    """
    x, y = ds.split(split)
    if limit is not None:
        x, y = x[:limit], (y[:limit] if y is not None else None)
    if model.family == "classifier" and y is None:
        raise DatasetError(f"{ds.title} has no labels, so a classifier cannot be evaluated on it")
    vae = callable(getattr(model, "likelihood", None))
    metrics = model.evaluate(x, y, iw_samples=iw_samples) if vae and iw_samples is not None else model.evaluate(x, y)
    if quality and get_spec(model.name).can_sample and ds.labeled and ds.n_classes >= 2:
        metrics.update(sample_quality(model, ds))
    return metrics


def _with_quality(model: RegistryModel, ds: Dataset, every: int,
                  on_event: Callable[[Event], None] | None) -> Callable[[Event], None] | None:
    """``on_event`` plus a "quality" event every ``every`` steps (scorer built now, before training)."""
    if not every or on_event is None or not get_spec(model.name).can_sample or not ds.labeled \
            or ds.n_classes < 2:
        return on_event
    scorer = SampleScorer(ds)  # trains (or loads) the feature net before the clock starts

    def emit(e: Event) -> None:
        on_event(e)
        if e.kind == "step" and (e.step % every == 0 or e.step == e.total_steps):
            q = scorer.score_model(model, LIVE_SAMPLES)
            on_event(replace(e, kind="quality", losses=q, preview=None, message=""))
    return emit


def train_and_save(model_name: str, model_config: dict[str, Any] | None, dataset: str | Dataset,
                   train_config: TrainConfig | None = None,
                   on_event: Callable[[Event], None] | None = None,
                   stop: threading.Event | None = None, root: str | Path | None = None,
                   path: str | Path | None = None, extra: dict[str, Any] | None = None,
                   quality_every: int = 0,
                   ) -> tuple[Path, RegistryModel, TrainResult, dict[str, Any]]:
    """Train model ``model_name`` on ``dataset``, evaluate it on the test split, save the run."""
    cfg = (train_config or TrainConfig()).validate()
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    spec = get_spec(model_name)
    if spec.needs_labels:
        check_fits(ds, ds.shape, needs_labels=True, what=spec.title)
    seed_everything(cfg.seed)
    model = build_model(model_name, model_config, ds.shape, ds.n_classes)
    result = train(model, ds, cfg, _with_quality(model, ds, quality_every, on_event), stop)
    slow = getattr(model, "approximate_encoder", False)  # a GAN without an encoder network
    metrics = evaluate(model, ds, "test", limit=APPROX_EVAL_IMAGES if slow else None)
    run = save_run(model, dataset=ds.spec, train_config=asdict(cfg), result=result.to_dict(),
                   metrics=metrics, extra=extra, path=path, root=root)
    return run, model, result, metrics
