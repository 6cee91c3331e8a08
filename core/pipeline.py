"""What the CLI, the jobs and the benchmarks call: train a model and save it, resume one, evaluate.

``train_and_save`` = load the data, check it fits the family, build through
the registry, train with the one engine (checkpointing into the run folder
as it goes), score on the test split, save the run. ``resume_run`` continues
an interrupted run from its checkpoint. ``default_train_config`` gives a
family's training defaults from its registry entry. With ``quality_every`` > 0, a model that samples is also scored every that
many steps (core.quality, a few hundred samples): the callback then gets
extra events of kind "quality" whose ``losses`` hold fd, precision, recall
and class_coverage. With a ``defer`` list, the end-of-run sample-quality
scores (the slow part of the evaluation: a few seconds) are left out of the
saved run and appended to ``defer`` as work to do next (``score_samples``):
a job shows "Done" first and adds them to run.json a moment later.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from .checkpoints import read_checkpoint, run_state, write_checkpoint
from .datasets import Dataset, DatasetError, check_fits, load_dataset
from .device import seed_everything, usable_cores
from .engine import FORM_MIN_CHECKPOINT_S, Event, TrainConfig, TrainResult, train
from .models import RegistryModel, build_model, get_spec
from .quality import LIVE_SAMPLES, SampleScorer, sample_quality
from .store import RunError, check_out_path, new_run_id, read_meta, runs_root, save_run, update_meta
from .watch import LatentWatch, can_watch

# The approximate (optimisation) encoder costs hundreds of steps per image: a GAN's
# reconstruction score uses this many test images (and is marked "approximate").
APPROX_EVAL_IMAGES = 256
HEADER = ("model", "family", "config", "shape", "n_classes", "dataset", "train", "created")  # what a checkpoint's run.json describes


def checkpoint_seconds() -> float:
    """LATENT_LAB_CHECKPOINT_S: how often this server's trainings checkpoint (default 30 s)."""
    try:
        return float(os.environ.get("LATENT_LAB_CHECKPOINT_S", TrainConfig.checkpoint_every_s))
    except ValueError:
        return TrainConfig.checkpoint_every_s


def default_train_config(model: str, **overrides: Any) -> TrainConfig:
    """The TrainConfig a family gets when the user changes nothing (from its registry entry).

    LATENT_LAB_CHECKPOINT_S sets how often a training checkpoints (default 30 s).
    """
    return replace(TrainConfig(**get_spec(model).train_defaults, checkpoint_every_s=checkpoint_seconds()),
                   **overrides)


def form_settings(train: Any) -> TrainConfig:
    """A saved (maybe uploaded) run's "train" settings, held to the Train form's limits on this server: what
    Train again and Resume may start. ValueError, one line in words, if they are damaged or beyond them."""
    floor = min(FORM_MIN_CHECKPOINT_S, checkpoint_seconds())  # the owner's own interval is always allowed
    return TrainConfig.from_dict(train).within_form(usable_cores(), min_checkpoint_s=floor)


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
    if quality and scores_samples(model, ds):
        metrics.update(sample_quality(model, ds))
    return metrics


def scores_samples(model: RegistryModel, ds: Dataset) -> bool:
    """Whether ``evaluate`` scores the model's samples (core.quality): a model that samples, on labeled data."""
    return get_spec(model.name).can_sample and ds.labeled and ds.n_classes >= 2


def score_samples(run: str | Path, model: RegistryModel, ds: Dataset) -> dict[str, Any]:
    """The sample-quality scores of a saved run's model, merged into its run.json's metrics; returns them.

    What a job leaves until after "Done" (``train_and_save(defer=...)``). The run's other metrics stay.
    """
    scores, run = sample_quality(model, ds), Path(run)
    update_meta(run, metrics={**read_meta(run).get("metrics", {}), **scores})
    return scores


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
                   checkpoints: bool = True, replace: bool = False, watch: bool = False,
                   quality_every: int = 0, defer: list[Callable[[], Any]] | None = None,
                   ) -> tuple[Path, RegistryModel, TrainResult, dict[str, Any]]:
    """Train model ``model_name`` on ``dataset``, evaluate it on the test split, save the run.

    An existing ``path`` is refused before any work unless it is a run and ``replace`` is true.
    With ``checkpoints`` the run folder holds a checkpoint while training
    (see core.checkpoints), so an interrupted training can be resumed.
    ``watch=True`` records the latent map forming (core.watch) for a family with an
    encoder: ``on_event`` also gets its LatentEvents, and the run keeps the frames.
    With a ``defer`` list, the sample-quality scores are not in the saved run yet: their work is appended to
    it (see the module's note).
    """
    if path is not None:
        check_out_path(path, replace=replace)  # fail before training, not after
    cfg = (train_config or TrainConfig()).validate()
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    spec = get_spec(model_name)
    if spec.needs_labels:
        check_fits(ds, ds.shape, needs_labels=True, what=spec.title)
    path = Path(path) if path is not None else Path(root or runs_root()) / new_run_id(model_name, ds.spec)
    seed_everything(cfg.seed)
    model = build_model(model_name, model_config, ds.shape, ds.n_classes)
    header = {"model": model_name, "family": model.family, "config": model.config_dict(),
              "shape": list(model.shape), "n_classes": model.n_classes, "dataset": ds.spec, "train": asdict(cfg),
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
    watcher = LatentWatch.for_dataset(ds) if watch and can_watch(spec) else None
    return _finish(path, model, ds, cfg, header, on_event, stop, extra, checkpoints, None, watcher,
                   quality_every, defer)


def resume_run(path: str | Path, dataset: str | Dataset | None = None,
               on_event: Callable[[Event], None] | None = None, stop: threading.Event | None = None,
               defer: list[Callable[[], Any]] | None = None,
               ) -> tuple[Path, RegistryModel, TrainResult, dict[str, Any]]:
    """Continue an interrupted run from its checkpoint (same loss curve) and save it where it was
    (``defer`` as in ``train_and_save``)."""
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (runs_root() / path).exists():
        path = runs_root() / path
    meta = read_meta(path)
    state = run_state(meta)
    if state == "running":
        raise RunError(f"{path.name} is still training (process {meta.get('pid')}); stop it before resuming")
    if state != "interrupted":
        raise RunError(f"{path.name} is {state or 'not a checkpointed run'}: only an interrupted training can be resumed")
    loop = read_checkpoint(path)
    ds = load_dataset(dataset or meta["dataset"]) if not isinstance(dataset, Dataset) else dataset
    check_fits(ds, meta["shape"], meta["n_classes"], what="the interrupted run")
    try:
        cfg = TrainConfig.from_dict(meta.get("train", {}))
    except ValueError as e:
        raise RunError(f"{path.name} cannot be resumed: {e}") from None
    model = build_model(meta["model"], meta["config"], tuple(meta["shape"]), meta["n_classes"])
    header = {k: v for k, v in meta.items() if k not in ("status", "progress", "pid", "host", "checkpointed")}
    extra = {k: v for k, v in header.items() if k not in HEADER}  # e.g. the owner: kept in the finished run
    return _finish(path, model, ds, cfg, header, on_event, stop, extra, True, loop, defer=defer)


def _finish(path: Path, model: RegistryModel, ds: Dataset, cfg: TrainConfig, header: dict[str, Any],
            on_event: Callable[[Event], None] | None, stop: threading.Event | None,
            extra: dict[str, Any] | None, checkpoints: bool, resume: dict[str, Any] | None,
            watcher: LatentWatch | None = None, quality_every: int = 0,
            defer: list[Callable[[], Any]] | None = None) -> tuple[Path, RegistryModel, TrainResult, dict[str, Any]]:
    """Train (or continue), score on the test split and save the run at ``path``."""
    total: list[int] = []

    def checkpoint(state: dict[str, Any]) -> None:
        write_checkpoint(path, state, header, total[0] if total else 0)

    def events(e: Event) -> None:
        if not total:
            total.append(e.total_steps)
        if on_event is not None:
            on_event(e)

    events = _with_quality(model, ds, quality_every, events)
    result = train(model, ds, cfg, watcher.wrap(model, events) if watcher else events, stop,
                   checkpoint=checkpoint if checkpoints else None, resume=resume)
    approx = getattr(model, "approximate_encoder", False)  # per run: a GAN with an encoder network is fast
    later = defer is not None and scores_samples(model, ds)
    metrics = evaluate(model, ds, "test", limit=APPROX_EVAL_IMAGES if approx else None, quality=not later)
    run = save_run(model, dataset=ds.spec, train_config=asdict(cfg), result=result.to_dict(),
                   metrics=metrics, extra=extra, path=path, replace=True)  # our own folder (checked at the start)
    if watcher is not None and watcher.steps:
        watcher.frames().save(run)
    if later:
        defer.append(lambda: score_samples(run, model, ds))
    return run, model, result, metrics
