"""Hybrid vs CNN: does an autoencoder in front of a CNN help, and when? Both trained live, side by side."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import compare as C
from core.data import DatasetError
from ui import state
from ui.widgets import fmt_seconds, grid_image, upscale_for

REFRESH_S = 1.0
tab, ss = state.tab(), st.session_state
job: C.CompareJob | None = tab.extra.get("cmp_job")
busy = bool(job and job.active)
if job is not None and not busy and job.result is not None and tab.extra.get("cmp_adopted") != job.id:
    tab.extra["cmp_adopted"], tab.extra["cmp_result"] = job.id, job.result  # show a finished job once

st.title("Hybrid vs plain CNN")
st.caption("Few labels, many images: does an autoencoder's reconstruction loss help a CNN? Both models "
           "train on the same labeled images per seed; the test accuracy says when it pays off.")
with st.expander("The method, what both models share and what differs, why it helps most with few labels"):
    st.write(C.METHOD_TEXT)
    st.latex(r"\mathcal{L} = \mathrm{CE}\big(y, h(f(x))\big)[x\ \text{labeled}] + \lambda\,\mathrm{BCE}"
             r"\big(x, g(f(x))\big) + \eta\,\big(\overline{H(p(y|x))} - H(\overline{p(y|x)})\big)"
             r"[x\ \text{unlabeled}]")
    st.write(f"**Fair by construction.** {C.FAIRNESS_TEXT}")

left, right = st.columns([1, 2.2], gap="large")
with left:
    sweep = st.toggle("Sweep over labels per class", key="keep_cmp_sweep", disabled=busy, help="1, 5, 10, 50, 100, all")
    lpc = st.select_slider("Labels per class", [1, 5, 10, 50, 100, "all"], value=10, key="keep_cmp_lpc",
                           disabled=busy or sweep, help="The rest of the training images are unlabeled.")
    steps = st.select_slider("Budget: optimiser steps per model", [20, 50, 100, 200, 500, 1000, 2000],
                             value=1000, key="keep_cmp_steps", disabled=busy)
    seeds = st.number_input("Seeds (label draws)", 1, 5, 3, key="keep_cmp_seeds", disabled=busy)
    variant = st.radio("Hybrid variant", C.VARIANTS, horizontal=True, key="keep_cmp_variant", disabled=busy,
                       help="joint: CE + lambda x reconstruction from the start. pretrain: the first 30% of "
                            "the steps reconstruct only (labels hidden), then fine-tune with both.")
    lam = st.slider("lambda (reconstruction weight)", 0.0, 5.0, C.CompareConfig.lam, 0.1, key="keep_cmp_lam",
                    disabled=busy)
    ent = st.slider("eta (entropy weight on unlabeled images)", 0.0, 3.0, C.CompareConfig.entropy, 0.1,
                    key="keep_cmp_entropy", disabled=busy, help="0: the plain multi-task loss CE + lambda x recon"
                    "struction. Above 0: also confident predictions on unlabeled images, spread over the classes.")

    def start() -> None:
        kw = {"steps": int(steps), "variant": variant, "lam": float(lam), "entropy": float(ent)}
        level = None if lpc == "all" else int(lpc)
        levels = list(C.LABEL_LEVELS) if sweep else None
        tab.extra["cmp_job"] = C.CompareJob(tab.dataset, level, int(seeds), **kw, sweep_levels=levels).start()

    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", on_click=start, disabled=busy, key="cmp_start",
              icon=":material/play_arrow:", width="stretch")
    b2.button("Stop", on_click=lambda: job.stop(), disabled=not busy, key="cmp_stop",
              icon=":material/stop:", width="stretch")
    saved = C.list_comparisons()
    if saved:
        pick = st.selectbox("Saved comparisons", [c["id"] for c in saved], key="cmp_saved", format_func=lambda i: next(
            f"{c['dataset']}, {c['labels_per_class']}/class, {c['variant']}: CNN {c['cnn']:.1%} vs hybrid "
            f"{c['hybrid']:.1%} ({c['created'][:16].replace('T', ' ')})" for c in saved if c["id"] == i))
        if st.button("Load", key="cmp_load", icon=":material/folder_open:", disabled=busy):
            tab.extra["cmp_result"] = C.load_comparison(pick)


def show_result(r: C.ComparisonResult) -> None:
    """Accuracy mean +- std, curves, confusion matrices and disagreement examples of one comparison."""
    m = r.models
    if not r.seeds_done:
        st.warning("No seed was completed, so there is nothing to show.")
        return
    c = st.columns(3)
    for col, role in zip(c, C.ROLES):
        col.metric(C.TITLES[role], f"{m[role].mean:.1%} ± {m[role].std:.1%}",
                   help=f"mean ± std of the test accuracy over {len(r.seeds_done)} seed(s)")
    c[2].metric("hybrid − CNN", f"{m['hybrid'].mean - m['cnn'].mean:+.1%}",
                help="seconds per seed: " + ", ".join(f"{C.TITLES[k]} {fmt_seconds(sum(v.seconds) / len(v.seconds))}"
                                                      for k, v in m.items()))
    lpc = r.config.labels_per_class or "all"
    st.caption(f"{r.config.dataset}, {lpc} labels per class, {r.config.steps} steps, {r.config.variant}, "
               f"λ={r.config.lam:g}, η={r.config.entropy:g}; scored on {r.eval_spec}. {r.message}")
    st.plotly_chart(C.curves_figure({k: v.curves for k, v in m.items()}), width="stretch", key="cmp_curves")
    si = st.selectbox("Seed", range(len(r.seeds_done)), format_func=lambda i: f"seed {r.seeds_done[i]}",
                      key="cmp_seed") if len(r.seeds_done) > 1 else 0
    for col, role in zip(st.columns(2), C.ROLES):
        col.plotly_chart(C.confusion_figure(m[role].confusion[si], r.classes,
                                            f"{C.TITLES[role]}: {m[role].accuracy[si]:.1%}"),
                         width="stretch", key=f"cmp_cm_{role}")
    try:
        x, _, _ = C.eval_split(state.dataset(r.config.dataset), r.config.eval_dataset)
    except DatasetError as e:
        st.info(f"Example images unavailable: {e}")
        return
    d = r.disagreements(si)
    c = st.columns(2)
    for col, (key, title) in zip(c, [("hybrid_right_cnn_wrong", "Hybrid right, CNN wrong"),
                                     ("cnn_right_hybrid_wrong", "CNN right, hybrid wrong")]):
        idx = d[key][:24]
        col.markdown(f"**{title}**: {len(d[key])} image(s)")
        if idx:
            col.image(grid_image(x[idx], nrow=8, scale=upscale_for(x.shape[-1])), width="stretch",
                      caption="CNN said: " + " ".join(r.classes[m["cnn"].predictions[si][i]] for i in idx) +
                      " · hybrid said: " + " ".join(r.classes[m["hybrid"].predictions[si][i]] for i in idx))


@st.fragment(run_every=REFRESH_S if busy else None)
def live() -> None:
    """Progress and live learning curves while the job runs; one full rerun when it ends."""
    if job is None:
        return
    if not job.active:
        if ss.pop("_cmp_was_active", False):
            st.rerun()  # redraw the whole page (results, enabled widgets) once
        return
    ss["_cmp_was_active"] = True
    s = job.snapshot()
    if s["state"] == "queued":
        st.info(f"Waiting for a free training slot (number {max(1, s['queue_position'])} in the queue).")
        return
    st.progress(s["fraction"], text=f"{C.TITLES.get(s['role'], '...')} · seed {s['seed_index'] + 1}/"
                f"{max(1, s['n_seeds'])} · step {s['step']:,}/{s['total_steps']:,} · "
                f"{fmt_seconds(s['elapsed'])} elapsed")
    st.plotly_chart(C.curves_figure({k: [v] for k, v in s["curves"].items()}), width="stretch", key="cmp_live")


with right:
    live()
    if job is not None and job.state == "failed":
        st.error(f"The comparison could not run: {job.error}")
    elif job is not None and job.state == "stopped" and not busy:
        st.warning(f"Stopped: {job.message or 'no seed completed'}. Complete seeds are kept and saved.")
    res = tab.extra.get("cmp_result")
    if isinstance(res, C.SweepResult):
        rows = res.rows()
        st.plotly_chart(C.sweep_figure(rows), width="stretch", key="cmp_sweep_fig")
        st.dataframe(pd.DataFrame([{"labels/class": r["labels_per_class"], **{
            C.TITLES[k]: f"{r[k]['mean']:.1%} ± {r[k]['std']:.1%}" for k in C.ROLES}} for r in rows]),
            hide_index=True, key="cmp_sweep_table")
        if res.results:
            show_result(res.results[st.selectbox("Details of", range(len(rows)), key="cmp_level",
                                                 format_func=lambda i: f"{rows[i]['labels_per_class']} per class")])
    elif isinstance(res, C.ComparisonResult):
        if job is not None and job.result is res and res.status == "finished":
            st.success(f"Done in {fmt_seconds(job.ended_at - job.started_at)}: {res.message}. "
                       "Every model is saved as a run.")
        show_result(res)
    elif not busy:
        st.info("Choose the labels per class and the budget on the left, and press **Start**. On MNIST-5k "
                "with 10 labels per class, one seed takes 1-2 minutes for both models.")
