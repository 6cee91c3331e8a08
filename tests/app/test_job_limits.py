"""Issue 22, item 5: Train again and Resume stay within the Train form's limits, every job has a wall-clock
ceiling, and the admin token stops anyone's job from the Runs page."""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import replace

import pytest

import core.jobs
import core.jobs.slots
from core.engine import FORM_EPOCHS, TrainConfig
from core.jobs import JobSlots, TrainJob, live_jobs
from core.pipeline import default_train_config, train_and_save
from core.presets import PRESETS
from core.models import MODELS
from core.store import META, list_runs
from tests.app.conftest import open_page, shown


def _tab(at):
    from ui.state import _tabs
    return _tabs()[at.query_params["s"]]


@pytest.mark.parametrize("change, needle", [
    ({"epochs": 10_000}, "10,000 epochs"), ({"batch_size": 1}, "batch size of 1"), ({"lr": 5.0}, "learning rate"),
    ({"preview_n": 1_000_000}, "preview images"), ({"preview_every": 1}, "a preview every 1 steps"),
    ({"snapshot_every": 1}, "snapshot"), ({"checkpoint_every_s": 0.0}, "checkpoint"), ({"threads": 64}, "CPU threads"),
    ({"device": "cuda:7; rm"}, "device")])
def test_settings_beyond_the_form_are_refused_in_words(change, needle):
    with pytest.raises(ValueError, match=needle) as e:
        replace(TrainConfig(), **change).within_form(cores=2)
    assert "Train page" in str(e.value) and "\n" not in str(e.value)


def test_every_default_and_preset_is_within_the_form():
    for name in MODELS:
        default_train_config(name).within_form(cores=1)
    for p in PRESETS:
        p.train_config().within_form(cores=1)
    assert FORM_EPOCHS == (1, 500)


def _uploaded_run(tmp_path, **train):
    """A run whose run.json asks for a huge training (as an uploaded one could), on the bundled digits."""
    path, *_ = train_and_save("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                              root=tmp_path / "runs", checkpoints=False)
    meta = json.loads((path / META).read_text())
    meta["train"].update(train)
    (path / META).write_text(json.dumps(meta))
    return path


def test_train_again_of_a_run_beyond_the_form_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    _uploaded_run(tmp_path, epochs=10_000, batch_size=1)
    at = open_page("pages/runs.py")
    at.button(key="runs_again").click().run()
    assert not at.exception
    assert _tab(at).job is None
    errors = " ".join(shown(e.value) for e in at.error)
    assert "cannot be trained again" in errors and "10,000 epochs" in errors and "batch size of 1" in errors


def test_resume_of_an_interrupted_run_beyond_the_form_starts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    path = _uploaded_run(tmp_path, epochs=10_000)
    meta = json.loads((path / META).read_text())
    meta.update({"status": "running", "progress": {"step": 1, "total_steps": 10}, "pid": 999_999_999,
                 "host": socket.gethostname()})  # its process is gone
    (path / META).write_text(json.dumps(meta))
    (path / "checkpoint.pt").write_bytes(b"")  # an interrupted training keeps its checkpoint beside run.json
    assert list_runs()[0]["status"] == "running"
    at = open_page("pages/runs.py")
    resume = [b for b in at.button if b.key == f"resume_{path.name}"]
    assert resume, "the interrupted run offers Resume"
    resume[0].click().run()
    assert not at.exception and _tab(at).job is None
    assert any("cannot be resumed" in shown(e.value) and "10,000 epochs" in shown(e.value) for e in at.error)


def test_a_job_stops_at_the_servers_ceiling_and_keeps_its_model(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_JOB_MAX_MINUTES", "0.05")  # 3 s
    job = TrainJob("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=500, preview_every=0),
                   root=tmp_path / "runs", slots=JobSlots(1), watch=False).start()
    job.join(120)
    assert job.state == "stopped" and job.timed_out
    assert "LATENT_LAB_JOB_MAX_MINUTES" in job.message and "0.05 minutes" in job.message
    assert job.run_path is not None and (job.run_path / META).is_file()  # what it learned is saved
    assert job not in live_jobs()


@pytest.fixture
def full_slots(monkeypatch):
    """Every training slot taken, so a started job stays queued."""
    slots = JobSlots(1)
    slots.acquire(-1, threading.Event())
    monkeypatch.setattr(core.jobs.slots, "SLOTS", slots)
    monkeypatch.setattr(core.jobs, "SLOTS", slots)
    yield slots
    slots.release(-1)


def test_the_admin_token_stops_another_tabs_job(full_slots, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_ADMIN_TOKEN", "s3cret")
    student = open_page("pages/train.py")
    student.number_input(key="form_cae_epochs").set_value(1).run()
    student.button(key="train_start").click().run()
    job = _tab(student).job
    assert job is not None and job.active and job in live_jobs()
    owner = open_page("pages/runs.py")  # another tab
    assert not [b for b in owner.button if b.key == f"admin_stop_{job.id}"]  # no token: no list, no Stop
    owner.text_input(key="admin_token").set_value("wrong").run()
    assert not [b for b in owner.button if b.key == f"admin_stop_{job.id}"]
    owner.text_input(key="admin_token").set_value("s3cret").run()
    assert not owner.exception
    owner.button(key=f"admin_stop_{job.id}").click().run()
    job.join(30)
    assert job.state == "stopped" and not job.active
