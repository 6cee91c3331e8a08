"""The Train page's pieces that are more than layout: what became of a finished job, and its image size."""
from __future__ import annotations

import streamlit as st

from core.jobs import TrainJob

from . import state
from .format import LIKELIHOOD_NOTE, QUALITY_NOTE, metrics_text


def _secs(s: float) -> str:
    """0.43 -> '0.4 s', 12.3 -> '12 s' (a tiny training is not 'done in 0 s')."""
    return f"{s:.1f} s" if s < 9.95 else f"{s:.0f} s"


def train_outcome(snap: dict, is_current: bool) -> None:
    """What became of a finished job, and whether its run is the current model."""
    s, where = snap["state"], snap["run_path"]
    saved = ("Saved as a run and now the current model." if is_current else
             f"Saved as the run {where.name if where else ''}; another run is current now (see Runs).")
    if s == "finished":
        st.success(f"Done in {_secs(snap['elapsed'])}: {metrics_text(snap['metrics'])}. {saved}")
        for key, note in (("neg_elbo", LIKELIHOOD_NOTE), ("fd", QUALITY_NOTE)):
            if key in snap["metrics"]:
                st.caption(note)
    elif s == "stopped" and where:
        st.warning(f"{snap['message'].capitalize()}. The model so far: {metrics_text(snap['metrics'])}. {saved}")
    elif s == "stopped":
        st.warning(f"{snap['message'].capitalize()}.")
    elif s == "diverged":
        st.error(f"Training diverged: {snap['message']}")
    elif s == "failed":
        st.error(f"Training could not run: {snap['error']}")


def job_pixels(job: TrainJob) -> int:
    """Pixels per image of the job's dataset (for the loss in nats per image)."""
    shape = getattr(job.dataset, "shape", None) or state.dataset(job.dataset).shape
    return int(shape[0] * shape[1] * shape[2])
