"""AppTest, issue 13: the pages show a VAE's nats, sample quality (live for a GAN), and a fast GAN encoder."""
from __future__ import annotations

import pytest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import open_page, poll


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def vae_run(runs_root):
    path, *_ = train_and_save("vae", {"latent_dim": 4}, "digits", TrainConfig(epochs=1, batch_size=128),
                              root=runs_root)
    return path


@pytest.fixture(scope="module")
def gan_run(runs_root):
    path, *_ = train_and_save("gan", {"width": 16}, "digits", TrainConfig(epochs=1, batch_size=128),
                              root=runs_root)
    return path


def test_runs_table_shows_nats_and_sample_quality(vae_run, gan_run, monkeypatch, runs_root):
    monkeypatch.setenv("LATENT_LAB_HOME", str(runs_root))
    at = open_page("pages/runs.py")
    _ok(at)
    df = at.dataframe[0].value
    rows = {r["model"]: r for _, r in df.iterrows()}
    assert rows["vae"]["result"].startswith("−ELBO ") and rows["vae"]["result"].endswith(" nats")
    assert rows["gan"]["samples"].startswith("FD ") and "· P " in rows["gan"]["samples"]
    assert rows["vae"]["samples"].startswith("FD ")
    notes = " ".join(c.value for c in at.caption)
    assert "nats per test image" in notes and "Fréchet distance" in notes


def test_latent_space_of_a_gan_with_an_encoder_needs_no_warning(gan_run):
    at = open_page("pages/latent_space.py", run_path=gan_run)
    _ok(at)
    assert not any("approximate" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1


def test_training_a_vae_reports_nats_and_a_gan_a_live_quality_curve():
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("vae").run()
    at.number_input(key="form_vae_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=180)
    _ok(at)
    done = " ".join(s.value for s in at.success)
    assert "−ELBO" in done and "nats/image" in done and "IWAE bound (k=16)" in done
    assert any("nats per test image" in c.value for c in at.caption)

    at.selectbox(key="form_model").set_value("gan").run()
    at.number_input(key="form_gan_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=240)
    _ok(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 2, "loss curve and the live sample-quality curve"
    assert any("Live sample quality" in c.value for c in at.caption)
    # The sample-quality scores come a few seconds after "Done" (issue 23): the worker scores them after.
    poll(at, lambda a: "samples: FD" in " ".join(s.value for s in a.success), timeout=120)
    _ok(at)


def test_done_comes_first_and_the_sample_scores_follow(monkeypatch):
    # Issue 23: "Done" is drawn before the sample-quality scores; a caption says they are coming.
    import threading

    from core import pipeline
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")  # the gate below lives in this process
    gate, real = threading.Event(), pipeline.sample_quality
    monkeypatch.setattr(pipeline, "sample_quality", lambda *a, **k: (gate.wait(120), real(*a, **k))[1])
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("vae").run()
    at.number_input(key="form_vae_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    try:
        poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=180)
        _ok(at)
        assert "samples: FD" not in " ".join(s.value for s in at.success)
        assert any("Scoring its samples" in c.value for c in at.caption)
    finally:
        gate.set()
    poll(at, lambda a: "samples: FD" in " ".join(s.value for s in a.success), timeout=120)
    _ok(at)
    assert not any("Scoring its samples" in c.value for c in at.caption)
