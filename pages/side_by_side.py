"""Side by side: 2 to 4 runs with the same test images, the same map method, samples and one metrics table."""
from __future__ import annotations

import streamlit as st

from core.projection import METHOD_TITLES
from core.series import CONTRASTS, find_tagged
from core.store import list_runs
from ui import state
from ui.controls import control
from ui.series_view import series_progress, start_series
from ui.side_by_side import (common_dataset, labels_for, metrics_table, run_label, show_maps,
                             show_reconstructions, show_samples)

tab, ss = state.tab(), st.session_state
st.title("Side by side")
st.caption("Put 2 to 4 trained models next to each other: the same test images, the same kind of map, "
           "samples from each, and their numbers in one table.")

job = tab.series_job
if job is not None and not job.active and tab.series_for.startswith("contrast:") and ss.get("_sbs_adopted") != job.id:
    ss["_sbs_adopted"] = job.id  # a finished contrast: show its runs (once)
    tab.side_by_side = [r["run_path"] for r in job.rows if r["status"] == "finished"]
    ss.pop("sbs_runs", None)


def contrast(key: str) -> None:
    """Show a contrast's runs on the sidebar dataset, training the missing ones first."""
    c, spec = CONTRASTS[key], state.tab().dataset
    found = [find_tagged(m.tag, spec) for m in c.members]
    missing = [m for m, f in zip(c.members, found) if f is None]
    if missing:
        start_series(missing, f"contrast:{key}", {"epochs": int(ss.get("sbs_epochs", 8))}, f"Training for {c.title}")
        state.tab().side_by_side = [f["path"] for f in found if f is not None]
    else:
        state.tab().side_by_side = [f["path"] for f in found]
    ss.pop("sbs_runs", None)


with st.container(border=True):
    st.markdown("**One-click contrasts** on the sidebar dataset (trained once, then reused)")
    cols = st.columns([1, 1, 0.7])
    for col, c in zip(cols, CONTRASTS.values()):
        col.button(c.title, key=f"sbs_{c.key}", on_click=contrast, args=(c.key,), disabled=tab.series_busy,
                   width="stretch", icon=":material/compare_arrows:", help=c.blurb)
        col.caption(c.blurb)
    cols[2].number_input("Epochs per run", 1, 100, 8, key="sbs_epochs", disabled=tab.series_busy,
                         help="For runs a contrast has to train; fewer is faster, more is sharper.")
    series_progress("contrast:", "sbs")

runs_meta = [m for m in list_runs() if "error" not in m and m.get("family") == "latent"]
ids = [m["id"] for m in runs_meta]
by_id = {m["id"]: m for m in runs_meta}
if len(ids) < 2:
    st.info("Side by side needs at least two trained autoencoders or GANs: train them on **Train**, or press "
            "a contrast above.")
    st.stop()
picker = control("sbs_runs", choices=ids)  # first: a link's runs not on this server give way to the default
if "sbs_runs" not in ss:  # start from the contrast's runs, else the current run and the newest others
    wanted = [m["id"] for p in tab.side_by_side for m in runs_meta if m["path"] == p]
    if not wanted:
        wanted = [m["id"] for m in runs_meta if m["path"] == tab.run_path][:1]
        wanted += [i for i in ids if i not in wanted][: 2 - len(wanted)]
    ss["sbs_runs"] = wanted[:4]
pick = st.multiselect("Runs (2 to 4)", **picker,
                      format_func=lambda i: f"{run_label(by_id[i])} · {by_id[i]['dataset'].split('/')[-1]} · {i}")
runs = [r for r in (state.run_at(by_id[i]["path"]) for i in pick) if r is not None]
if len(runs) < 2:
    st.info("Pick at least two runs.")
    st.stop()
tab.side_by_side = [str(r.path) for r in runs]
ds = common_dataset(runs)
labels = labels_for(runs)

st.dataframe(metrics_table(runs, labels), hide_index=True, width="stretch", key="sbs_metrics")
st.subheader("The same test images, rebuilt by each")
px = st.select_slider("Image size (pixels on screen)", value=84, **control("sbs_px"),
                      help="Bigger for a projector at the back of a room.")
show_reconstructions(runs, labels, ds, px=px)
st.subheader("Their latent maps, drawn the same way")
method = st.radio("Method", format_func=METHOD_TITLES.get, horizontal=True, **control("sbs_method"),
                  help="PCA is instant; UMAP and t-SNE take a few seconds per run the first time.")
show_maps(runs, labels, ds, method, "sbs_map")
st.subheader("New images from each")
show_samples(runs, labels)
