"""The user-visible bugs the redesign fixed (issue 8, items 1-7), each reproduced through the app."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.jobs
from core.codes import recon_errors
from core.datasets import load_dataset
from core.engine import TrainConfig
from core.jobs import JobSlots
from core.pipeline import train_and_save
from tests.app.conftest import APP, open_page, poll


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _tab(at):
    from ui.state import _tabs
    return _tabs()[at.query_params["s"]]


def _reload(at, page: str | None = None) -> AppTest:
    """The same browser tab opened again: same ?s= id, fresh session_state (page None: app.py with its sidebar)."""
    again = AppTest.from_file(str(APP), default_timeout=60)
    again.query_params["s"] = at.query_params["s"]
    if page:
        again.switch_page(page)
    again.run()
    return again


def _sidebar_text(at) -> str:
    """The sidebar's captions, as the whole app (app.py) draws them."""
    return " | ".join(c.value for c in _reload(at).sidebar.caption)


@pytest.fixture
def full_slots(monkeypatch):
    """Every training slot taken, so a started job stays queued (a training 'in flight')."""
    slots = JobSlots(1)
    slots.acquire(-1, threading.Event())
    monkeypatch.setattr(core.jobs.slots, "SLOTS", slots)  # what a new Job takes
    monkeypatch.setattr(core.jobs, "SLOTS", slots)  # what the pages read
    yield slots
    slots.release(-1)


def test_1_reload_during_training_shows_the_job_model_and_knobs(full_slots):
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("gan").run()
    at.select_slider(key="form_gan_latent_dim").set_value(16).run()
    at.button(key="train_start").click().run()
    _ok(at)
    again = _reload(at, "pages/train.py")
    _ok(again)
    assert again.selectbox(key="form_model").value == "gan"
    assert again.select_slider(key="form_gan_latent_dim").value == 16
    assert again.selectbox(key="form_model").disabled
    _tab(again).job.stop()


def test_1_preset_fills_the_train_form(full_slots):
    at = open_page()
    at.button(key="preset_vae-2d").click().run()
    _ok(at)
    assert at.selectbox(key="form_model").value == "vae"
    assert at.select_slider(key="form_vae_latent_dim").value == 2
    assert at.number_input(key="form_vae_epochs").value == 15
    _tab(at).job.stop()


def test_2_sidebar_names_the_model_and_follows_the_job(full_slots):
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("gan").run()
    at.button(key="train_start").click().run()
    text = _sidebar_text(at)
    assert "Training a GAN (DCGAN): waiting in the queue" in text and "gan:" not in text
    _tab(at).job.stop()


def test_2_sidebar_progress_matches_the_job():
    at = open_page("pages/train.py")
    at.number_input(key="form_cae_epochs").set_value(300).run()
    at.button(key="train_start").click().run()
    job = _tab(at).job
    # At least 2% done, so the sidebar's whole percent cannot honestly read 0 (300 epochs: ~19,000 steps)
    poll(at, lambda a: job.snapshot()["progress"] >= 0.02, timeout=120, every=0.3)
    pct = int(job.snapshot()["progress"] * 100)
    text = _sidebar_text(at)
    job.stop()
    assert "Training a convolutional autoencoder:" in text
    shown = int(text.split("Training a convolutional autoencoder: ")[1].split("%")[0])
    assert shown > 0 and abs(shown - pct) <= 2


def test_3_done_message_only_claims_current_while_it_is(cae_digits_run):
    at = open_page("pages/train.py")
    at.number_input(key="form_cae_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=120)
    assert "now the current model" in at.success[0].value
    _tab(at).run_path = str(cae_digits_run)  # the user made another run current (Runs page)
    at.run()
    _ok(at)
    assert "now the current model" not in at.success[0].value
    assert "another run is current" in at.success[0].value


def test_4_reconstruction_errors_follow_the_dataset(cae_digits_run, tmp_path):
    digits = load_dataset("digits")
    other = tmp_path / "inverted.npz"  # same 1x8x8 shape, different images
    np.savez(other, x=1.0 - digits.x_train.numpy()[:, 0], y=digits.y_train.numpy())
    at = open_page("pages/reconstructions.py", run_path=cae_digits_run)
    first = at.metric[0].value
    _tab(at).uploads[f"npz:{other}"] = "inverted.npz (uploaded)"  # a tab opens only files it uploaded
    _tab(at).dataset = f"npz:{other}"
    at.run()
    _ok(at)
    from core.store import load_run
    ds = load_dataset(f"npz:{other}")
    expected = recon_errors(load_run(cae_digits_run).model, ds.x_test).mean()
    assert at.metric[0].value == f"{expected:.4f}" != first


def test_5_an_uploaded_dataset_is_parsed_once(tmp_path, monkeypatch):
    import core.datasets.files as files
    digits = load_dataset("digits")
    path = tmp_path / "mine.npz"
    np.savez(path, x=digits.x_train.numpy()[:300, 0], y=digits.y_train.numpy()[:300])
    calls = []
    real = files.load_file_spec
    monkeypatch.setattr(files, "load_file_spec", lambda *a, **k: calls.append(a) or real(*a, **k))
    import core.datasets.registry as registry
    monkeypatch.setattr(registry, "load_file_spec", files.load_file_spec, raising=False)
    at = open_page("pages/train.py", dataset=f"npz:{path}")
    _tab(at).uploads[f"npz:{path}"] = "mine.npz (uploaded)"  # a tab opens only files it uploaded
    at.selectbox(key="form_model").set_value("ae").run()
    at.number_input(key="form_ae_epochs").set_value(1).run()
    for _ in range(2):
        at.button(key="train_start").click().run()
        poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=120)
    assert len(calls) == 1


@pytest.fixture(scope="module")
def vae2_run(tmp_path_factory):
    path, *_ = train_and_save("vae", {"latent_dim": 2}, "digits", TrainConfig(epochs=1, batch_size=128),
                              root=tmp_path_factory.mktemp("runs"))
    return path


def test_6_no_flat_third_pca_axis_for_a_2d_latent(vae2_run):
    at = open_page("pages/latent_space.py", run_path=vae2_run)
    _ok(at)
    assert at.radio(key="keep_ls_dim").options == ["2"]
    at.radio(key="keep_ls_method").set_value("umap").run()
    assert at.radio(key="keep_ls_dim").options == ["2", "3"]  # UMAP can lay 2 numbers out in 3-D


def test_6_one_seed_has_no_spread():
    from core.compare import run_comparison
    result = run_comparison("digits", 5, [0], steps=20, save=False)
    at = open_page("pages/compare.py")
    _tab(at).compare_result = result
    at.run()
    _ok(at)
    values = [m.value for m in at.metric]
    assert values and not any("±" in v for v in values[:2])


def test_6_gan_note_says_first_n_only_when_it_cuts(tmp_path):
    gan, *_ = train_and_save("gan", {"encode_steps": 5}, "digits", TrainConfig(epochs=1, batch_size=128),
                             root=tmp_path)
    at = open_page("pages/latent_space.py", run_path=gan)
    _ok(at)
    note = " ".join(w.value for w in at.warning)
    assert "approximate" in note and "first" not in note  # 359 test images: all of them are shown


def test_6_articles_and_runs_folder(tmp_path):
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("ae").run()
    assert at.expander[0].label == "How an autoencoder (MLP) learns"
    home = open_page()
    import os
    assert any(os.environ["LATENT_LAB_HOME"] in c.value for c in home.caption)


def test_7_ten_distinct_class_colours_and_visible_unselected_points():
    from ui.figures import UNSELECTED_OPACITY, projection_figure
    rng = np.random.default_rng(0)
    fig = projection_figure(rng.normal(size=(200, 2)), np.arange(200) % 10, [str(i) for i in range(10)])
    colours = [t.marker.color for t in fig.data]
    assert len(colours) == 10 and len(set(colours)) == 10
    assert all(t.unselected.marker.opacity == UNSELECTED_OPACITY >= 0.25 for t in fig.data)
