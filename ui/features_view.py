"""Latent space's measuring sections: this map beside another model's, and the codes as features."""
from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from core.codes import cached_codes
from core.datasets import Dataset
from core.models import get_spec
from core.probe import class_separation, probe
from core.store import Run, RunError, list_runs, model_summary

from . import state
from .controls import control
from .figures import probe_figure, projection_figure
from .format import plain


def other_runs(run: Run, ds: Dataset) -> list[dict[str, Any]]:
    """Other saved runs with an encoder on the same dataset, the one to compare with first.

    For a run that learned from labels, the first is the newest run that did
    not (its plain counterpart), and the other way round.
    """
    mine = state.run_spec(run).needs_labels
    out = []
    for m in list_runs():
        if "error" in m or m["id"] == run.id or m.get("dataset") != ds.spec:
            continue
        try:
            spec = get_spec(m["model"])
        except ValueError:
            continue
        if spec.is_latent and not spec.approximate_encoder and tuple(m.get("shape", ())) == tuple(ds.shape):
            out.append((spec.needs_labels == mine, m))  # False sorts first: the other kind of model
    return [m for _, m in sorted(out, key=lambda t: t[0])]  # stable: newest first within each kind


def _separation(r: Run, ds: Dataset) -> float:
    """k-NN accuracy of the test codes among the training codes (both cached in the run folder)."""
    train = cached_codes(r.path, r.model, ds.x_train, "train")[0]
    test = cached_codes(r.path, r.model, ds.x_test, "test")[0]
    return class_separation(train, ds.y_train.numpy(), test, ds.y_test.numpy())


def beside_another(run: Run, ds: Dataset, split: str, x: Any, labels: np.ndarray | None,
                   layout: tuple[str, int, int, tuple]) -> None:
    """This model's map next to another run's on the same images, each with its class separation."""
    spec = state.run_spec(run)
    st.subheader("Beside another model")
    if labels is None or spec.approximate_encoder or ds.y_test is None:
        st.caption("Needs a labeled dataset and a model with an encoder.")
        return
    if not st.toggle("Show this map beside another model's, with how well the classes separate",
                     value=spec.needs_labels, **control("keep_ls_beside")):
        return
    metas = other_runs(run, ds)
    if not metas:
        st.info(f"No other run on {plain(ds.title)} yet. Train " + ("an autoencoder without labels" if spec.needs_labels
                else "another model") + " on the same dataset, then come back to see the two maps side by side.")
        return
    by_id = {m["id"]: m for m in metas}
    pick = st.selectbox("Compare with", list(by_id), format_func=lambda i: f"{model_summary(by_id[i])} · {i}",
                        key=f"ls_beside_{run.id}")
    try:
        other = state.cached_run(by_id[pick]["path"])
    except RunError as e:
        st.error(plain(f"That run could not be loaded: {e}", 600))
        return
    method, dim, seed, params = layout
    for col, r in zip(st.columns(2, gap="large"), (run, other)):
        with col, st.spinner(f"Encoding with {r.id}..."):
            codes = cached_codes(r.path, r.model, x, split)[0]
            proj, _ = state.projection((r.id, ds.spec, split, len(x)), codes, method, dim, seed, params)
            st.metric(f"{state.run_spec(r).title}: classes separate", f"{_separation(r, ds):.1%}",
                      help="k-NN accuracy of the codes: each test image gets the majority label of its 5 "
                           "nearest training images in the latent space. Higher = classes sit apart.")
            st.plotly_chart(projection_figure(proj, labels, ds.classes, height=420), width="stretch",
                            key=f"ls_beside_plot_{r.id}_{split}")
            st.caption(plain(model_summary(r.meta)))


@st.cache_data(max_entries=16, show_spinner="Fitting classifiers on the codes, the pixels and PCA...")
def _probe(run_path: str, ds_spec: str, _model: Any, _ds: Dataset) -> dict[str, Any]:
    """The probe of a run on a dataset, once per (run, dataset): runs never change once saved."""
    return probe(_model, _ds)


def codes_as_features(run: Run, ds: Dataset) -> None:
    """How good are the codes for recognition? Probes on codes vs raw pixels vs PCA, by labels per class."""
    spec = state.run_spec(run)
    st.subheader("Codes as features")
    st.caption(f"Fit a logistic regression and a k-nearest-neighbour classifier on the codes of the labeled "
               f"training images and score them on the test images; the same on the raw pixels and on a PCA "
               f"of the pixels with {run.model.latent_dim} components (as many numbers as the code). Codes "
               "that beat PCA of their size learned something a linear projection cannot.")
    if not ds.labeled or ds.y_test is None or spec.approximate_encoder:
        st.caption("Needs a labeled dataset and a model with an encoder.")
        return
    key = f"ls_probe_{run.id}_{ds.spec}"
    if st.button("Measure (about half a minute)", key="ls_probe", icon=":material/analytics:"):
        st.session_state[key] = True
    if not st.session_state.get(key):
        return
    res = _probe(str(run.path), ds.spec, run.model, ds)
    c = st.columns(4)
    c[0].metric("Codes, logistic regression", f"{res['linear']:.1%}")
    c[1].metric("Codes, k-NN", f"{res['knn']:.1%}")
    c[2].metric("Raw pixels, logistic regression", f"{res['pixels_linear']:.1%}")
    c[3].metric(f"PCA-{res['dim']}, logistic regression", f"{res['pca_linear']:.1%}")
    st.plotly_chart(probe_figure(res["by_labels"]), width="stretch", key="ls_probe_plot")
    st.caption(f"All labels: {res['n_train']:,} training images; scored on {res['n_eval']:,} ({plain(res['eval'])}). "
               f"Fewer labels: the mean over {res['draws']} random draws. Solid lines: logistic regression; "
               "dashed: k-NN. Same numbers from the shell: `python -m core probe --run RUN`.")
