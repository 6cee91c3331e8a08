"""The Train page's pieces that are more than layout: what became of a finished job, and its image size."""
from __future__ import annotations

import streamlit as st

from typing import Any

from core.datasets import Dataset
from core.engine import TrainConfig
from core.jobs import TrainJob
from core.models import get_spec

from . import state
from .format import LIKELIHOOD_NOTE, QUALITY_NOTE, metrics_text, plain
from .state import TabState

QUALITY_EVERY = 100  # steps between live sample-quality points for a model that shows samples
# The loss curve and preview grid, and the latent map forming, are heavier to draw than the progress line,
# and where the browser runs on the server's 2 cores its drawing is taken from the training: a 2-minute
# GAN watched live trained 24% slower than with its tab closed (129 s vs 104 s). So they redraw every
# 3 s / 6 s while a training is young (when it changes fastest; the first preset's ~8 s are all of it),
# then half as often (measured: README, "the Train page's own cost"; bench/first_minute.py times it).
CHARTS_EVERY_S = (3.0, 6.0)
MAP_EVERY_S = (6.0, 12.0)
SETTLED_S = 20.0  # a training running longer than this redraws at the slower rates


def live_phase(job: Any) -> str:
    """Where this tab's job stands for the Train page's redraws: "" (none, or ended and scored), "active"
    (queued, or running for at most SETTLED_S), "settled" (running longer) or "following" (ended, its
    sample-quality scores still to come). The page reruns whole when it changes."""
    if job is None:
        return ""
    if job.active:
        return "settled" if job.elapsed > SETTLED_S else "active"
    return "following" if job.following else ""


def redraw_every(phase: str) -> tuple[float | None, float | None]:
    """Seconds between redraws of (the charts, the latent map) in this phase; None: drawn once."""
    if phase not in ("active", "settled"):
        return None, None
    i = int(phase == "settled")
    return CHARTS_EVERY_S[i], MAP_EVERY_S[i]


def start_training(tab: TabState, model: str, config: dict[str, Any], dataset: str | Dataset, cfg: TrainConfig,
                   extra: dict[str, Any] | None = None, resume: Any = None) -> None:
    """Start this tab's training (Train's Start, a Home preset, Runs' Resume and Train again): a model that
    shows samples also draws its live sample-quality curve. A new run belongs to this tab (``extra`` adds
    to its run.json); a resumed one keeps its owner."""
    every = QUALITY_EVERY if get_spec(model).preview == "samples" else 0
    owner = None if resume else {"owner": tab.owner, **(extra or {})}
    tab.job = TrainJob(model, config, dataset, cfg, extra=owner, resume=resume, quality_every=every).start(
        state.browser_here())


def _secs(s: float) -> str:
    """0.43 -> '0.4 s', 12.3 -> '12 s' (a tiny training is not 'done in 0 s')."""
    return f"{s:.1f} s" if s < 9.95 else f"{s:.0f} s"


def train_outcome(snap: dict, is_current: bool) -> None:
    """What became of a finished job, and whether its run is the current model."""
    s, where = snap["state"], snap["run_path"]
    saved = ("Saved as a run and now the current model." if is_current else
             f"Saved as the run {plain(where.name) if where else ''}; another run is current now (see Runs).")
    # The reason as the engine or the job wrote it (it may quote a run's file); only its first letter raised,
    # so a setting it names (LATENT_LAB_JOB_MAX_MINUTES) reads as written.
    said = plain(snap["message"][:1].upper() + snap["message"][1:], 600)
    if s == "finished":
        st.success(f"Done in {_secs(snap['elapsed'])}: {metrics_text(snap['metrics'])}. {saved}")
        for key, note in (("neg_elbo", LIKELIHOOD_NOTE), ("fd", QUALITY_NOTE)):
            if key in snap["metrics"]:
                st.caption(note)
    elif s == "stopped" and where:
        st.warning(f"{said}. The model so far: {metrics_text(snap['metrics'])}. {saved}")
    elif s == "stopped":
        st.warning(f"{said}.")
    elif s == "diverged":
        st.error(f"Training diverged: {plain(snap['message'], 600)}")
    elif s == "failed":
        st.error(plain(f"Training could not run: {snap['error']}", 600))
    if s in ("finished", "stopped") and where:
        _scores_note(snap)


def _scores_note(snap: dict) -> None:
    """The sample-quality scores a job adds after "Done" (core.worker_tasks.Later): coming, or why not."""
    if snap.get("following"):
        st.caption(":material/hourglass_top: Scoring its samples (FD, precision, recall) in the background: "
                   "they join these numbers in a few seconds. You can use the model already.")
    elif snap.get("after_error"):
        st.caption(plain(f"Its sample-quality scores could not be computed: {snap['after_error']}. The model "
                         "is saved; the Runs page lists it without them.", 600))


def job_pixels(job: TrainJob) -> int:
    """Pixels per image of the job's dataset (for the loss in nats per image)."""
    shape = getattr(job.dataset, "shape", None) or state.dataset(job.dataset).shape
    return int(shape[0] * shape[1] * shape[2])
