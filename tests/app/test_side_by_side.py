"""Side by side: two runs compared; a one-click contrast trains what it needs, then shows it."""
from __future__ import annotations

import pytest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from core.series import CONTRASTS, find_tagged
from tests.app.conftest import open_page, poll


@pytest.fixture(autouse=True)
def _stop_series():
    yield
    from ui.state import _tabs
    for t in list(_tabs().values()):
        if t.series_job is not None:
            t.series_job.stop()
            t.series_job.join(60)


def test_needs_two_runs_then_compares_them(cae_digits_run):
    at = open_page("pages/side_by_side.py", run_path=cae_digits_run)
    assert not at.exception
    assert any("at least two" in i.value for i in at.info)
    # cae_digits_run lives in another root; train two into this test's store.
    train_and_save("ae", {"latent_dim": 2}, "digits", TrainConfig(epochs=1, batch_size=128))
    train_and_save("vae", {"latent_dim": 2, "arch": "mlp"}, "digits", TrainConfig(epochs=1, batch_size=128))
    at = open_page("pages/side_by_side.py")
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.multiselect(key="sbs_runs").value) == 2
    df = at.dataframe[0].value
    assert len(df) == 2 and set(df["run"]) == {"AE, latent 2", "VAE, latent 2"}
    assert df["test BCE/pixel"].notna().all()
    assert len(at.get("plotly_chart")) == 2  # one map per run
    assert len(at.image) >= 3 + 2  # originals + a row per run, and samples
    at.radio(key="sbs_method").set_value("tsne").run()
    assert not at.exception


def test_contrast_trains_the_missing_runs_then_reuses_them():
    at = open_page("pages/side_by_side.py")
    at.number_input(key="sbs_epochs").set_value(1).run()
    at.button(key="sbs_ae-vs-vae").click().run()
    assert not at.exception
    from ui.state import _tabs

    # Until the contrast's job has ended, the table may show the newest runs first; then the contrast's order.
    poll(at, lambda a: not any(t.series_busy for t in _tabs().values()), timeout=240)
    at.run()
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df["run"]) == ["CAE, latent 2", "VAE, latent 2"]
    tags = [m.tag for m in CONTRASTS["ae-vs-vae"].members]
    first = [find_tagged(t, "digits")["id"] for t in tags]
    # A second click finds them: nothing is trained again.
    at.button(key="sbs_ae-vs-vae").click().run()
    assert all(t.series_job is None or t.series_job.rows for t in _tabs().values())
    assert [find_tagged(t, "digits")["id"] for t in tags] == first
    assert list(at.dataframe[0].value["id"]) == first
