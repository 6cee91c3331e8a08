"""A series of trainings (sweep or contrast) on a page: start, stop, live progress, one rerun at the end."""
from __future__ import annotations

import streamlit as st

from core.series import Member, SeriesJob

from . import state
from .format import fmt_seconds, plain
from .live import live_snapshot

REFRESH_S = 1.0


def start_series(members: list[Member], purpose: str, train: dict, title: str, knob: str | None = None) -> None:
    """Start this tab's series job on the sidebar's dataset (an on_click callback)."""
    tab = state.tab()
    tab.series_job = SeriesJob(members, state.dataset(), train, title=title, knob=knob).start(
        state.browser_here())
    tab.series_for = purpose


def series_progress(purpose_prefix: str, key: str) -> None:
    """Progress of this tab's series while it runs (only if it was started for this page), with Stop."""
    tab = state.tab()

    @st.fragment(run_every=REFRESH_S if tab.series_busy else None)
    def live() -> None:
        job = tab.series_job
        if job is None or not tab.series_for.startswith(purpose_prefix):
            return
        s = live_snapshot(job, key)
        if s is None:
            if not job.active and job.state == "failed":
                st.error(plain(f"The trainings could not run: {job.error}", 600))
            return
        c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
        c1.progress(s["fraction"], text=f"{job.title}: {s['label']} ({s['index'] + 1} of {s['n']}) · step "
                    f"{s['step']:,}/{s['total_steps']:,} · {fmt_seconds(job.elapsed)} elapsed")
        c2.button("Stop", key=f"{key}_stop", on_click=job.stop, icon=":material/stop:", width="stretch")

    live()
