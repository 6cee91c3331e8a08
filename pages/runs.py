"""Runs: every saved model; load, download, upload, delete. Damaged runs are listed with why and can be deleted."""
from __future__ import annotations

import functools
import os

import streamlit as st

from core.checkpoints import run_state
from core.datasets import DatasetError
from core.run_share import export_run, import_run
from core.store import RunError, list_runs
from ui import state
from ui.format import LIKELIHOOD_NOTE, QUALITY_NOTE, plain
from ui.model_form import fill_form
from ui.runs_view import RUNS_COLUMNS, admin_panel, delete_popover, flight_line, run_settings, runs_table, train_again
from ui.train_view import start_training
from ui.watch_view import show_run_watch

st.title("Runs")
st.caption("Every training is saved here when it finishes (or is stopped). Load one to explore it "
           "on the other pages, download it as one file, or upload a run someone shared.")
tab = state.tab()
runs = list_runs()  # every listed run passed the schema; a damaged one carries "error" and never hides others
good = [m for m in runs if "error" not in m and m.get("status") != "running"]
flight = [m for m in runs if "error" not in m and m.get("status") == "running"]
broken = [m for m in runs if "error" in m]


if not runs:
    st.info("No runs yet. Train a model on the Train page; it appears here when it finishes.")
elif good:
    st.dataframe(runs_table(good, tab.owner, tab.run_path), hide_index=True, width="stretch", key="runs_table",
                 column_config=RUNS_COLUMNS)
    st.caption(f"{LIKELIHOOD_NOTE} {QUALITY_NOTE} Samples are P(recision), R(ecall) and the share of "
               "classes covered.")

if flight:
    st.subheader("Trainings in flight or interrupted")
    st.caption("A training keeps a checkpoint in its run folder. If the server restarted or its worker "
               "died, the training is interrupted; Resume continues the same loss curve from there.")
    for m in flight:
        c1, c2 = st.columns([4, 1])
        c1.markdown(flight_line(m))
        if run_state(m) == "interrupted" and c2.button("Resume", key=f"resume_{m['id']}", disabled=tab.busy,
                                                       icon=":material/play_arrow:", width="stretch"):
            try:
                ds = state.dataset(m["dataset"])
                cfg = run_settings(m)  # the Train form's limits, as for Train again
            except (DatasetError, ValueError) as e:
                st.error(plain(f"{m['id']} cannot be resumed: {e}", 600))
            else:
                fill_form(tab, m["model"], m["config"], m.get("train", {}))  # the Train page shows what resumes
                start_training(tab, m["model"], m["config"], ds, cfg, resume=m["path"])
                st.switch_page("pages/train.py")

if good:
    ids = [m["id"] for m in good]
    current = next((m["id"] for m in good if str(m["path"]) == tab.run_path), ids[0])
    if st.session_state.get("_runs_pick_next") in ids:
        st.session_state["runs_pick"] = st.session_state.pop("_runs_pick_next")
    pick = st.selectbox("Run", ids, index=ids.index(current), key="runs_pick")
    chosen = next(m for m in good if m["id"] == pick)
    c1, c2, c3, c4 = st.columns(4)
    if c1.button("Make current", type="primary", key="runs_load", icon=":material/check:", width="stretch"):
        state.set_current_run(chosen["path"])
        st.toast(f"{plain(pick)} is now the current model.")
        st.rerun()
    # The zip is made on the click, not on every rerun (deflating the weights took ~0.1 s per visit).
    c2.download_button("Download (.zip)", functools.partial(export_run, chosen["path"]), file_name=f"{pick}.zip",
                       mime="application/zip", key="runs_download", icon=":material/download:",
                       width="stretch", on_click="ignore")
    if c3.button("Train again", key="runs_again", icon=":material/replay:", width="stretch", disabled=tab.busy,
                 help="A new run with exactly these settings, seed and CPU thread count: the same numbers to "
                 "the last digit on this server."):
        train_again(tab, chosen)
    with c4:
        delete_popover(chosen, "runs_delete", tab.run_path, state.may_delete(chosen))
    show_run_watch(chosen["path"], state.classes_of(chosen["dataset"]), key=f"runs_watch_{pick}")

if broken:
    st.subheader("Damaged runs")
    st.caption("These folders cannot be loaded; the reason is given for each. Deleting one removes only its run "
               "files (a folder holding anything else is left for you to sort out by hand).")
    for m in broken:
        st.warning(f"**{plain(m['id'])}**: {plain(m['error'], 600)}")
    bad_ids = [m["id"] for m in broken]
    bad_pick = st.selectbox("Damaged run", bad_ids, key="runs_bad_pick")
    c1, _ = st.columns([1, 2])
    with c1:
        delete_popover(next(m for m in broken if m["id"] == bad_pick), "runs_bad_delete", tab.run_path)

if os.environ.get("LATENT_LAB_ADMIN_TOKEN"):
    with st.expander("Server owner", expanded=state.is_admin()):
        admin_panel()

st.divider()
st.subheader("Upload a run")
up = st.file_uploader("A run .zip downloaded from this page", type=["zip"], key="runs_upload")
seen = st.session_state.get("_runs_uploaded")
if up is not None and (seen is None or seen[:2] != (up.name, up.size)):
    try:
        path = import_run(up.getvalue(), owner=tab.owner)
    except RunError as e:
        # Remembered, so the same refused file is not checked again on every rerun.
        st.session_state["_runs_uploaded"] = (up.name, up.size, f"That file was refused: {e}")
    else:
        st.session_state["_runs_uploaded"] = (up.name, up.size, None)
        state.set_current_run(path)
        st.session_state["_runs_pick_next"] = path.name  # the picker shows it too (its own choice would win)
        st.toast(f"Imported as {plain(path.name)} and made current.")
        st.rerun()
seen = st.session_state.get("_runs_uploaded")
if up is not None and seen is not None and seen[:2] == (up.name, up.size) and seen[2]:
    st.error(plain(seen[2], 600))
