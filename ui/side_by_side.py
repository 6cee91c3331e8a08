"""Runs side by side: labels, one metrics table, aligned reconstructions, maps with one method, samples.

Shared by the Side by side page and the sweep results. Every block takes the
same list of loaded runs in the same order, so a row or a column always means
the same run.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from core import latent as L
from core.codes import cached_codes
from core.datasets import Dataset, pick_indices
from core.models import get_spec
from core.projection import METHOD_TITLES
from core.store import Run

from . import state
from .figures import projection_figure
from .format import fmt_seconds, plain
from .images import grid_image, upscale_for


def run_label(meta: dict[str, Any]) -> str:
    """A short name for a run in a row or column: 'CAE, latent 2' (+ beta, noise, sparsity when set)."""
    try:
        title = get_spec(meta["model"]).title.split(" (")[0]
    except Exception:  # noqa: BLE001 - an unknown family still gets a name
        title = str(meta.get("model"))
    short = {"Convolutional autoencoder": "CAE", "Variational autoencoder": "VAE", "Autoencoder": "AE"}
    cfg = meta.get("config", {})
    bits = [short.get(title, title)]
    if "latent_dim" in cfg:
        bits.append(f"latent {cfg['latent_dim']}")
    for k, name in (("beta", "β"), ("noise", "noise"), ("sparsity", "L1")):
        if cfg.get(k) not in (None, 0, 0.0) and not (k == "beta" and cfg[k] == 1.0):
            bits.append(f"{name} {cfg[k]:g}")
    return ", ".join(bits)


def labels_for(runs: Sequence[Run]) -> list[str]:
    """Distinct labels for the runs (a number is added where two would read the same)."""
    base = [run_label(r.meta) for r in runs]
    return [f"{b} (#{i + 1})" if base.count(b) > 1 else b for i, b in enumerate(base)]


def metrics_table(runs: Sequence[Run], labels: Sequence[str]) -> pd.DataFrame:
    """One row per run: what it is, how long it trained, its test metrics."""
    rows = []
    for r, lab in zip(runs, labels):
        m, t = r.meta.get("metrics", {}), r.meta.get("timings") or {}
        rows.append({"run": lab, "id": r.id, "dataset": r.dataset.split("/")[-1],
                     "epochs": r.meta.get("train", {}).get("epochs"),
                     "trained": fmt_seconds(t.get("train_seconds")),
                     "test BCE/pixel": m.get("recon_bce"), "test MSE/pixel": m.get("recon_mse"),
                     "accuracy": m.get("accuracy")})
    df = pd.DataFrame(rows)
    return df.dropna(axis=1, how="all")


def show_reconstructions(runs: Sequence[Run], labels: Sequence[str], ds: Dataset, n: int = 10,
                         seed: int = 0, px: int = 84) -> None:
    """The same test images (one per class when labeled) in a top row, each run's reconstructions below.

    ``px``: on-screen size of one image (the images are shown at that size, not stretched).
    """
    x, y = ds.split("test")
    idx = pick_indices(y, n, "per class" if y is not None else "random", seed, n_total=len(x))
    xs = x[idx]
    scale = max(1, round(px / x.shape[-1]))
    caption = " · ".join(ds.classes[int(v)] for v in y[idx]) if y is not None else ""
    for name, imgs in [("original", xs), *((lab, L.reconstruct(r.model, xs)) for r, lab in zip(runs, labels))]:
        c1, c2 = st.columns([1, 6], vertical_alignment="center")
        c1.markdown(f"**{plain(name)}**")
        c2.image(grid_image(imgs, nrow=len(xs), scale=scale), width="content")
    if caption:
        st.caption(f"test images #{', #'.join(str(int(i)) for i in idx)} (classes {plain(caption)})")


def show_maps(runs: Sequence[Run], labels: Sequence[str], ds: Dataset, method: str, key: str) -> None:
    """Each run's test codes projected with the same method and seed, side by side."""
    x, y = ds.split("test")
    ys = y.numpy() if y is not None else None
    cols = st.columns(len(runs))
    for col, r, lab in zip(cols, runs, labels):
        codes = cached_codes(r.path, r.model, x, "test")[0]
        with col:
            with st.spinner(f"{METHOD_TITLES[method]} of {plain(lab)}..."):
                proj, _ = state.projection((r.id, ds.spec, "test", len(x)), codes, method, 2, 0, ())
            st.markdown(f"**{plain(lab)}**")
            fig = projection_figure(proj, ys, ds.classes, None, "label", height=340)
            fig.update_layout(dragmode="pan", showlegend=col is cols[-1])
            st.plotly_chart(fig, key=f"{key}_{r.id}", width="stretch", config={"displayModeBar": False})


def show_samples(runs: Sequence[Run], labels: Sequence[str], n: int = 16, seed: int = 0) -> None:
    """n samples from each run's prior (a fitted Gaussian for an AE), in columns."""
    cols = st.columns(len(runs))
    for col, r, lab in zip(cols, runs, labels):
        imgs = L.sample(r.model, n, 1.0, seed)
        col.image(grid_image(imgs, nrow=int(n ** 0.5), scale=upscale_for(imgs.shape[-1])), width="stretch",
                  caption=plain(f"{lab}: from the {L.prior_label(r.model)}"))


def common_dataset(runs: Sequence[Run]) -> Dataset:
    """The dataset all the runs are shown on (the sidebar's if it fits, else the first run's); stops on a mismatch."""
    ds = state.show_run_dataset(runs[0])
    bad = [r.id for r in runs if tuple(r.model.shape) != tuple(ds.shape)]
    if bad:
        st.error(plain(f"These runs take images of another size than {ds.title} ({'x'.join(map(str, ds.shape))}): "
                       f"{', '.join(bad)}. Pick runs trained on images of one size.", 600))
        st.stop()
    return ds
