"""The part every live job fragment shares: one full rerun when the job ends, its place while it queues.

A page draws a running job in an ``st.fragment`` that reruns every REFRESH_S;
``live_snapshot`` is its first line: it returns the job's snapshot to draw, or
None when there is nothing to draw (no job, the job has ended, or it waits for
a slot, which it says).
"""
from __future__ import annotations

from typing import Any

import streamlit as st


def live_snapshot(job: Any, key: str) -> dict[str, Any] | None:
    """``job.snapshot()`` while it runs; else None, after one page rerun when it has just ended."""
    if job is None:
        return None
    flag = f"_{key}_was_active"
    if not job.active:
        if st.session_state.pop(flag, False):
            st.rerun()  # redraw the whole page (results, enabled widgets) once
        return None
    st.session_state[flag] = True
    s = job.snapshot()
    if s["state"] == "queued":
        st.info(f"Waiting for a free training slot (number {max(1, s['queue_position'])} in the queue).")
        return None
    return s
