"""Latent Lab: the Streamlit entry point (navigation from the page table, and the shared sidebar)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.worker import warm_local

warm_local()  # first: the jobs' fork server imports torch beside this script's own imports (issue 23)

from core.datasets import DATASETS, DatasetError, dataset_from_upload, is_available_offline
from core.device import describe_device, pick_device
from core.limits import LimitError, limits
from core.store import model_summary
from ui import links, startup, state
from ui.format import job_line, metrics_text, plain
from ui.pages import HOME, PAGES

ASSETS = Path(__file__).parent / "assets"
st.set_page_config(page_title="Latent Lab", page_icon=str(ASSETS / "icon.svg"), layout="wide")
st.logo(str(ASSETS / "logo.svg"), size="large")
st.html(f"<style>{(ASSETS / 'style.css').read_text()}</style>")

tab = state.tab()  # also makes a just-finished training's run current
link_note, link_page = links.restore({Path(p.path).stem: p.path for p in PAGES})  # a shared link (issue 12)


startup.before_first_page()


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


def _upload_help() -> str:
    """The limits an upload must meet, as the server's owner set them (core.limits)."""
    try:
        lim = limits()
    except LimitError as e:
        return str(e)
    return (f"Up to {lim.upload_mb:g} MB, images up to {lim.image_side}x{lim.image_side} pixels, at most "
            f"{lim.classes} classes and {lim.data_mb:g} MB of pixels once decoded. The file is kept for this tab "
            "only, and removed at once if it is refused.")


def _on_upload() -> None:
    f = st.session_state.get("sb_upload")
    if f is None:
        return
    try:
        ds = dataset_from_upload(f.name, f.getvalue())  # a refused file is removed from the server at once
    except DatasetError as e:
        st.session_state["sb_dataset_error"] = f"{f.name}: {e}"
        return
    tab.uploads[ds.spec] = f"{f.name} (uploaded)"
    tab.dataset = ds.spec
    st.session_state["sb_dataset"] = ds.spec


@st.fragment(run_every=1.0 if tab.busy else None)
def _job_status() -> None:
    """This tab's training, refreshed every second while it runs (the page may not be Train)."""
    if tab.job is not None and tab.job.active:
        st.caption(job_line(tab.job.snapshot()))
    elif st.session_state.pop("_sb_job_was_active", None) is not None:
        st.rerun()  # the run became current: redraw the whole sidebar once
    if tab.job is not None and tab.job.active:
        st.session_state["_sb_job_was_active"] = tab.job.id


page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p is HOME) for p in PAGES])
with st.sidebar:
    options = list(DATASETS) + [s for s in tab.uploads if s not in DATASETS]
    if st.session_state.get("sb_dataset") not in options or st.session_state.get("sb_dataset") != tab.dataset:
        st.session_state["sb_dataset"] = tab.dataset if tab.dataset in options else options[0]
    st.selectbox("Dataset", options, key="sb_dataset", format_func=_label, on_change=_on_dataset_change,
                 disabled=tab.busy, help="Bundled datasets work offline. Others download once into the data folder.")
    err = st.session_state.pop("sb_dataset_error", None)
    if err:
        st.error(plain(err, 600))
    else:
        try:
            st.caption(plain(state.dataset().describe()))
        except DatasetError as e:
            st.error(plain(e, 600))
    with st.expander("Use your own images"):
        st.file_uploader("A .npz (x, optional y) or a .zip with one folder per class",
                         type=["npz", "zip"], key="sb_upload", on_change=_on_upload, help=_upload_help() + " Signals or sensor traces: an .npz with x shaped (N, T, F) and "
                         "kind='sequence', e.g. numpy.savez(path, x=x, y=y, kind='sequence').")
    st.divider()
    run = state.current_run()
    st.markdown("**Current model**")
    if run is None:
        st.caption("None yet: train one or load one from Runs.")
    else:
        st.caption(plain(model_summary(run.meta)))  # a run.json may be anyone's words: shown as text
        st.caption(metrics_text(run.meta.get("metrics", {})))
    if page.url_path != "train":  # Train shows the progress itself: a second 1-s refresh there slowed the training
        _job_status()
    st.caption(f"Device: {describe_device(pick_device())}")
    links.share(page.url_path)
if link_page and link_page != page.url_path:
    st.switch_page(link_page)  # the page the link names, with its settings already in place
if link_note:
    st.warning(plain(link_note, 600))  # it quotes the link's own words (?run=...)
page.run()
startup.after_first_page()
