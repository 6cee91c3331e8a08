"""Reconstructions: originals next to what the current model rebuilds."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.codes import cached_codes, noisy_reconstructions
from core.datasets import pick_indices
from ui import state
from ui.format import plain
from ui.controls import control
from ui.figures import bar_figure
from ui.images import grid_image, upscale_for

st.title("Reconstructions")
run = state.require_run("reconstructs")
ds = state.show_run_dataset(run)
spec = state.run_spec(run)
slow = getattr(run.model, "approximate_encoder", False)  # per run: a GAN with an encoder network is fast
if slow:
    st.warning(f"{spec.noun.capitalize()} has no encoder: each 'reconstruction' is the decoding of the code "
               "that an optimiser found to match the image (a few hundred gradient steps). They are "
               "**approximate**.")

c1, c2, c3, c4 = st.columns(4)
split = c1.radio("Split", horizontal=True, **control("keep_rec_split"))
n = c2.select_slider("Images", value=16, **control("keep_rec_n"))
how = c3.radio("Pick", horizontal=True, **control("keep_rec_how"), disabled=not ds.labeled)
seed = c4.number_input("Seed", value=0, **control("keep_rec_seed"))
noise = st.slider("Input noise: corrupt the inputs and see what the model makes of them", value=0.0,
                  **control("keep_rec_noise"))

x_all, y_all = ds.split(split)
idx = pick_indices(y_all, n, "per class" if how == "per class" and ds.labeled else "random", seed,
                   n_total=len(x_all))
with st.spinner("Optimising codes (approximate encoder)..." if slow else "Reconstructing..."):
    x, rec, err = noisy_reconstructions(run.model, x_all[idx], noise, seed)

st.subheader("Original (top) and reconstruction (bottom)")
st.caption("Under each pair: dataset index, label and the reconstruction error (BCE per pixel"
           + (", against the clean image" if noise > 0 else "") + "). Lower is better.")
scale = upscale_for(x.shape[-1])
per_row = st.select_slider("Image size", value=8, **control("keep_rec_per_row"), format_func=lambda v:
                           {8: "small (8 per row)", 6: "medium (6 per row)", 4: "for a projector (4 per row)"}[v])
for r in range(0, len(idx), per_row):
    for j, col in enumerate(st.columns(per_row)):
        i = r + j
        if i >= len(idx):
            break
        label = ds.classes[int(y_all[idx[i]])] if y_all is not None else "-"
        col.image(grid_image(torch.stack([x[i], rec[i]]), nrow=1, scale=scale, kind=ds.kind),
                  caption=f"#{int(idx[i])} · {plain(label)} · {err[i]:.3f}", width="stretch")

st.divider()
if slow and len(x_all) > 2000:
    st.caption("Worst cases and per-class errors are skipped for a model without an encoder on big "
               "splits: the approximate encoder would take minutes.")
    st.stop()
with st.spinner("Scoring every image of the split..."):
    # Cached on disk per run and per set of images (a fingerprint), so another dataset
    # of the same shape gets its own errors.
    errors = cached_codes(run.path, run.model, x_all, split)[1]
left, right = st.columns([1.3, 1], gap="large")
with left:
    k = st.select_slider("Worst reconstructions", value=8, **control("keep_rec_worst"))
    worst = np.argsort(-errors)[:k]
    _, worst_rec, _ = noisy_reconstructions(run.model, x_all[worst])
    st.caption("The originals the model finds hardest (top of each pair) and its reconstructions, with "
               "the index, label and error under each.")
    for r in range(0, k, per_row // 2):  # pairs under each other, each with its own caption
        for col, i in zip(st.columns(per_row // 2), worst[r:r + per_row // 2]):
            label = ds.classes[int(y_all[i])] if y_all is not None else "-"
            col.image(grid_image(torch.stack([x_all[i], worst_rec[list(worst).index(i)]]), nrow=1, scale=scale, kind=ds.kind),
                      caption=f"#{int(i)} · {plain(label)} · {errors[i]:.3f}", width="stretch")
with right:
    if y_all is not None:
        ys = y_all.numpy()
        means = [float(errors[ys == c].mean()) if (ys == c).any() else 0.0 for c in range(ds.n_classes)]
        st.plotly_chart(bar_figure(ds.classes, means, "Mean error per class", "BCE per pixel"),
                        width="stretch", key="rec_per_class")
    st.metric(f"Mean error on the {split} split", f"{errors.mean():.4f}",
              help="Binary cross-entropy per pixel, averaged over all images of the split.")
