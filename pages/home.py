"""Home: what Latent Lab is, what each page is for, and one-click presets."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.datasets import DATASETS
from core.presets import PRESETS, measured_seconds
from core.store import list_runs, runs_root
from ui.format import fmt_seconds
from ui import state
from ui.model_form import fill_form
from ui.train_view import start_training
from ui.pages import HOME, PAGES

st.title("Latent Lab")
st.markdown("See what autoencoders and generative models learn. Train one in seconds on the "
            "bundled MNIST digits, then look inside: reconstructions, the latent map, "
            "interpolations and brand-new samples.")

tab = state.tab()

st.subheader("Start with a preset")
saved = list_runs()
for col, p in zip(st.columns(len(PRESETS)), PRESETS):
    with col, st.container(border=True):  # no fixed height: a longer blurb must never hide its button
        st.markdown(f"**{p.title}**")
        st.caption(p.blurb)
        took = measured_seconds(p.key, saved)  # times measured on this server, not promises
        st.caption(f":material/timer: {fmt_seconds(took[0])} on this server" + (f" (median of {took[1]})" if
                   took[1] > 1 else "") if took else ":material/timer: not timed on this server yet")
        if p.dataset != tab.dataset:
            st.caption(f":material/swap_horiz: switches the dataset to {DATASETS[p.dataset].title.split(' (')[0]}")
        if st.button("Train this", key=f"preset_{p.key}", disabled=tab.busy, width="stretch",
                     type="primary" if p.key == "cae-mnist" else "secondary"):
            tab.dataset = p.dataset
            train = p.train_config()
            fill_form(tab, p.model, p.model_config, {"epochs": train.epochs, "batch_size": train.batch_size,
                                                     "lr": train.lr, "seed": train.seed})
            start_training(tab, p.model, p.model_config, state.dataset(p.dataset), train, {"preset": p.key})
            st.switch_page("pages/train.py")
if tab.busy:
    st.caption("A training is running: see the Train page.")

st.subheader("The pages")
cards = [p for p in PAGES if p is not HOME]
for i in range(0, len(cards), 3):
    for col, page in zip(st.columns(3), cards[i:i + 3]):
        with col, st.container(border=True):
            st.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
            st.caption(page.blurb)

st.caption(f"Everything runs on this server, offline. Your trained models are saved under "
           f"`{Path(runs_root()).absolute()}` and listed on the Runs page.")
