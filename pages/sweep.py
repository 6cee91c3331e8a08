"""What if: one knob over a few values, trained one after the other, then the metric against the knob."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.models import MODELS, ConfigError
from core.series import compression_rows, parse_values, png_bytes, sweep_members, sweepable_knobs
from ui import state
from ui.format import plain
from ui.series_view import series_progress, start_series
from ui.side_by_side import labels_for, show_reconstructions
from ui.sweep_view import DEFAULT_VALUES, compression_figure, metric_figure

tab, ss = state.tab(), st.session_state
busy = tab.series_busy
st.title("What if...")
st.caption("Change one knob over a few values; each value is trained in turn (one queue slot, with progress) "
           "and saved as a run. Then see the result against the knob.")


@st.cache_data(max_entries=8, show_spinner=False)
def _png_bytes(spec: str) -> float:
    return png_bytes(state.dataset(spec).split("test")[0][:200].numpy())


left, right = st.columns([1, 2.2], gap="large")
with left:
    families = [n for n in MODELS if sweepable_knobs(n) and not MODELS[n].approximate_encoder]
    model = st.selectbox("Model", families, format_func=lambda n: MODELS[n].title, key="sw_model", disabled=busy)
    knobs = dict(sweepable_knobs(model))
    knob = st.selectbox("Knob", list(knobs), format_func=knobs.get, key=f"sw_knob_{model}", disabled=busy)
    text = st.text_input("Values (comma-separated)", DEFAULT_VALUES.get(knob, ""), key=f"sw_values_{model}_{knob}",
                         disabled=busy)
    epochs = st.number_input("Epochs per value", 1, 100, 5, key="sw_epochs", disabled=busy)

    def start() -> None:
        try:
            members = sweep_members(model, knob, parse_values(text))
        except (ValueError, ConfigError) as e:
            ss["sw_error"] = str(e)
            return
        start_series(members, "sweep", {"epochs": int(epochs)}, f"Sweep of {knobs[knob].lower()}", knob=knob)

    st.button("Start the sweep", type="primary", on_click=start, disabled=busy, key="sw_start",
              icon=":material/play_arrow:", width="stretch")
    if err := ss.pop("sw_error", None):
        st.error(plain(err, 600))  # it quotes the values as typed (a shared link may have set them)
    st.caption("Labels per class is swept on the **Hybrid vs CNN** page (its own sweep, with seeds).")

with right:
    series_progress("sweep", "sw")
    job = tab.series_job if tab.series_for == "sweep" else None
    rows = [r for r in (job.rows if job else []) if r["status"] == "finished"]
    if not rows:
        if not busy:
            st.info("Pick a model, a knob and its values, and press **Start the sweep**. With the defaults "
                    "(5 latent sizes, 5 epochs each) it takes a few minutes on MNIST-5k.")
        st.stop()
    label = dict(sweepable_knobs(rows[0]["model"])).get(job.knob, job.knob)
    st.plotly_chart(metric_figure(rows, label), key="sw_metric", width="stretch", config={"displayModeBar": False})
    runs = [r for r in (state.run_at(row["run_path"]) for row in rows) if r is not None]
    ds = state.dataset(runs[0].dataset) if runs else None
    if job.knob == "latent_dim" and ds is not None and "recon_bce" in rows[0]["metrics"]:
        st.subheader("Autoencoders as compressors")
        table = compression_rows(rows, _png_bytes(ds.spec), int(ds.x_train[0].numel()))
        st.plotly_chart(compression_figure(table), key="sw_compress", width="stretch",
                        config={"displayModeBar": False})
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch", key="sw_table")
        st.caption("Code bytes: the latent numbers as 32-bit floats (4 bytes each), without the decoder the "
                   "receiver must already have. PNG: the mean size of 200 test images saved losslessly.")
    if ds is not None and runs and runs[0].meta.get("family") == "latent":
        st.subheader("The same test images, rebuilt at each value")
        show_reconstructions(runs, labels_for(runs), ds, px=56)
