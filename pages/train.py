"""Train: choose a model and its knobs, start/stop, watch it learn live."""
from __future__ import annotations

import streamlit as st

from core.jobs import SLOTS
from core.models import get_spec
from core.pipeline import default_train_config
from ui import state
from ui.controls import control
from ui.figures import loss_figure, quality_figure
from ui.format import QUALITY_NOTE, progress_text
from ui.images import grid_image, pairs_rows, upscale_for
from ui.loss_units import same_units
from ui.model_form import model_form
from ui.train_view import job_pixels, live_phase, redraw_every, start_training, train_outcome
from ui.watch_view import show_live_watch

REFRESH_S = 1.0  # the progress line; the charts and the map forming redraw less often (redraw_every)
tab = state.tab()
busy = tab.busy
charts_every, map_every = redraw_every(live_phase(tab.job))
following = bool(tab.job is not None and tab.job.following)  # ended; its sample-quality scores still to come

st.title("Train")
st.caption("Training runs on the server in the background: you can switch pages or reload the "
           "tab, it keeps going, and the finished model is saved as a run.")

left, right = st.columns([1, 2.2], gap="large")
with left:
    spec, config, train = model_form(tab, disabled=busy)

    def start() -> None:
        start_training(tab, spec.name, config, state.dataset(), default_train_config(spec.name, **train,
                                                                                      preview_every=25))

    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", on_click=start, disabled=busy, key="train_start",
              icon=":material/play_arrow:", width="stretch")
    b2.button("Stop", on_click=lambda: tab.job.stop(), disabled=not busy, key="train_stop",
              icon=":material/stop:", width="stretch")

with right:
    with st.expander(f"How {spec.noun} learns", expanded=not busy and tab.job is None):
        st.write(spec.description)
        st.latex(spec.loss_latex)


@st.fragment(run_every=REFRESH_S if busy or following else None)
def live() -> None:
    """The state of this tab's job: its progress, or what became of it."""
    job = tab.job
    if job is None:
        st.info("Choose a model on the left and press **Start**. The defaults give a good "
                "result in a minute or less on the bundled MNIST-5k digits.")
        return
    snap = job.snapshot()
    if snap["state"] == "queued":
        st.info(f"Waiting for a free training slot: you are number {max(1, snap['queue_position'])} in "
                f"the queue ({SLOTS.cap} trainings run at once on this server).")
    elif snap["state"] == "running":
        st.progress(snap["progress"], text=progress_text(snap))
    else:
        train_outcome(snap, bool(job.run_path) and str(job.run_path) == tab.run_path)
    was, now = st.session_state.get("_train_was", ""), live_phase(job)
    st.session_state["_train_was"] = now
    if was and was != now:
        # it ended, or its scores came: the widgets, the charts and the sidebar drawn anew; or it has run
        # for SETTLED_S: the charts and the map take their slower rates
        st.rerun()


@st.fragment(run_every=charts_every)
def charts() -> None:
    """The loss curves, the preview grid and the live sample quality of this tab's job."""
    job = tab.job
    snap = job.snapshot() if job is not None else {"curve": {"step": []}, "quality": {"step": []}}
    if snap["curve"]["step"]:
        px = st.select_slider("Image size", value=28, **control("keep_train_px"), format_func=lambda v:
                              {28: "small", 56: "large", 84: "for a projector"}[v])
        c1, c2 = st.columns([1.2, 1]) if px == 28 else (st.container(), st.container())
        curve, unit = same_units(snap["curve"], job_pixels(job), get_spec(job.model_name).loss_unit)
        fig = loss_figure(curve).update_layout(yaxis_title=unit)
        c1.plotly_chart(fig, width="stretch", key="train_loss", config={"displayModeBar": False})
        img = snap["preview"]
        if img is not None:
            samples = get_spec(job.model_name).preview == "samples"
            kind = getattr(job.dataset, "kind", None) or state.dataset(job.dataset).kind
            c2.image(grid_image(img if samples else pairs_rows(img), nrow=8, scale=max(1, px // img.shape[-1])
                                if px > 28 else upscale_for(img.shape[-1]), kind=kind), width="stretch" if px == 28 else
                     "content", caption="Samples from fixed noise" if samples else
                     "Rows 1 and 3: originals · rows 2 and 4: their reconstructions")
    if len(snap["quality"]["step"]):
        st.plotly_chart(quality_figure(snap["quality"]), width="stretch", key="train_quality")
        st.caption(f"Live sample quality, {snap['quality'].get('fd_samples', [0])[-1]:,} samples per point "
                   f"(its FD reads higher than the final score's, which uses more). {QUALITY_NOTE}")


@st.fragment(run_every=map_every)
def watch() -> None:
    """The latent map forming (core.watch): the latest snapshot while the job runs, redrawn less often than
    the progress; once it has ended, the final map and the replay of every snapshot (opened on demand)."""
    job = tab.job
    snap = job.snapshot() if job is not None else {}
    w = snap.get("watch") or {}
    if w.get("steps"):
        st.markdown("**Watch the latent space form**")
        show_live_watch(w, getattr(job.dataset, "classes", None), "train_watch", job.id, running=job.active,
                        run_path=job.run_path)


with right:
    live()
    charts()
    watch()
    if tab.job is not None and not tab.job.active and tab.job.run_path:
        st.page_link("pages/reconstructions.py", label="See the reconstructions",
                     icon=":material/arrow_forward:")
