"""Jobs on a Ray cluster (a local Ray instance started inside the test run): train, stop, save at home."""
from __future__ import annotations

import time

import pytest

from core.engine import TrainConfig
from core.jobs import JobSlots, TrainJob
from core.store import list_runs, load_run

ray = pytest.importorskip("ray", reason="Ray is in requirements-dev.txt; CI installs it")
SMALL = {"latent_dim": 4, "widths": [8, 16]}


@pytest.fixture(scope="module")
def local_cluster():
    ray.init(num_cpus=2, include_dashboard=False, namespace="latent-lab", log_to_driver=False,
             runtime_env={"working_dir": str(__import__("core.cluster").cluster.ROOT),
                          "excludes": [".git", "runs", "test-artifacts", "__pycache__", "*.png"]})
    yield
    ray.shutdown()


def test_a_training_runs_on_the_cluster_and_is_saved_in_the_server_store(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_RAY_ADDRESS", "local")
    job = TrainJob("cae", SMALL, "digits", TrainConfig(epochs=2, preview_every=10), root=tmp_path,
                   slots=JobSlots(1)).start()
    job.join(600)
    assert job.state == "finished", job.error
    snap = job.snapshot()
    assert snap["curve"]["step"] and snap["preview"] is not None  # progress came back while it trained
    assert job.run_path.parent == tmp_path and load_run(job.run_path).meta["model"] == "cae"
    assert [m["id"] for m in list_runs(tmp_path)] == [job.run_path.name]


def test_stop_reaches_the_cluster(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_RAY_ADDRESS", "local")
    job = TrainJob("cae", SMALL, "digits", TrainConfig(epochs=500, preview_every=0), root=tmp_path,
                   slots=JobSlots(1)).start()
    end = time.time() + 300
    while time.time() < end and job.snapshot()["step"] < 5:
        time.sleep(0.2)
    job.stop()
    job.join(300)
    assert job.state == "stopped" and load_run(job.run_path).meta["status"] == "stopped"


def test_the_ceiling_stops_a_job_on_the_cluster_and_its_run_says_why(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_RAY_ADDRESS", "local")
    monkeypatch.setenv("LATENT_LAB_JOB_MAX_MINUTES", "0.1")  # 6 s: the task's start on Ray is inside it
    job = TrainJob("ae", {"latent_dim": 2, "hidden": [16]}, "digits",
                   TrainConfig(epochs=500, batch_size=16, preview_every=0), root=tmp_path, slots=JobSlots(1),
                   watch=False).start()
    job.join(600)
    assert job.state == "stopped" and job.timed_out, (job.state, job.error)
    assert "LATENT_LAB_JOB_MAX_MINUTES" in job.message
    meta = load_run(job.run_path).meta
    assert meta["status"] == "stopped" and "LATENT_LAB_JOB_MAX_MINUTES" in meta["reason"]
