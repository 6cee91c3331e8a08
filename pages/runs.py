"""Runs: every saved model; load, download, upload, delete."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.store import RunError, delete_run, export_run, import_run, list_runs, model_summary
from ui import state
from ui.format import LIKELIHOOD_NOTE, QUALITY_NOTE, fmt_seconds, samples_metric, short_metric

st.title("Runs")
st.caption("Every training is saved here when it finishes (or is stopped). Load one to explore it "
           "on the other pages, download it as one file, or upload a run someone shared.")
tab = state.tab()
runs = list_runs()
good = [m for m in runs if "error" not in m]


if not runs:
    st.info("No runs yet. Train a model on the Train page; it appears here when it finishes.")
else:
    table = pd.DataFrame([{
        "run": m["id"], "model": m["model"], "dataset": m["dataset"].split("/")[-1],
        "settings": model_summary(m).split(", ", 1)[-1], "result": short_metric(m.get("metrics", {})),
        "samples": samples_metric(m.get("metrics", {})),
        "status": m.get("status", ""), "trained": fmt_seconds((m.get("timings") or {}).get("train_seconds")),
        "when": m.get("created", "")[:16].replace("T", " "),
        "current": "●" if str(m["path"]) == tab.run_path else ""} for m in good])
    st.dataframe(table, hide_index=True, width="stretch", key="runs_table")
    st.caption(f"{LIKELIHOOD_NOTE} {QUALITY_NOTE} Samples are P(recision), R(ecall) and the share of "
               "classes covered.")
    for m in runs:
        if "error" in m:
            st.warning(f"{m['id']}: {m['error']}")

if good:
    ids = [m["id"] for m in good]
    current = next((m["id"] for m in good if str(m["path"]) == tab.run_path), ids[0])
    pick = st.selectbox("Run", ids, index=ids.index(current), key="runs_pick")
    chosen = next(m for m in good if m["id"] == pick)
    c1, c2, c3 = st.columns(3)
    if c1.button("Make current", type="primary", key="runs_load", icon=":material/check:", width="stretch"):
        state.set_current_run(chosen["path"])
        st.toast(f"{pick} is now the current model.")
        st.rerun()
    try:
        c2.download_button("Download (.zip)", export_run(chosen["path"]), file_name=f"{pick}.zip",
                           mime="application/zip", key="runs_download", icon=":material/download:",
                           width="stretch")
    except (RunError, OSError) as e:
        c2.error(str(e))
    with c3.popover("Delete", icon=":material/delete:", width="stretch"):
        st.write(f"Delete **{pick}** for good? This cannot be undone.")
        if st.button("Yes, delete it", type="primary", key="runs_delete"):
            try:
                delete_run(chosen["path"])
            except (RunError, OSError) as e:
                st.error(f"Could not delete: {e}")
            else:
                if tab.run_path == str(chosen["path"]):
                    state.set_current_run(None)
                st.rerun()

st.divider()
st.subheader("Upload a run")
up = st.file_uploader("A run .zip downloaded from this page", type=["zip"], key="runs_upload")
if up is not None and st.session_state.get("_runs_uploaded") != (up.name, up.size):
    try:
        path = import_run(up.getvalue())
    except RunError as e:
        st.error(f"That file was refused: {e}")
    else:
        st.session_state["_runs_uploaded"] = (up.name, up.size)
        state.set_current_run(path)
        st.toast(f"Imported as {path.name} and made current.")
        st.rerun()
