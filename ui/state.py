"""Per-browser state that survives page switches and tab reloads, and cached loaders.

Streamlit's session_state dies with the tab. A reloaded tab must still find
its jobs, its current run and the Train form it was using, so each tab
carries a random handle in the URL (``?s=...``) and its durable state, a typed
``TabState``, lives in a server-side dict keyed by that handle. Different tabs get
different handles, so they never see each other's jobs or models.

The handle only says *which* tab; it proves nothing. A URL is seen by anyone
(a screenshot of the address bar, a pasted link), so a reloaded page gets its
tab back only when it also comes from the browser that made the tab: the
TabState keeps a hash of that browser's own secret (Streamlit's XSRF token,
a cookie the server set for that browser alone) and a ``?s=`` from any other
browser opens a fresh tab. What a tab owns (runs, jobs) is recorded under
``owner``, a second random id that is never sent to any browser and is
stripped from exported runs. Read-only shared things (datasets, loaded runs,
projections) are cached with st.cache_resource / st.cache_data.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from core.anomaly import AnomalyResult, BenchmarkResult
from core.compare import ComparisonResult, SweepResult
from core.datasets import DATASETS, DEFAULT_DATASET, Dataset, DatasetError, check_fits, load_dataset
from core.jobs import AnomalyJob, CompareJob, TrainJob
from core.models import DEFAULT_MODEL, ModelSpec, get_spec
from core.store import Run, RunError, load_run

from .format import plain

MAX_SESSIONS = 500


@dataclass
class TrainForm:
    """What the Train form shows: a family, its config values and the training settings."""

    model: str = DEFAULT_MODEL
    config: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # epochs, batch_size, lr, seed


@dataclass
class Selection:
    """The images last selected on the Latent space page."""

    run: str
    dataset: str
    split: str
    indices: list[int]


@dataclass
class TabState:
    """What one browser tab keeps across reloads."""

    dataset: str = DEFAULT_DATASET
    uploads: dict[str, str] = field(default_factory=dict)  # spec -> label of datasets this tab uploaded
    run_path: str | None = None
    job: TrainJob | None = None
    adopted_job: int | None = None  # id of the last job whose run became current
    form: TrainForm = field(default_factory=TrainForm)
    selection: Selection | None = None
    compare_job: CompareJob | None = None
    compare_result: ComparisonResult | SweepResult | None = None
    compare_adopted: int | None = None  # id of the last comparison job whose result was shown
    # Who the runs and jobs of this tab belong to: a random id that never leaves the server (not in the URL,
    # not in an exported run); only this tab, or an admin, may delete its runs.
    owner: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    browser: str | None = None  # hash of the secret of the browser that made this tab (see browser_key)
    last_seen: float = field(default_factory=time.time)
    series_job: Any = None  # a core.series.SeriesJob: a sweep or a contrast's trainings
    series_for: str = ""  # what started it: "sweep" or "contrast:<key>"
    side_by_side: list[str] = field(default_factory=list)  # run folders on the Side by side page
    anomaly_job: AnomalyJob | None = None
    anomaly_result: AnomalyResult | BenchmarkResult | None = None
    anomaly_adopted: int | None = None  # id of the last anomaly job whose result was shown

    @property
    def busy(self) -> bool:
        """Whether this tab's training is queued or running."""
        return bool(self.job and self.job.active)

    @property
    def working(self) -> bool:
        """Whether any job of this tab is queued or running (then it is never forgotten)."""
        return self.busy or self.series_busy or any(j is not None and j.active
                                                     for j in (self.compare_job, self.anomaly_job))

    @property
    def series_busy(self) -> bool:
        """Whether this tab's series of trainings (sweep or contrast) is queued or running."""
        return bool(self.series_job is not None and self.series_job.active)


@st.cache_resource
def _tabs() -> "OrderedDict[str, TabState]":
    return OrderedDict()


def _through_app() -> None:
    """Run this page through app.py (its sidebar, navigation and links), even on a fresh server's first link.

    With a pages/ folder beside app.py, Streamlit starts in its old multipage mode until some run has
    called st.navigation: a first visitor who opens /train directly got pages/train.py alone (no sidebar,
    no navigation titles), as did every later deep link, until someone opened Home. Switching that mode
    off and running again sends this run through app.py. A deep link is a session's first run, so only a
    first run is sent again (a later run's clicks are never dropped): once per server.
    """
    try:  # Streamlit's own flag (1.36+); without it there is nothing to leave
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    first = "_sid" not in st.session_state
    if getattr(PagesManager, "uses_pages_directory", False) and first:
        PagesManager.uses_pages_directory = False
        st.rerun()


XSRF_COOKIE = "_streamlit_xsrf"
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")  # a proxy on this machine passes on a remote browser


def browser_here() -> bool:
    """Whether this tab's browser runs on this machine: it connected over loopback, not through a proxy.

    Its drawing then shares the server's cores with a training it starts (core.jobs.job_threads). Only a
    matter of speed: a browser that claims to be here, or hides that it is, changes a job's thread count.
    """
    try:
        if st.context.ip_address is not None:
            return False
        headers = st.context.headers
        return not any(headers.get(h) for h in PROXY_HEADERS)
    except Exception:  # noqa: BLE001 - outside a browser session (a script, a bare AppTest): not here
        return False


def browser_key() -> str | None:
    """A hash of this browser's own secret (Streamlit's XSRF cookie), or None when it sent none."""
    return xsrf_secret(str(st.context.cookies.get(XSRF_COOKIE) or ""))


def xsrf_secret(raw: str) -> str | None:
    """The hash of the token in a Streamlit XSRF cookie, the same however the cookie was masked; None if no token.

    Streamlit sets that cookie for each browser (server.enableXsrfProtection, on by default) and
    sends it with the page's connection; its value is masked anew on every page load
    ("2|mask|token XOR mask|time"), so the token is unmasked first. Only a hash is kept.
    """
    parts = raw.split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)) if mask else b""
        else:
            token = raw.encode()
    except ValueError:
        return None
    return hashlib.sha256(b"latent-lab-tab:" + token).hexdigest() if len(token) >= 8 else None


def _claimed_tab(tabs: "OrderedDict[str, TabState]") -> str | None:
    """The URL's ``?s=`` handle if it names a tab this very browser made, else None (it then grants nothing)."""
    claim = st.query_params.get("s")
    t = tabs.get(claim) if claim else None
    mine = browser_key()
    if t is not None and t.browser and mine and hmac.compare_digest(t.browser, mine):
        return claim
    return None


def tab() -> TabState:
    """This tab's durable state (created on first use; its handle kept in the URL, its proof in the browser)."""
    _through_app()
    tabs = _tabs()
    sid = st.session_state.get("_sid") or _claimed_tab(tabs) or secrets.token_urlsafe(12)
    st.session_state["_sid"] = sid
    if st.query_params.get("s") != sid:
        st.query_params["s"] = sid  # navigation clears query params: put it back every run
    if sid not in tabs:
        tabs[sid] = TabState(browser=browser_key())
        _forget_idle(tabs)
    tabs.move_to_end(sid)
    t = tabs[sid]
    t.last_seen = time.time()
    _adopt_finished_job(t)
    return t


def _forget_idle(tabs: "OrderedDict[str, TabState]") -> None:
    """Release tabs unseen for LATENT_LAB_TAB_TTL_S seconds (default an hour), and the oldest beyond MAX_SESSIONS.

    A tab with a job in flight is kept. Its saved runs stay on disk, so a
    forgotten tab loses only its place on the pages, never a model.
    """
    try:
        ttl = float(os.environ.get("LATENT_LAB_TAB_TTL_S", 3600))
    except ValueError:
        ttl = 3600.0
    now = time.time()
    before = len(tabs)
    for sid in [k for k, t in tabs.items() if now - t.last_seen > ttl and not t.working]:
        del tabs[sid]
    while len(tabs) > MAX_SESSIONS:  # forget the oldest idle tabs
        old = next(iter(tabs))
        if tabs[old].working:
            tabs.move_to_end(old)
            break
        tabs.popitem(last=False)
    if len(tabs) < before:
        _give_memory_back()


def _give_memory_back() -> None:
    """After tabs were released: drop the loaded runs and return freed memory to the system.

    The run cache empties (the runs still in use load again from disk, ~0.1 s each), and glibc, which
    keeps freed heap pages for reuse, hands them back: without both, the server's resident memory
    stays at its peak after a class has left. malloc_trim is Linux/glibc only; elsewhere a no-op.
    """
    _run.clear()
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def forget_idle_tabs() -> int:
    """Run the idle-tab sweep now; returns how many tabs remain (for the load benchmark)."""
    tabs = _tabs()
    _forget_idle(tabs)
    return len(tabs)


def is_admin() -> bool:
    """Whether this tab typed the server's LATENT_LAB_ADMIN_TOKEN (Runs page, "Server owner")."""
    token = os.environ.get("LATENT_LAB_ADMIN_TOKEN", "")
    given = str(st.session_state.get("admin_token", ""))
    return bool(token) and hmac.compare_digest(token.encode(), given.encode())


def may_delete(run_meta: dict[str, Any]) -> bool:
    """Whether this tab may delete a run: its own runs, or any run with the server's admin token."""
    if is_admin():
        return True
    return bool(run_meta.get("owner")) and run_meta.get("owner") == tab().owner


@st.cache_resource(max_entries=8, show_spinner="Loading dataset...")
def _dataset(spec: str) -> Dataset:
    return load_dataset(spec)


def dataset(spec: str | None = None) -> Dataset:
    """The chosen (or given) dataset, parsed once per server; raises DatasetError with a user message.

    In the app a tab may only open registry datasets and the files it uploaded itself: any
    other spec (a path named by a run someone uploaded, another tab's upload) is refused
    without touching the file.
    """
    t = tab()
    spec = spec or t.dataset
    if not allowed_dataset(t, spec):
        raise DatasetError(f"{describe_dataset(spec)} is not available in this tab: pick a dataset in the sidebar "
                           "or upload the file there")
    return _dataset(spec)


def allowed_dataset(t: TabState, spec: str) -> bool:
    """Whether tab ``t`` may open ``spec``: a registry name, or a file this tab uploaded."""
    return spec.strip().lower() in DATASETS or spec in t.uploads


def describe_dataset(spec: str) -> str:
    """A dataset spec as text to show: a registry name as is, a file spec as its file name only."""
    kind, sep, rest = spec.partition(":")
    if sep and rest:
        return f"the file {rest.replace(chr(92), '/').rstrip('/').rsplit('/', 1)[-1][:80]!r}"
    return repr(spec[:80])


@st.cache_resource(max_entries=8, show_spinner="Loading model...")
def _run(path: str, stamp: float) -> Run:
    return load_run(path)


def cached_run(path: str | Path) -> Run:
    """A saved run, loaded once per server and shared read-only; RunError if it cannot be loaded."""
    try:
        stamp = (Path(path) / "run.json").stat().st_mtime
    except OSError as e:
        raise RunError(f"{path} is not a readable run: {e.strerror or e}") from None
    return _run(str(path), stamp)


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


def run_at(path: str | Path) -> Run | None:
    """Any saved run, loaded once and shared read-only; None if it is gone or damaged."""
    try:
        return _run(str(path), (Path(path) / "run.json").stat().st_mtime)
    except (OSError, RunError):
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


def classes_of(spec: str) -> list[str] | None:
    """A dataset's class names if it loads (cached), else None (pages then number the classes)."""
    try:
        return list(dataset(spec).classes) or None
    except DatasetError:
        return None


def run_spec(run: Run) -> ModelSpec:
    """The registry entry of a run's family."""
    return get_spec(run.meta["model"])


def run_dataset(run: Run) -> tuple[Dataset, str | None]:
    """The dataset to look at a run with: the sidebar's if it fits, else the run's own.

    Returns the dataset and a note for the user when it had to switch.
    """
    try:
        ds = dataset()
        check_fits(ds, run.model.shape)
        return ds, None
    except DatasetError:
        pass
    shape = "x".join(map(str, run.model.shape))
    if not allowed_dataset(tab(), run.dataset):  # e.g. a path named by an uploaded run: never opened
        raise DatasetError(f"This run was trained on {describe_dataset(run.dataset)}, which this tab did not "
                           f"upload, so it is not opened here. Pick a dataset of {shape} images in the sidebar, "
                           "or upload that file there.")
    try:
        own = dataset(run.dataset)
    except DatasetError as e:
        raise DatasetError(f"This run was trained on {describe_dataset(run.dataset)}, which cannot be loaded "
                           f"now: {e}") from None
    return own, (f"The sidebar dataset does not fit this model ({shape} images), so this page uses the "
                 f"run's own dataset, {own.title}.")


def show_run_dataset(run: Run) -> Dataset:
    """run_dataset for a page: shows its note, or its error and stops the page."""
    try:
        ds, note = run_dataset(run)
    except DatasetError as e:
        st.error(plain(e, 600))
        st.stop()
    if note:
        st.info(plain(note, 600))
    return ds


NEEDS = {"latent": ("is_latent", "a model with a latent space (an autoencoder or a GAN)"),
         "reconstructs": ("reconstructs", "a model that rebuilds its input (an autoencoder, a GAN or the hybrid)")}


def require_run(need: str | None = None) -> Run:
    """The current run, or a friendly pointer to Train/Runs and st.stop().

    ``need`` names a capability of the run's family ("latent", "reconstructs").
    """
    run = current_run()
    err = st.session_state.pop("_run_error", None)
    if err:
        st.error(plain(f"The current run could not be loaded: {err}", 600))
    if run is None:
        st.info("No model yet. Train one on the **Train** page (a CAE on MNIST-5k takes about "
                "20 seconds), or load a saved one on the **Runs** page.")
        c1, c2, _ = st.columns([1, 1, 3])
        c1.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        c2.page_link("pages/runs.py", label="Go to Runs", icon=":material/folder_open:")
        st.stop()
    if need is not None:
        attr, kind = NEEDS[need]
        spec = run_spec(run)
        if not getattr(spec, attr):
            st.warning(f"This page needs {kind}; the current run is {spec.noun}. Train or load another run.")
            st.stop()
    return run


MAX_LAYOUTS = 16  # projections kept in memory, server-wide (a 5,000-point layout is ~40 KB)
_LAYOUTS_LOCK = threading.Lock()


@st.cache_resource
def _layouts() -> "OrderedDict[tuple, tuple[np.ndarray, float]]":
    return OrderedDict()


def projection(key: tuple, codes: np.ndarray, method: str, dim: int, seed: int, params: tuple,
               progress: Any = None) -> tuple[np.ndarray, float]:
    """(layout, seconds it took) of the codes, computed once per ``key`` (run, dataset, split, count) and settings.

    Not st.cache_data: the fit reports progress into a bar the page owns, which a
    cache replay cannot redraw.
    """
    full = (*key, method, dim, seed, params)
    store = _layouts()
    with _LAYOUTS_LOCK:
        if full in store:
            store.move_to_end(full)
            return store[full]
    from core.projection import Projector  # scikit-learn: imported on first use, not at start-up

    proj = Projector(method, n_components=dim, random_state=seed, **dict(params))
    out = (proj.fit_transform(codes, progress=progress), float(proj.info_["seconds"]))
    with _LAYOUTS_LOCK:
        store[full] = out
        while len(store) > MAX_LAYOUTS:
            store.popitem(last=False)
    return out
