"""Train: choose a model and its knobs, start/stop, watch it learn live."""
from __future__ import annotations

import streamlit as st

from core.jobs import SLOTS, TrainJob
from core.models import MODELS
from core.presets import default_train_config
from ui import state
from ui.widgets import grid_image, loss_figure, metrics_text, pairs_rows, progress_text, upscale_for

REFRESH_S = 1.0
tab = state.tab()
ss = st.session_state
busy = bool(tab.job and tab.job.active)

st.title("Train")
st.caption("Training runs on the server in the background: you can switch pages or reload the "
           "tab, it keeps going, and the finished model is saved as a run.")

left, right = st.columns([1, 2.2], gap="large")
with left:
    name = st.selectbox("Model", list(MODELS), format_func=lambda n: MODELS[n].title,
                        key="keep_model", disabled=busy)
    spec, cfg0, tr0 = MODELS[name], MODELS[name].config_cls(), default_train_config(name)
    k = f"keep_{name}_"  # per-model keys: each family keeps its own defaults and choices
    opts: dict = {}
    if hasattr(cfg0, "latent_dim"):
        opts["latent_dim"] = st.select_slider("Latent size", [2, 3, 4, 8, 16, 32, 64, 128],
                                              value=cfg0.latent_dim, key=k + "latent", disabled=busy)
    c1, c2 = st.columns(2)
    epochs = c1.number_input("Epochs", 1, 500, tr0.epochs, key=k + "epochs", disabled=busy)
    batch = c2.selectbox("Batch size", [16, 32, 64, 128, 256], index=[16, 32, 64, 128, 256].index(
        tr0.batch_size), key=k + "batch", disabled=busy)
    lr = st.select_slider("Learning rate", [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2], value=tr0.lr,
                          format_func=lambda v: f"{v:g}", key=k + "lr", disabled=busy)
    if hasattr(cfg0, "noise"):
        opts["noise"] = st.slider("Input noise (denoising)", 0.0, 0.8, cfg0.noise, 0.05, key=k + "noise",
                                  disabled=busy, help="Corrupt inputs with Gaussian noise; the target "
                                  "stays clean, so the model learns to denoise.")
    if hasattr(cfg0, "sparsity"):
        opts["sparsity"] = st.slider("Sparsity (L1 on the code)", 0.0, 1.0, cfg0.sparsity, 0.01,
                                     key=k + "sparsity", disabled=busy)
    if hasattr(cfg0, "beta"):
        opts["arch"] = st.radio("Encoder/decoder", ["conv", "mlp"], horizontal=True, key=k + "arch",
                                disabled=busy)
        opts["beta"] = st.slider("beta (weight of the KL term)", 0.0, 10.0, cfg0.beta, 0.1,
                                 key=k + "beta", disabled=busy)
    if hasattr(cfg0, "lam"):
        opts["lam"] = st.slider("lambda (reconstruction weight)", 0.0, 5.0, cfg0.lam, 0.1,
                                key=k + "lam", disabled=busy)
    seed = st.number_input("Seed", 0, 1_000_000, 0, key=k + "seed", disabled=busy)

    def start() -> None:
        cfg = default_train_config(name, epochs=int(epochs), batch_size=int(batch), lr=float(lr),
                                   seed=int(seed), preview_every=25)
        tab.job = TrainJob(name, opts, tab.dataset, cfg).start()

    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", on_click=start, disabled=busy, key="train_start",
              icon=":material/play_arrow:", width="stretch")
    b2.button("Stop", on_click=lambda: tab.job.stop(), disabled=not busy, key="train_stop",
              icon=":material/stop:", width="stretch")

with right:
    with st.expander(f"How a {spec.title.lower()} learns", expanded=not busy and tab.job is None):
        st.write(spec.description)
        st.latex(spec.loss_latex)


@st.fragment(run_every=REFRESH_S if busy else None)
def live() -> None:
    """Progress, loss curves and the preview grid of this tab's job."""
    job = tab.job
    if job is None:
        st.info("Choose a model on the left and press **Start**. The defaults give a good "
                "result in well under a minute on the bundled MNIST-5k digits.")
        return
    snap = job.snapshot()
    s = snap["state"]
    if s == "queued":
        st.info(f"Waiting for a free training slot: you are number {max(1, snap['queue_position'])} in "
                f"the queue ({SLOTS.cap} trainings run at once on this server).")
    elif s == "running":
        st.progress(snap["progress"], text=progress_text(snap))
    elif s == "finished":
        st.success(f"Done in {snap['elapsed']:.0f} s: {metrics_text(snap['metrics'])}. "
                   "Saved as a run and now the current model.")
    elif s == "stopped":
        st.warning(f"{snap['message'].capitalize()}. The model so far was saved and is the current "
                   f"model: {metrics_text(snap['metrics'])}.")
    elif s == "diverged":
        st.error(f"Training diverged: {snap['message']}")
    elif s == "failed":
        st.error(f"Training could not run: {snap['error']}")
    if snap["curve"]["step"]:
        c1, c2 = st.columns([1.2, 1])
        c1.plotly_chart(loss_figure(snap["curve"]), width="stretch", key="train_loss")
        if snap["preview"] is not None:
            img = snap["preview"]
            gan = job.model_name == "gan"
            c2.image(grid_image(img if gan else pairs_rows(img), nrow=8, scale=upscale_for(img.shape[-1])),
                     caption="Samples from fixed noise" if gan else
                     "Rows 1 and 3: originals · rows 2 and 4: their reconstructions", width="stretch")
    if job.active:
        ss["_train_was_active"] = True
    elif ss.pop("_train_was_active", False):
        st.rerun()  # re-enable the widgets and update the sidebar once the job ends


with right:
    live()
    if tab.job is not None and not tab.job.active and tab.job.run_path:
        st.page_link("pages/reconstructions.py", label="See the reconstructions",
                     icon=":material/arrow_forward:")
