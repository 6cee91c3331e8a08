"""The Runs page's table (one row per saved run, with what a user compares runs by) and its Delete popover."""
from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pandas as pd
import streamlit as st

from core.checkpoints import progress_text
from core.datasets import DatasetError
from core.device import usable_cores
from core.engine import TrainConfig
from core.jobs import Job, ceiling_minutes, live_jobs
from core.pipeline import form_settings
from core.store import RunError, delete_run, model_summary

from . import state
from .format import fmt_seconds, plain, samples_metric, short_metric
from .model_form import fill_form
from .state import TabState
from .train_view import start_training


def runs_table(runs: list[dict[str, Any]], owner: str, current: str | None) -> pd.DataFrame:
    """Rows of list_runs() metadata; ``owner`` marks this tab's runs, ``current`` its current run's folder."""
    return pd.DataFrame([{
        "run": str(m["id"]), "model": str(m["model"]), "dataset": str(m["dataset"]).split("/")[-1],
        "settings": model_summary(m, dataset=False).split(", ", 1)[-1], "result": short_metric(m.get("metrics", {})),
        "samples": samples_metric(m.get("metrics", {})),
        "status": str(m.get("status", "")), "trained": _trained(m),
        "threads": _threads(m.get("timings") or {}),
        "when": str(m.get("created", ""))[:16].replace("T", " "),
        "yours": "✓" if m.get("owner") == owner else "",
        "current": "●" if str(m["path"]) == current else ""} for m in runs])


def flight_line(m: dict[str, Any]) -> str:
    """A training in flight or interrupted, as Markdown: '**id** · CAE, latent 2, digits · interrupted at step 40
    of 90' (its run.json's words shown as text; a damaged progress is 'progress unknown', not an error)."""
    try:
        where = progress_text(m)
    except (TypeError, ValueError, AttributeError):
        where = "progress unknown"
    return f"**{plain(m['id'])}** · {plain(model_summary(m))} · {plain(where)}"


def _trained(m: dict[str, Any]) -> str:
    """How long it trained here ('' for an imported run: its time was measured elsewhere, and dropped)."""
    secs = (m.get("timings") or {}).get("train_seconds")
    return fmt_seconds(secs) if isinstance(secs, (int, float)) and not isinstance(secs, bool) else ""


def _threads(t: dict[str, Any]) -> int | None:
    """The CPU threads a run trained on (None on a GPU or for a run saved before they were recorded)."""
    n = t.get("threads")
    return n if type(n) is int and n > 0 else None


# How the Runs table shows its columns (st.dataframe's column_config).
RUNS_COLUMNS = {"threads": st.column_config.NumberColumn(
    "threads", help="CPU threads it trained on: with the same seed and settings, a run on the same count "
    "repeats to the last digit (Train's \"CPU threads\")", format="%d")}


def delete_popover(m: dict[str, Any], key: str, current: str | None, allowed: bool = True) -> None:
    """A Delete popover for run ``m`` (good or damaged), greyed out for someone else's run; deleting the
    current run (``current``, the tab's) leaves the tab without one."""
    with st.popover("Delete", icon=":material/delete:", width="stretch", disabled=not allowed,
                    help=None if allowed else "Only the tab that trained a run (or the server's owner, with the "
                    "admin token) may delete it. You can still load and download it."):
        st.write(f"Delete **{plain(m['id'])}** for good? This cannot be undone.")
        if allowed and st.button("Yes, delete it", type="primary", key=key):
            try:
                delete_run(m["path"])
            except (RunError, OSError) as e:
                st.error(plain(f"Could not delete: {e}", 600))
            else:
                if current == str(m["path"]):
                    state.set_current_run(None)
                st.rerun()


def run_settings(m: dict[str, Any]) -> TrainConfig:
    """A saved (maybe uploaded) run's training settings, held to the Train form's limits; ValueError in words."""
    return form_settings(m.get("train", {}))


def train_again(tab: TabState, m: dict[str, Any]) -> None:
    """Start a new run with run ``m``'s model, dataset, full training settings and the CPU thread count it
    trained on (what makes a seeded run repeat to the last digit); the Train page shows it."""
    try:
        ds = state.dataset(m["dataset"])  # a file this tab did not upload is refused, in words
        cfg = run_settings(m)
    except (DatasetError, ValueError) as e:
        st.error(plain(f"{m['id']} cannot be trained again: {e}", 600))
        return
    n = (m.get("timings") or {}).get("threads")
    if not cfg.threads and type(n) is int and 0 < n <= usable_cores():  # more than this server has: auto
        cfg = replace(cfg, threads=n)
    fill_form(tab, m["model"], m["config"], asdict(cfg))
    start_training(tab, m["model"], m["config"], ds, cfg, {"repeat_of": m["id"]})
    st.switch_page("pages/train.py")


def admin_panel() -> None:
    """The server owner's view (LATENT_LAB_ADMIN_TOKEN): the token box, then every job on the server, with Stop."""
    st.text_input("Admin token (lets this tab delete any run and stop any job)", type="password", key="admin_token")
    if not state.is_admin():
        st.caption("With the right token, every training and experiment running on this server is listed here, "
                   "each with a Stop button.")
        return
    jobs = live_jobs()
    limit = ceiling_minutes()
    st.caption(f"Jobs on this server: {len(jobs)}. Each stops by itself after "
               f"{limit:g} minutes (LATENT_LAB_JOB_MAX_MINUTES)." if limit > 0 else f"Jobs on this server: {len(jobs)}.")
    for job in jobs:
        c1, c2 = st.columns([4, 1])
        place = f"queued, number {job.queue_position()}" if job.state == "queued" else f"running {fmt_seconds(job.elapsed)}"
        c1.text(f"#{job.id} {job.title}: {place}" + (" (stopping)" if job.stop_event.is_set() else ""))
        c2.button("Stop", key=f"admin_stop_{job.id}", on_click=_admin_stop, args=(job,), icon=":material/stop:",
                  width="stretch", disabled=job.stop_event.is_set())


def _admin_stop(job: Job) -> None:
    """Stop anyone's job (an on_click callback): only with the admin token, checked again at the click."""
    if state.is_admin():
        job.stop("stopped by the server's owner")
