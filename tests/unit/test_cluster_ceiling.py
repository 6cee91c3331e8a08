"""Issue 22, item 5 on a Ray cluster (a local Ray instance started inside the test run): the server's time
limit stops a job there too, and the run it brings home says so."""
from __future__ import annotations

import pytest

from core.engine import TrainConfig
from core.jobs import JobSlots, TrainJob
from core.store import load_run

ray = pytest.importorskip("ray", reason="Ray is in requirements-dev.txt; CI installs it")


@pytest.fixture(scope="module")
def local_cluster():
    ray.init(num_cpus=2, include_dashboard=False, namespace="latent-lab", log_to_driver=False,
             runtime_env={"working_dir": str(__import__("core.cluster").cluster.ROOT),
                          "excludes": [".git", "runs", "test-artifacts", "__pycache__", "*.png"]})
    yield
    ray.shutdown()


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
