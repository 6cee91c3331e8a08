"""Latent space: where the model puts each image (PCA, UMAP or t-SNE), selection and export."""
from __future__ import annotations

from collections import Counter

import streamlit as st
import torch

from core.codes import cached_codes
from core.exports import export_csv, export_projector_tsv
from core.latent import reconstruct
from core.projection import METHOD_TITLES
from ui import state
from ui.format import plain
from ui.controls import control
from ui.figures import projection_figure
from ui.features_view import beside_another, codes_as_features
from ui.images import grid_image, upscale_for
from ui.selection import selection_to_indices, trace_index_map
from ui.watch_view import show_run_watch

APPROX_MAX = 2000  # codes found by optimisation are slow: a model without an encoder maps a sample

st.title("Latent space")
run = state.require_run("latent")
ds = state.show_run_dataset(run)
tab, model, spec = state.tab(), run.model, state.run_spec(run)
st.caption(f"Each dot is one image, placed by the code of {model.latent_dim} numbers that the encoder gives "
           "it, squeezed to 2 or 3 so you can see it. **PCA** rotates the codes and keeps the directions "
           "of widest spread: distances and the overall shape are faithful, but classes may overlap. "
           "**UMAP** and **t-SNE** keep each image next to its nearest neighbours: clusters separate "
           "clearly, but the gaps between clusters and their sizes mean little.")

c = st.columns([1, 1.5, 0.8, 1.1, 0.8])
split = c[0].radio("Split", horizontal=True, **control("keep_ls_split"))
method = c[1].radio("Method", format_func=METHOD_TITLES.get, horizontal=True,
                    **control("keep_ls_method"))
flat = method == "pca" and model.latent_dim < 3  # PCA has only as many axes as the codes
dim = c[2].radio("Dimensions", horizontal=True, **control("keep_ls_dim", choices=(2,) if flat else None),
                 help="PCA of a 2-D latent space has only 2 axes." if flat else None)
color_by = c[3].radio("Colour by", horizontal=True, **control("keep_ls_color"),
                      disabled=not ds.labeled, help="error: how badly the model reconstructs the image")
seed = int(c[4].number_input("Seed", value=0, **control("keep_ls_seed"),
                             help="The same seed and settings give the same layout."))
params: dict = {}
if method == "umap":
    a, b = st.columns(2)
    params["n_neighbors"] = a.slider("n_neighbors: small keeps local detail, large the global shape", value=15,
                                     **control("keep_ls_nn"))
    params["min_dist"] = b.slider("min_dist: how tightly points may pack", value=0.1,
                                  **control("keep_ls_md"))
elif method == "tsne":
    params["perplexity"] = st.slider("perplexity: roughly how many neighbours each point cares about",
                                     value=30.0, **control("keep_ls_perp"))

x, y = ds.split(split)
if getattr(model, "approximate_encoder", False):  # per run: a GAN with an encoder network is fast
    note = f" Only the first {APPROX_MAX:,} of the {len(x):,} images are shown." if len(x) > APPROX_MAX else ""
    x, y = x[:APPROX_MAX], (y[:APPROX_MAX] if y is not None else None)
    st.warning(f"{spec.noun.capitalize()} has no encoder: each code is found by optimisation, so the codes "
               f"are **approximate**.{note}")
bar = st.empty()
codes, errors, _ = cached_codes(run.path, model, x, split, progress=lambda d, t: bar.progress(
    d / max(1, t), text=f"Encoding the {split} images: {d:,} / {t:,}"))
proj, seconds = state.projection((run.id, ds.spec, split, len(x)), codes, method, dim, seed,
                                 tuple(sorted(params.items())), lambda s, f: bar.progress(
                                     f, text=f"{METHOD_TITLES[method]}: {s} ({f:.0%})"))
bar.empty()
labels = y.numpy() if y is not None else None

left, right = st.columns([2.2, 1], gap="large")
with left:
    fig = projection_figure(proj, labels, ds.classes, errors, color_by if ds.labeled else "error")
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"),
                            key=f"ls_plot_{run.id}_{split}", width="stretch")
    st.caption(f"{len(x):,} {split} images · {METHOD_TITLES[method]} in {seconds:.1f} s · "
               + ("drag a box or lasso (toolbar) or click points to select images"
                  if dim == 2 else "selection works on the 2-D plot"))
points = event.selection.points if event and "selection" in event else []
tmap = trace_index_map(labels, ds.n_classes) if labels is not None and color_by == "label" else None
sel = selection_to_indices(points, tmap, n=len(x))
with right:
    if len(sel) == 0:
        st.info("Select points on the plot to see their images here.")
    else:
        tab.selection = state.Selection(run.id, ds.spec, split, [int(i) for i in sel])
        show = torch.as_tensor(sel[:48])
        st.markdown(f"**{len(sel):,} selected**" + (f", the first {len(show)} shown" if len(sel) > 48 else ""))
        scale = upscale_for(x.shape[-1])
        if len(show) <= 8:
            pair = torch.cat([x[show], reconstruct(model, x[show])])
            st.image(grid_image(pair, nrow=len(show), scale=scale, kind=ds.kind), width="stretch",
                     caption="top: originals · bottom: reconstructions")
        else:
            st.image(grid_image(x[show], nrow=8, scale=scale, kind=ds.kind), width="stretch")
        if labels is not None:
            counts = Counter(int(v) for v in labels[sel])
            st.caption(" · ".join(f"{plain(ds.classes[k])}: {n}" for k, n in counts.most_common()))
        st.caption(f"mean error {errors[sel].mean():.4f} (split mean {errors.mean():.4f})")
        st.page_link("pages/generate.py", label="Interpolate between them", icon=":material/auto_awesome:")

st.divider()
beside_another(run, ds, split, x, labels, (method, dim, seed, tuple(sorted(params.items()))))
codes_as_features(run, ds)

with st.expander("Export the codes and the layout"):
    stem = f"{run.id}-{split}"
    e1, e2, e3 = st.columns(3)
    e1.download_button("Codes + layout (CSV)", lambda: export_csv(codes, proj, labels, errors, ds.classes),
                       file_name=f"{stem}-{method}{dim}d.csv", mime="text/csv", key="ls_dl_csv")
    e2.download_button("Projector vectors (TSV)", lambda: export_projector_tsv(codes, labels, ds.classes)[0],
                       file_name=f"{stem}-vectors.tsv", mime="text/tab-separated-values", key="ls_dl_vectors")
    e3.download_button("Projector metadata (TSV)",
                       lambda: export_projector_tsv(codes, labels, ds.classes, {"error": errors})[1],
                       file_name=f"{stem}-metadata.tsv", mime="text/tab-separated-values", key="ls_dl_meta")
    st.caption("The CSV has one row per image: index, label, reconstruction error, the layout (x, y[, z]) "
               "and the code (z0, z1, ...). Load the two TSV files in TensorFlow's Embedding Projector "
               "(projector.tensorflow.org, Load) to explore the codes there.")

show_run_watch(run.path, ds.classes, key=f"ls_watch_{run.id}")
