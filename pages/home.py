"""Home: what Latent Lab is, what each page is for, and one-click presets."""
from __future__ import annotations

import streamlit as st

from core.jobs import TrainJob
from core.presets import PRESETS
from ui import state

st.title("Latent Lab")
st.markdown("See what autoencoders and generative models learn. Train one in seconds on the "
            "bundled MNIST digits, then look inside: reconstructions, the latent map, "
            "interpolations and brand-new samples.")

tab = state.tab()
busy = bool(tab.job and tab.job.active)

st.subheader("Start with a preset")
cols = st.columns(len(PRESETS))
for col, p in zip(cols, PRESETS):
    with col, st.container(border=True, height=235):
        st.markdown(f"**{p.title}**")
        st.caption(p.blurb)
        if st.button("Train this", key=f"preset_{p.key}", disabled=busy, width="stretch",
                     type="primary" if p.key == "cae-mnist" else "secondary"):
            tab.dataset = p.dataset
            tab.job = TrainJob(p.model, p.model_config, p.dataset, p.train_config()).start()
            st.session_state["keep_model"] = p.model
            st.switch_page("pages/train.py")
if busy:
    st.caption("A training is running: see the Train page.")

st.subheader("The pages")
PAGES = [
    ("pages/train.py", "Train", "Pick AE, CAE, VAE or GAN (or a classifier), set a few knobs, "
     "and watch losses and reconstructions update live."),
    ("pages/reconstructions.py", "Reconstructions", "Originals next to what the model rebuilds, "
     "the worst cases, error per class, and denoising."),
    ("pages/latent_space.py", "Latent space", "Every image as a point (PCA or UMAP, 2-D or 3-D); "
     "select a region to see its images."),
    ("pages/generate.py", "Generate", "Walk between two images, sample new ones, traverse "
     "one latent dimension, do arithmetic with class means."),
    ("pages/compare.py", "Hybrid vs CNN", "Does an autoencoder in front of a CNN help when labels "
     "are few? Measured with error bars."),
    ("pages/runs.py", "Runs", "Every trained model, saved: load, download, upload, delete."),
]
from pathlib import Path  # noqa: E402

for i in range(0, len(PAGES), 3):
    cols = st.columns(3)
    for col, (path, title, text) in zip(cols, PAGES[i:i + 3]):
        with col, st.container(border=True):
            if Path(path).exists():
                st.page_link(path, label=f"**{title}**")
            else:
                st.markdown(f"**{title}**")
            st.caption(text)

st.caption("Everything runs on this server, offline. Your trained models are saved under "
           "`runs/` and listed on the Runs page.")
