"""Training jobs in worker threads: results saved, queue with a cap, stop, bounded curves."""
from __future__ import annotations

import time

from core.engine import TrainConfig
from core.jobs import CURVE_POINTS, JobSlots, TrainJob
from core.pipeline import train_and_save
from core.store import load_run


def _wait(cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_job_trains_saves_and_reports(tmp_path):
    job = TrainJob("cae", {"latent_dim": 4, "widths": [8, 16]}, "digits",
                   TrainConfig(epochs=2, batch_size=64, preview_every=5), root=tmp_path,
                   slots=JobSlots(2)).start()
    job.join(60)
    snap = job.snapshot()
    assert snap["state"] == "finished" and snap["progress"] == 1.0
    assert snap["run_path"] and load_run(snap["run_path"]).meta["model"] == "cae"
    assert load_run(snap["run_path"]).meta["started_at"] == job.started_at  # when it left the queue (bench/load.py)
    assert snap["metrics"]["recon_bce"] > 0 and snap["preview"].shape[1:] == (1, 8, 8)
    assert snap["curve"]["step"][0] == 1 and len(snap["curve"]["loss"]) == len(snap["curve"]["step"])


def test_cap_queues_in_order_and_stop_cancels_a_queued_job(tmp_path):
    slots = JobSlots(1)
    cfg = TrainConfig(epochs=200, batch_size=64, preview_every=0)
    first = TrainJob("ae", {"latent_dim": 4}, "digits", cfg, root=tmp_path, slots=slots).start()
    _wait(lambda: first.state == "running")
    second = TrainJob("ae", {"latent_dim": 4}, "digits", cfg, root=tmp_path, slots=slots).start()
    third = TrainJob("ae", {"latent_dim": 4}, "digits", TrainConfig(epochs=1), root=tmp_path,
                     slots=slots).start()
    _wait(lambda: third.queue_position() == 2)
    assert second.queue_position() == 1 and slots.running == 1
    second.stop()  # leaves the queue without training
    _wait(lambda: not second.active)
    assert second.state == "stopped" and second.run_path is None
    _wait(lambda: third.queue_position() == 1)
    first.stop()
    first.join(30)
    assert first.state == "stopped" and first.run_path is not None  # stopped runs are saved
    third.join(60)
    assert third.state == "finished"


def test_failure_is_reported_not_raised(tmp_path):
    job = TrainJob("cnn", None, "npz:/nonexistent.npz", TrainConfig(epochs=1), root=tmp_path,
                   slots=JobSlots(1)).start()
    job.join(30)
    assert job.state == "failed" and "not found" in job.error.lower()


def test_curve_stays_bounded(tmp_path):
    job = TrainJob("ae", {"latent_dim": 2, "hidden": [16]}, "digits",
                   TrainConfig(epochs=10, batch_size=16, preview_every=0), root=tmp_path, slots=JobSlots(1))
    job.start().join(120)
    steps = job.snapshot()["curve"]["step"]
    assert job.state == "finished" and CURVE_POINTS <= len(steps) < 2 * CURVE_POINTS
    assert steps == sorted(steps) and steps[-1] == job.snapshot()["total_steps"]


def test_train_and_save_rejects_classifier_on_unlabeled(tmp_path):
    import numpy as np
    import pytest

    from core.datasets import DatasetError, dataset_from_arrays
    ds = dataset_from_arrays(np.random.rand(20, 8, 8).astype("float32"))
    with pytest.raises(DatasetError, match="needs labels"):
        train_and_save("cnn", None, ds, TrainConfig(epochs=1), root=tmp_path)


def test_stop_reaches_a_worker_that_reports_all_the_time(tmp_path):
    # A worker flushes progress every 0.1 s: the job must forward Stop even though its queue is never quiet.
    job = TrainJob("ae", {"latent_dim": 4}, "digits", TrainConfig(epochs=2000, batch_size=64, preview_every=0),
                   root=tmp_path, slots=JobSlots(1)).start()
    _wait(lambda: job.snapshot()["step"] > 20, timeout=120)
    job.stop()
    job.join(60)
    snap = job.snapshot()
    assert job.state == "stopped" and snap["step"] < snap["total_steps"]
