"""What-if sweeps: bad values are one line; a latent-size sweep ends in the compression curve."""
from __future__ import annotations

import pytest

from tests.app.conftest import open_page, poll


@pytest.fixture(autouse=True)
def _stop_series():
    yield
    from ui.state import _tabs
    for t in list(_tabs().values()):
        if t.series_job is not None:
            t.series_job.stop()
            t.series_job.join(60)


def test_bad_values_are_refused_in_one_line():
    at = open_page("pages/sweep.py")
    at.selectbox(key="sw_model").set_value("vae").run()
    at.selectbox(key="sw_knob_vae").set_value("beta").run()
    at.text_input(key="sw_values_vae_beta").input("1, -2").run()
    at.button(key="sw_start").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "beta" in at.error[0].value and ">= 0" in at.error[0].value


def test_latent_size_sweep_gives_metric_plot_and_compression_table():
    at = open_page("pages/sweep.py")
    at.selectbox(key="sw_model").set_value("ae").run()
    at.text_input(key="sw_values_ae_latent_dim").input("2, 8").run()
    at.number_input(key="sw_epochs").set_value(1).run()
    at.button(key="sw_start").click().run()
    assert not at.exception
    poll(at, lambda a: bool(a.dataframe) and len(a.dataframe[0].value) == 2, timeout=240)  # rows appear as they finish
    assert not at.exception, [e.value for e in at.exception]
    df = at.dataframe[0].value
    assert list(df["latent size"]) == [2, 8] and list(df["code bytes"]) == [8, 32]
    assert (df["PNG bytes"] > 0).all() and (df["raw bytes"] == 64).all()  # 8x8 digits
    assert df["test BCE"].notna().all()
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) == 2  # the metric plot and the compression curve
    assert len(at.image) >= 3  # originals + one row per latent size
