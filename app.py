"""Latent Lab: the Streamlit entry point (navigation and the shared sidebar)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.data import DATASETS, DatasetError, dataset_from_upload, is_available_offline
from core.device import describe_device, pick_device
from core.jobs import SLOTS
from core.projection import start_warm_up
from core.store import model_summary
from ui import state
from ui.widgets import metrics_text

ASSETS = Path(__file__).parent / "assets"
st.set_page_config(page_title="Latent Lab", page_icon=str(ASSETS / "icon.svg"), layout="wide")
st.logo(str(ASSETS / "logo.svg"), size="large")
st.html(f"<style>{(ASSETS / 'style.css').read_text()}</style>")

tab = state.tab()  # also makes a just-finished training's run current


@st.cache_resource
def _warm_umap():
    """Once per server: compile UMAP in the background, waiting while trainings run."""
    return start_warm_up(wait_while=lambda: SLOTS.running > 0)


_warm_umap()

HERE = Path(__file__).parent
PAGES = [st.Page(path, title=title, icon=icon, default=path == "pages/home.py")
         for path, title, icon in [
             ("pages/home.py", "Home", ":material/home:"),
             ("pages/train.py", "Train", ":material/model_training:"),
             ("pages/reconstructions.py", "Reconstructions", ":material/compare:"),
             ("pages/latent_space.py", "Latent space", ":material/scatter_plot:"),
             ("pages/generate.py", "Generate", ":material/auto_awesome:"),
             ("pages/compare.py", "Hybrid vs CNN", ":material/balance:"),
             ("pages/runs.py", "Runs", ":material/folder_open:"),
         ] if (HERE / path).exists()]


def _label(spec: str) -> str:
    if spec in DATASETS:
        info = DATASETS[spec]
        return info.title if info.bundled or not is_available_offline(spec) else f"{info.title.split(' (')[0]} (cached)"
    return tab.uploads.get(spec, spec)


def _on_dataset_change() -> None:
    spec = st.session_state["sb_dataset"]
    try:
        state.dataset(spec)
    except DatasetError as e:
        st.session_state["sb_dataset_error"] = str(e)
        st.session_state["sb_dataset"] = tab.dataset  # keep the last good choice
        return
    tab.dataset = spec


def _on_upload() -> None:
    f = st.session_state.get("sb_upload")
    if f is None:
        return
    try:
        ds = dataset_from_upload(f.name, f.getvalue())
    except DatasetError as e:
        st.session_state["sb_dataset_error"] = f"{f.name}: {e}"
        return
    tab.uploads[ds.spec] = f"{f.name} (uploaded)"
    tab.dataset = ds.spec
    st.session_state["sb_dataset"] = ds.spec


with st.sidebar:
    options = list(DATASETS) + [s for s in tab.uploads if s not in DATASETS]
    if st.session_state.get("sb_dataset") not in options or st.session_state.get("sb_dataset") != tab.dataset:
        st.session_state["sb_dataset"] = tab.dataset if tab.dataset in options else options[0]
    st.selectbox("Dataset", options, key="sb_dataset", format_func=_label, on_change=_on_dataset_change,
                 disabled=bool(tab.job and tab.job.active),
                 help="Bundled datasets work offline. Others download once into the data folder.")
    err = st.session_state.pop("sb_dataset_error", None)
    if err:
        st.error(err)
    else:
        try:
            st.caption(state.dataset().describe())
        except DatasetError as e:
            st.error(str(e))
    with st.expander("Use your own images"):
        st.file_uploader("A .npz (x, optional y) or a .zip with one folder per class",
                         type=["npz", "zip"], key="sb_upload", on_change=_on_upload)
    st.divider()
    run = state.current_run()
    st.markdown("**Current model**")
    if run is None:
        st.caption("None yet: train one or load one from Runs.")
    else:
        st.caption(model_summary(run.meta))
        st.caption(metrics_text(run.meta.get("metrics", {})))
    if tab.job is not None and tab.job.active:
        snap = tab.job.snapshot()
        st.caption(f"Training {tab.job.model_name}: {snap['progress']:.0%}")
    st.caption(f"Device: {describe_device(pick_device())}")

st.navigation(PAGES).run()
