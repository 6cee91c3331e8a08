"""Per-browser state that survives page switches and tab reloads, and cached loaders.

Streamlit's session_state dies with the tab. A reloaded tab must still find
its training job and its current run, so each tab carries a random id in the
URL (``?s=...``) and its durable state lives in a server-side dict keyed by
that id. Different tabs get different ids, so they never see each other's
jobs or models. Read-only shared things (datasets, loaded runs) are cached
with st.cache_resource.
"""
from __future__ import annotations

import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Any

import streamlit as st

from core.data import DEFAULT_DATASET, Dataset, DatasetError, load_dataset
from core.jobs import TrainJob
from core.store import Run, RunError, load_run

MAX_SESSIONS = 500


class TabState:
    """What one browser tab keeps across reloads."""

    def __init__(self) -> None:
        self.dataset: str = DEFAULT_DATASET
        self.uploads: dict[str, str] = {}  # spec -> label for datasets this tab uploaded
        self.run_path: str | None = None
        self.job: TrainJob | None = None
        self.adopted_job: int | None = None  # id of the last job whose run became current
        self.extra: dict[str, Any] = {}  # for feature pages (their own jobs, choices)


@st.cache_resource
def _tabs() -> "OrderedDict[str, TabState]":
    return OrderedDict()


def tab() -> TabState:
    """This tab's durable state (created on first use; id kept in the URL)."""
    sid = st.session_state.get("_sid") or st.query_params.get("s")
    if not sid or len(sid) > 64:
        sid = secrets.token_urlsafe(12)
    st.session_state["_sid"] = sid
    if st.query_params.get("s") != sid:
        st.query_params["s"] = sid  # navigation clears query params: put it back every run
    tabs = _tabs()
    if sid not in tabs:
        tabs[sid] = TabState()
        while len(tabs) > MAX_SESSIONS:  # forget the oldest idle tabs
            old = next(iter(tabs))
            if tabs[old].job is not None and tabs[old].job.active:
                tabs.move_to_end(old)
                break
            tabs.popitem(last=False)
    tabs.move_to_end(sid)
    t = tabs[sid]
    _adopt_finished_job(t)
    return t


@st.cache_resource(max_entries=8, show_spinner="Loading dataset...")
def _dataset(spec: str) -> Dataset:
    return load_dataset(spec)


def dataset(spec: str | None = None) -> Dataset:
    """The chosen (or given) dataset; raises DatasetError with a user message."""
    return _dataset(spec or tab().dataset)


@st.cache_resource(max_entries=8, show_spinner="Loading model...")
def _run(path: str, stamp: float) -> Run:
    return load_run(path)


def current_run() -> Run | None:
    """The tab's current run, loaded once and shared read-only; None if unset or gone."""
    path = tab().run_path
    if not path:
        return None
    meta = Path(path) / "run.json"
    try:
        return _run(path, meta.stat().st_mtime)
    except (OSError, RunError) as e:
        st.session_state["_run_error"] = str(e)
        tab().run_path = None
        return None


def set_current_run(path: str | Path | None) -> None:
    """Make a run folder the tab's current run."""
    tab().run_path = str(path) if path else None


def _adopt_finished_job(t: TabState) -> None:
    """When this tab's job has saved its run, make that run current (once)."""
    job = t.job
    if job is not None and not job.active and job.run_path and t.adopted_job != job.id:
        t.adopted_job = job.id
        t.run_path = str(job.run_path)


def run_dataset(run: Run) -> tuple[Dataset, str | None]:
    """The dataset to look at a run with: the sidebar's if shapes match, else the run's own.

    Returns the dataset and a note for the user when it had to switch.
    """
    want = tuple(run.model.shape)
    try:
        ds = dataset()
        if tuple(ds.shape) == want:
            return ds, None
    except DatasetError:
        pass
    try:
        own = dataset(run.dataset)
    except DatasetError as e:
        raise DatasetError(f"This run was trained on {run.dataset}, which cannot be loaded now: {e}") from None
    return own, (f"The sidebar dataset does not fit this model ({'x'.join(map(str, want))} images), "
                 f"so this page uses the run's own dataset, {own.title}.")


def show_run_dataset(run: Run) -> Dataset:
    """run_dataset for a page: shows its note, or its error and stops the page."""
    try:
        ds, note = run_dataset(run)
    except DatasetError as e:
        st.error(str(e))
        st.stop()
    if note:
        st.info(note)
    return ds


def require_run(family: str | None = None) -> Run:
    """The current run, or a friendly pointer to Train/Runs and st.stop()."""
    run = current_run()
    err = st.session_state.pop("_run_error", None)
    if err:
        st.error(f"The current run could not be loaded: {err}")
    if run is None:
        st.info("No model yet. Train one on the **Train** page (a CAE on MNIST-5k takes about "
                "20 seconds), or load a saved one on the **Runs** page.")
        c1, c2, _ = st.columns([1, 1, 3])
        c1.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        c2.page_link("pages/runs.py", label="Go to Runs", icon=":material/folder_open:")
        st.stop()
    if family is not None and run.model.family != family:
        kind = "an autoencoder or GAN" if family == "latent" else "a classifier"
        st.warning(f"This page needs {kind}; the current run is a **{run.meta['model']}**. "
                   "Train or load another run.")
        st.stop()
    return run
