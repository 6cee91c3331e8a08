"""Issue 22, item 5: every job has a wall-clock ceiling (LATENT_LAB_JOB_MAX_MINUTES) in each way a job runs,
a stop says who asked for it (the ceiling, the server's owner), and a run's settings are held to the Train
form's limits with the server's own checkpoint interval allowed."""
from __future__ import annotations

import json
import time

import pytest

from core.engine import TrainConfig
from core.jobs import CompareJob, JobSlots, StopSignal, TrainJob, live_jobs
from core.pipeline import form_settings
from core.series import SeriesJob, sweep_members
from core.store import META

AE = {"latent_dim": 2, "hidden": [16]}
LONG = TrainConfig(epochs=500, batch_size=16, preview_every=0)  # far more than the ceiling lets it do
NOTE = "LATENT_LAB_JOB_MAX_MINUTES"


def _running_steps(job, steps: int = 3) -> None:
    """Wait until the job has trained a few steps (progress, not time: no timed assertion)."""
    while job.active and job.snapshot().get("step", 0) < steps:
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_training_stops_at_the_ceiling_and_its_saved_run_says_why(mode, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_LAB_JOBS", mode)
    monkeypatch.setenv("LATENT_LAB_JOB_MAX_MINUTES", "0.02")  # 1.2 s
    job = TrainJob("ae", AE, "digits", LONG, root=tmp_path, slots=JobSlots(1), watch=False).start()
    job.join(300)
    assert job.state == "stopped" and job.timed_out, (job.state, job.error)
    assert NOTE in job.message and "0.02 minutes" in job.message and "by the user" not in job.message
    assert job.message.count(NOTE) == 1
    meta = json.loads((job.run_path / META).read_text())  # the model so far is saved, and says why it stopped
    assert meta["status"] == "stopped" and NOTE in meta["reason"] and "by the user" not in meta["reason"]
    assert job not in live_jobs()


def test_a_series_stops_at_the_ceiling(monkeypatch, tmp_path, digits):
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")
    monkeypatch.setenv("LATENT_LAB_JOB_MAX_MINUTES", "0.02")
    job = SeriesJob(sweep_members("ae", "latent_dim", [2, 4]), digits, {"epochs": 500, "batch_size": 16},
                    root=tmp_path, slots=JobSlots(1)).start()
    job.join(300)
    assert job.state == "stopped" and job.timed_out and NOTE in job.message
    assert [r["status"] for r in job.rows] == ["stopped"]  # the member cut short is kept, the next never began


def test_a_comparison_stops_at_the_ceiling_and_says_so_not_by_the_user(monkeypatch, tmp_path, digits):
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")
    monkeypatch.setenv("LATENT_LAB_JOB_MAX_MINUTES", "0.02")
    job = CompareJob(digits, 3, [5], root=tmp_path, slots=JobSlots(1), steps=100_000, eval_every=1000,
                     labeled_batch=8, unlabeled_batch=16, save=False).start()
    job.join(300)
    assert job.state == "stopped" and job.timed_out, (job.state, job.error)
    assert NOTE in job.message and "by the user" not in job.message


def test_the_owner_stopping_a_job_is_named_in_its_message(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")
    job = TrainJob("ae", AE, "digits", LONG, root=tmp_path, slots=JobSlots(1), watch=False).start()
    _running_steps(job)
    job.stop("stopped by the server's owner")
    job.join(120)
    assert job.state == "stopped" and not job.timed_out
    assert job.message.startswith("stopped by the server's owner at step")


def test_no_ceiling_when_the_owner_sets_none(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")
    monkeypatch.setenv("LATENT_LAB_JOB_MAX_MINUTES", "0")
    job = TrainJob("ae", AE, "digits", TrainConfig(epochs=1, preview_every=0), root=tmp_path, slots=JobSlots(1),
                   watch=False).start()
    job.join(120)
    assert job.state == "finished" and job.ceiling == 0 and not job.timed_out


def test_a_stop_signal_keeps_the_first_reason():
    s = StopSignal()
    assert not s.is_set() and s.why == ""
    s.set("stopped at the limit")
    s.set("stopped by the server's owner")
    assert s.is_set() and s.why == "stopped at the limit"


def test_the_servers_own_checkpoint_interval_is_within_the_form(monkeypatch):
    with pytest.raises(ValueError, match="checkpoint every 1 s"):
        form_settings({"checkpoint_every_s": 1.0})
    monkeypatch.setenv("LATENT_LAB_CHECKPOINT_S", "0.5")  # the owner checkpoints often: its runs must resume
    assert form_settings({"checkpoint_every_s": 0.5}).checkpoint_every_s == 0.5
    with pytest.raises(ValueError, match="at least 0.5"):
        form_settings({"checkpoint_every_s": 0.1})


@pytest.mark.parametrize("train, needle", [
    ({"epochs": 10_000, "batch_size": 1}, "10,000 epochs"), ({"max_steps": 0}, "max_steps"),
    ({"lr_schedule": "wild"}, "lr_schedule"), ({"epochs": "10"}, "not a valid value"), ("x", "damaged")])
def test_form_settings_refuse_in_one_line(train, needle):
    with pytest.raises(ValueError, match=needle) as e:
        form_settings(train)
    assert "\n" not in str(e.value)
