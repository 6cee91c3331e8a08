"""The work each kind of job does, as plain functions of (send, stop, **arguments).

They run inside a worker process (core.worker), or in a thread when
LATENT_LAB_JOBS=thread; ``send(item, force)`` reports progress, ``stop`` is
an event the engine checks between steps. This module is what the fork
server preloads, so it imports the heavy parts (torch, the pipeline) once.

A task may return ``Later(result, then)``: its result is reported at once (the
job ends, its page shows "Done"), and ``then`` is work it still does after that
(a training's sample-quality scores, written into its run.json); the job
hears what ``then`` returned through ``Job.after``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .compare import Progress, run_comparison, run_sweep
from .engine import Event, TrainConfig
from .pipeline import resume_run, train_and_save
from .quota import check_room

Send = Callable[..., None]


@dataclass
class Later:
    """A task's result, to report now, and the work the task does after it (see the module's note)."""

    result: Any
    then: Callable[[], Any]


def settle(result: Any) -> Any:
    """A task's whole result, with any ``Later`` work done first (where nothing can follow a report: Ray)."""
    if isinstance(result, Later):
        result.then()
        return result.result
    return result


def _plain(e: Event) -> Event:
    """The event with its preview as a numpy array: sent by value, not through shared memory."""
    return replace(e, preview=e.preview.numpy()) if e.preview is not None else e


def train_task(send: Send, stop: Any, model_name: str, model_config: dict[str, Any], dataset: Any,
               train_config: TrainConfig, root: str, extra: dict[str, Any] | None,
               resume: str | None, watch: bool = False, quality_every: int = 0) -> dict[str, Any] | Later:
    """Train (or resume) one model and save it; returns where and how it ended, and (``Later``) the sample-quality
    scores still to add to it, where the model has them."""
    def on_event(e: Event) -> None:
        send(_plain(e), force=e.kind != "step")

    if not resume:  # a new run needs room: the runs folder's and this tab's quotas (a resumed one has its folder)
        check_room(root, 0, (extra or {}).get("owner"))
    later: list[Callable[[], Any]] = []
    if resume:
        run, _, result, metrics = resume_run(resume, dataset=dataset, on_event=on_event, stop=stop, defer=later)
    else:
        run, _, result, metrics = train_and_save(model_name, model_config, dataset, train_config, on_event=on_event,
                                                 stop=stop, root=root, extra=extra, watch=watch,
                                                 quality_every=quality_every, defer=later)
    out = {"run_path": str(Path(run)), "metrics": metrics, "status": result.status, "reason": result.reason}
    return Later(out, later[0]) if later else out


def compare_task(send: Send, stop: Any, dataset: Any, labels_per_class: int | None, seeds: Any,
                 sweep_levels: list[int | None] | None, root: str, options: dict[str, Any]) -> Any:
    """A hybrid-vs-CNN comparison, or a sweep over label levels; returns its result."""
    def on_progress(p: Progress) -> None:
        send(p, force=p.kind != "step")

    common = {"on_progress": on_progress, "stop": stop, "root": root, **options}
    if sweep_levels is not None:
        return run_sweep(dataset, sweep_levels, seeds, **common)
    return run_comparison(dataset, labels_per_class, seeds, **common)


def series_task(send: Send, stop: Any, **kwargs: Any) -> Any:
    """Several trainings in turn (core.series): a what-if sweep or a contrast."""
    from .series import series_task as run_series  # core.series builds on core.jobs: imported when needed
    return run_series(send, stop, **kwargs)


def anomaly_task(send: Send, stop: Any, config: Any, benchmark: bool) -> Any:
    """Anomaly detection on one normal set, or the one-class benchmark (core.anomaly)."""
    from .anomaly import run_anomaly, run_benchmark

    def on_progress(p: Any) -> None:
        e = p.event
        if e is not None and e.preview is not None:
            p = replace(p, event=replace(e, preview=None))  # the page shows no preview: don't ship images
        send(p, force=e is None or e.kind != "step")

    if benchmark:
        return run_benchmark(config, on_progress, stop)
    return run_anomaly(config, on_progress, stop, keep_model=False)  # the page needs no model: don't ship it


TASKS: dict[str, Callable[..., Any]] = {"train": train_task, "compare": compare_task, "series": series_task,
                                        "anomaly": anomaly_task}
