"""Hybrid vs CNN: does an autoencoder in front of a CNN help, and when? Both trained live, side by side."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.compare import (LABEL_LEVELS, CompareConfig, ComparisonResult, SweepResult,
                          list_comparisons, load_comparison)
from core.jobs import CompareJob
from ui import state
from ui.controls import control
from ui.compare_view import FAIRNESS_TEXT, METHOD_TEXT, saved_label, show_result
from ui.figures import ROLE_TITLES, curves_figure, sweep_figure
from ui.format import fmt_seconds, mean_pm, plain
from ui.live import live_snapshot

REFRESH_S = 1.0
tab = state.tab()
job = tab.compare_job
busy = bool(job and job.active)
if job is not None and not busy and job.result is not None and tab.compare_adopted != job.id:
    tab.compare_adopted, tab.compare_result = job.id, job.result  # show a finished job once

st.title("Hybrid vs plain CNN")
st.caption("Few labels, many images: does an autoencoder's reconstruction loss help a CNN? Both models "
           "train on the same labeled images per seed; the test accuracy says when it pays off.")
with st.expander("The method, what both models share and what differs, why it helps most with few labels"):
    st.write(METHOD_TEXT)
    st.latex(r"\mathcal{L} = \mathrm{CE}\big(y, h(f(x))\big)[x\ \text{labeled}] + \lambda\,\mathrm{BCE}"
             r"\big(x, g(f(x))\big) + \eta\,\big(\overline{H(p(y|x))} - H(\overline{p(y|x)})\big)"
             r"[x\ \text{unlabeled}]")
    st.write(f"**Fair by construction.** {FAIRNESS_TEXT}")

left, right = st.columns([1, 2.2], gap="large")
with left:
    sweep = st.toggle("Sweep over labels per class", **control("keep_cmp_sweep"), disabled=busy,
                      help="1, 5, 10, 50, 100, all")
    lpc = st.select_slider("Labels per class", value=10, **control("keep_cmp_lpc"),
                           disabled=busy or sweep, help="The rest of the training images are unlabeled.")
    steps = st.select_slider("Budget: optimiser steps per model", value=CompareConfig.steps,
                             **control("keep_cmp_steps"), disabled=busy)
    seeds = st.number_input("Seeds (label draws)", value=3, **control("keep_cmp_seeds"), disabled=busy)
    variant = st.radio("Hybrid variant", horizontal=True, **control("keep_cmp_variant"), disabled=busy,
                       help="joint: CE + lambda x reconstruction from the start. pretrain: the first 30% of "
                            "the steps reconstruct only (labels hidden), then fine-tune with both.")
    lam = st.slider("lambda (reconstruction weight)", value=CompareConfig.lam, **control("keep_cmp_lam"),
                    disabled=busy)
    ent = st.slider("eta (entropy weight on unlabeled images)", value=CompareConfig.entropy,
                    **control("keep_cmp_entropy"), disabled=busy, help="0: the plain multi-task loss CE + lambda x "
                    "reconstruction. Above 0: also confident predictions on unlabeled images, spread over the classes.")
    pseudo = st.slider("Pseudo-label weight", value=CompareConfig.pseudo, **control("keep_cmp_pseudo"),
                       disabled=busy, help="Unlabeled images whose prediction on another random shift/rotation is "
                       f"at least {CompareConfig.threshold:.0%} sure count as labeled with it (FixMatch). It and "
                       f"eta ramp up over the first {CompareConfig.ramp:.0%} of the steps. 0: off.")

    def start() -> None:
        kw = {"steps": int(steps), "variant": variant, "lam": float(lam), "entropy": float(ent),
              "pseudo": float(pseudo)}
        level = None if lpc == "all" else int(lpc)
        levels = list(LABEL_LEVELS) if sweep else None
        tab.compare_job = CompareJob(state.dataset(), level, int(seeds), **kw, sweep_levels=levels).start(
            state.browser_here())

    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", on_click=start, disabled=busy, key="cmp_start",
              icon=":material/play_arrow:", width="stretch")
    b2.button("Stop", on_click=lambda: job.stop(), disabled=not busy, key="cmp_stop",
              icon=":material/stop:", width="stretch")
    saved = list_comparisons()
    if saved:
        pick = st.selectbox("Saved comparisons", [c["id"] for c in saved], key="cmp_saved", format_func=lambda i: next(
            saved_label(c) for c in saved if c["id"] == i))
        if st.button("Load", key="cmp_load", icon=":material/folder_open:", disabled=busy):
            tab.compare_result = load_comparison(pick)


@st.fragment(run_every=REFRESH_S if busy else None)
def live() -> None:
    """Progress and live learning curves while the job runs; one full rerun when it ends."""
    s = live_snapshot(job, "cmp")
    if s is None:
        return
    st.progress(s["fraction"], text=f"{ROLE_TITLES.get(s['role'], '...')} · seed {s['seed_index'] + 1}/"
                f"{max(1, s['n_seeds'])} · step {s['step']:,}/{s['total_steps']:,} · "
                f"{fmt_seconds(s['elapsed'])} elapsed")
    st.plotly_chart(curves_figure({k: [v] for k, v in s["curves"].items()}), width="stretch", key="cmp_live")


with right:
    live()
    if job is not None and job.state == "failed":
        st.error(plain(f"The comparison could not run: {job.error}", 600))
    elif job is not None and job.state == "stopped" and not busy:
        st.warning(f"Stopped: {plain(job.message or 'no seed completed', 600)}. Complete seeds are kept and saved.")
    res = tab.compare_result
    if isinstance(res, SweepResult):
        rows = res.rows()
        st.plotly_chart(sweep_figure(rows), width="stretch", key="cmp_sweep_fig")
        st.dataframe(pd.DataFrame([{"labels/class": r["labels_per_class"], **{
            ROLE_TITLES[k]: mean_pm(r[k]["mean"], r[k]["std"], len(r["seeds"])) for k in ROLE_TITLES}} for r in rows]),
            hide_index=True, key="cmp_sweep_table")
        if res.results:
            show_result(res.results[st.selectbox("Details of", range(len(rows)), key="cmp_level",
                                                 format_func=lambda i: f"{rows[i]['labels_per_class']} per class")])
    elif isinstance(res, ComparisonResult):
        if job is not None and job.result is res and res.status == "finished":
            st.success(f"Done in {fmt_seconds(job.ended_at - job.started_at)}: {plain(res.message, 600)}. "
                       "Every model is saved as a run.")
        show_result(res)
    elif not busy:
        st.info("Choose the labels per class and the budget on the left, and press **Start**. On MNIST-5k "
                "with 10 labels per class, one seed takes 1-2 minutes for both models.")
