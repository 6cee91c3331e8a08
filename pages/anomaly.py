"""Anomaly detection: train on normal images only, flag what the model rebuilds badly."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.anomaly import AnomalyConfig, AnomalyResult, BenchmarkResult, anomaly_families
from core.datasets import DATASETS, DatasetError, is_available_offline
from core.jobs import AnomalyJob
from core.models import get_spec
from ui import state
from ui.controls import control
from ui.anomaly_view import METHOD_TEXT, show_benchmark, show_result
from ui.figures import loss_figure
from ui.format import fmt_seconds, plain
from ui.live import live_snapshot

REFRESH_S = 1.0
tab = state.tab()
job = tab.anomaly_job
busy = bool(job and job.active)
if job is not None and not busy and job.result is not None and tab.anomaly_adopted != job.id:
    tab.anomaly_adopted, tab.anomaly_result = job.id, job.result  # show a finished job once

st.title("Anomaly detection")
st.caption("Train an autoencoder on normal images only; whatever it rebuilds badly is flagged as an anomaly.")
with st.expander("How it works, and how to read the ROC curve"):
    st.write(METHOD_TEXT)
try:
    ds = state.dataset()
except DatasetError as e:
    st.error(plain(e, 600))
    st.stop()

left, right = st.columns([1, 2.2], gap="large")
with left:
    bench = st.toggle("One-class benchmark", **control("keep_an_bench"), disabled=busy or not ds.labeled,
                      help="Each class in turn is the normal one; a table of AUCs and their mean "
                           "(the protocol of Ruff et al. 2018).") and ds.labeled
    normal, suspects = None, None
    if bench:
        st.caption(f"{ds.n_classes} detectors, one per class of {plain(ds.title)}, each scored on the test split.")
    elif ds.labeled:
        normal = st.multiselect("Normal class(es)", default=[0],
                                **control("keep_an_normal", choices=range(ds.n_classes)),
                                format_func=ds.classes.__getitem__, disabled=busy,
                                help="The model sees only these while training; every other class is an anomaly.")
    else:
        st.caption(f"{plain(ds.title)} has no labels: all of it is normal. Pick the suspects to score below.")
    def fits(spec: str) -> bool:  # another dataset of this image size, loadable now (cached per server)
        try:
            return spec != ds.spec and is_available_offline(spec) and state.dataset(spec).shape == ds.shape
        except DatasetError:
            return False

    if not bench:
        others = [s for s in [*DATASETS, *tab.uploads] if fits(s)]
        suspects = st.selectbox("Score on", **control("keep_an_eval", choices=["", *others]), disabled=busy,
                                format_func=lambda s: tab.uploads.get(s, s) or ("its test split" if ds.labeled else "(pick)"),
                                help="Another dataset of the same image size: its images count as suspects "
                                     "(if it has the same classes, its labels decide).")
    families = anomaly_families()
    model = st.selectbox("Model", index=families.index(AnomalyConfig.model),
                         **control("keep_an_model", choices=families), disabled=busy,
                         format_func=lambda n: get_spec(n).title)
    epochs = st.slider("Epochs", value=AnomalyConfig.epochs, **control("keep_an_epochs"), disabled=busy)
    seed = st.number_input("Seed", value=0, **control("keep_an_seed"), disabled=busy)

    def start() -> None:
        sus = state.dataset(suspects) if suspects else None  # parsed here: a worker never re-reads a path
        normals = None if bench or normal is None else tuple(sorted(normal))  # the benchmark sets its own
        cfg = AnomalyConfig(ds, normals, model, eval_dataset=sus, seed=int(seed), epochs=int(epochs))
        tab.anomaly_job = AnomalyJob(cfg, benchmark=bench).start(state.browser_here())

    b1, b2 = st.columns(2)
    b1.button("Start", type="primary", on_click=start, key="an_start", icon=":material/play_arrow:",
              width="stretch", disabled=busy or (normal is not None and not normal) or (
                  not bench and normal is None and not suspects))
    b2.button("Stop", on_click=lambda: job.stop(), disabled=not busy, key="an_stop", icon=":material/stop:",
              width="stretch")


@st.fragment(run_every=REFRESH_S if busy else None)
def live() -> None:
    """Progress, the live loss curve and the AUCs of finished classes; one full rerun when the job ends."""
    s = live_snapshot(job, "an")
    if s is None:
        return
    task = f" (class {s['task'] + 1} of {s['n_tasks']})" if s["n_tasks"] > 1 else ""
    what = "scoring" if s["stage"] == "score" else f"step {s['step']:,}/{s['total_steps']:,}"
    st.progress(s["fraction"], text=f"Normal: {plain(s['normal'] or '...')}{task} · {what} · "
                f"{fmt_seconds(s['elapsed'])} elapsed")
    if s["curve"]["step"]:
        st.plotly_chart(loss_figure(s["curve"], height=260), width="stretch", key="an_live_loss")
    if s["done"]:
        st.dataframe(pd.DataFrame({"normal": list(s["done"]), "ROC AUC": list(s["done"].values())}),
                     hide_index=True, key="an_live_done")


with right:
    live()
    if job is not None and job.state == "failed":
        st.error(plain(f"Anomaly detection could not run: {job.error}", 600))
    elif job is not None and job.state == "stopped" and not busy:
        st.warning("Stopped. " + ("Completed classes are shown." if job.benchmark else
                                  "The scores below come from the model as far as it got."))
    res = tab.anomaly_result
    if isinstance(res, BenchmarkResult):
        show_benchmark(res)
    elif isinstance(res, AnomalyResult):
        show_result(res)
    elif not busy:
        st.info("Pick the normal class(es) and a model on the left and press **Start**. On MNIST-5k a "
                "convolutional autoencoder trains on one digit in a few seconds.")
