"""Issue 23: a training's sample-quality scores come after its result ("Done" first), in a worker or a thread."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import core.pipeline as pipeline
from core.engine import TrainConfig
from core.jobs import JobSlots, TrainJob
from core.store import load_run, read_meta
from core.worker_tasks import Later, settle, train_task

QUALITY = {"fd", "precision", "recall", "class_coverage"}
CFG = TrainConfig(epochs=1, batch_size=128, preview_every=0)


def _task(tmp_path, model="vae", config=None):
    sent = []
    return train_task(lambda item, force=False: sent.append(item), threading.Event(), model, {"latent_dim": 4} if config is None else config,
                      "digits", CFG, str(tmp_path), None, None)


def test_a_sampling_model_reports_first_and_scores_its_samples_after(tmp_path):
    out = _task(tmp_path)
    assert isinstance(out, Later)
    run = Path(out.result["run_path"])
    assert not QUALITY & set(out.result["metrics"]) and not QUALITY & set(read_meta(run)["metrics"])
    assert "neg_elbo" in read_meta(run)["metrics"]  # the rest of the evaluation is there at once
    scores = out.then()
    assert set(scores) >= QUALITY and scores["fd"] > 0
    saved = read_meta(run)["metrics"]
    assert saved["fd"] == scores["fd"] and "neg_elbo" in saved  # merged: nothing the run had is lost
    assert read_meta(run)["timings"]["loop_started_at"] > 0  # bench/first_minute.py's "to the engine"


def test_a_model_without_samples_reports_everything_at_once(tmp_path):
    out = _task(tmp_path, "cnn", {})
    assert isinstance(out, dict) and "accuracy" in out["metrics"]


def test_settle_does_the_work_first_where_nothing_can_follow_a_report(tmp_path):
    done = []
    assert settle(Later({"a": 1}, lambda: done.append(1))) == {"a": 1} and done == [1]
    assert settle({"b": 2}) == {"b": 2}


def test_without_a_defer_list_the_run_is_scored_in_one_go(tmp_path):
    path, _, _, metrics = pipeline.train_and_save("vae", {"latent_dim": 4}, "digits", CFG, root=tmp_path)
    assert set(metrics) >= QUALITY and set(read_meta(path)["metrics"]) >= QUALITY


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_job_ends_then_gains_its_scores(tmp_path, monkeypatch, mode):
    monkeypatch.setenv("LATENT_LAB_JOBS", mode)
    slots = JobSlots(1)
    job = TrainJob("vae", {"latent_dim": 4}, "digits", CFG, root=tmp_path, slots=slots).start()
    job.join(180)
    snap = job.snapshot()
    assert snap["state"] == "finished" and not snap["following"] and snap["after_error"] is None
    assert set(snap["metrics"]) >= QUALITY | {"neg_elbo"}
    assert read_meta(job.run_path)["metrics"]["fd"] == snap["metrics"]["fd"]
    assert slots.running == 0


def test_the_slot_is_free_while_the_scores_are_computed(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")
    gate, real = threading.Event(), pipeline.sample_quality
    monkeypatch.setattr(pipeline, "sample_quality", lambda *a, **k: (gate.wait(60), real(*a, **k))[1])
    slots = JobSlots(1)
    job = TrainJob("vae", {"latent_dim": 4}, "digits", CFG, root=tmp_path, slots=slots).start()
    try:
        end = time.time() + 120
        while not job.following and time.time() < end:
            time.sleep(0.05)
        snap = job.snapshot()
        assert snap["state"] == "finished" and snap["following"] and "fd" not in snap["metrics"]
        assert slots.running == 0 and not job.active  # another job may start; this one's page shows "Done"
    finally:
        gate.set()
    job.join(120)
    assert not job.following and "fd" in job.snapshot()["metrics"]


def test_scores_that_fail_leave_the_run_and_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")

    def broken(*a, **k):
        raise RuntimeError("feature net unreadable")

    monkeypatch.setattr(pipeline, "sample_quality", broken)
    job = TrainJob("vae", {"latent_dim": 4}, "digits", CFG, root=tmp_path, slots=JobSlots(1)).start()
    job.join(180)
    snap = job.snapshot()
    assert snap["state"] == "finished" and snap["after_error"] == "feature net unreadable"
    assert "neg_elbo" in load_run(job.run_path).meta["metrics"]  # the model and its run are kept
