"""Series of trainings: sweep values checked against the registry, the job, the compression table."""
from __future__ import annotations

import numpy as np
import pytest

from core.jobs import JobSlots
from core.models import ConfigError
from core.series import (CONTRASTS, SeriesJob, compression_rows, find_tagged, parse_values, png_bytes,
                         sweep_members, sweepable_knobs)


@pytest.mark.parametrize("text, msg", [("4", "at least two"), ("1, x", "numbers"), ("2, 2", "only once"),
                                       (",".join(["1"] * 9), "at most 8")])
def test_parse_values_says_what_is_wrong_in_one_line(text, msg):
    with pytest.raises(ValueError, match=msg):
        parse_values(text)


def test_sweep_members_check_each_value_against_the_knob():
    assert ("latent_dim", "Latent size") in sweepable_knobs("cae")
    assert "arch" not in dict(sweepable_knobs("vae"))  # a choice, not a number
    ms = sweep_members("cae", "latent_dim", [2.0, 8.0])
    assert [m.config for m in ms] == [{"latent_dim": 2}, {"latent_dim": 8}] and ms[0].label == "Latent size = 2"
    with pytest.raises(ConfigError, match="whole numbers"):
        sweep_members("cae", "latent_dim", [2.5, 3])
    with pytest.raises(ConfigError, match=">= 0"):
        sweep_members("vae", "beta", [-1, 1])
    with pytest.raises(ConfigError, match="no numeric knob"):
        sweep_members("vae", "arch", [1, 2])


def test_series_job_trains_each_member_and_tags_contrast_runs(digits, tmp_path):
    members = list(CONTRASTS["latent-2-vs-32"].members)
    job = SeriesJob(members, digits, {"epochs": 1, "batch_size": 256}, root=tmp_path, slots=JobSlots(1)).start()
    job.join(300)
    assert job.state == "finished", job.error
    snap = job.snapshot()
    assert snap["fraction"] == 1.0 and [r["label"] for r in snap["rows"]] == ["CAE, latent 2", "CAE, latent 32"]
    assert all(r["metrics"]["recon_bce"] > 0 for r in snap["rows"])
    found = find_tagged(members[1].tag, "digits", root=tmp_path)
    assert found is not None and found["path"] == snap["rows"][1]["run_path"]
    assert find_tagged(members[1].tag, "mnist5k", root=tmp_path) is None


def test_stopping_a_series_keeps_what_finished(digits, tmp_path):
    members = sweep_members("ae", "latent_dim", [2, 4, 8])
    job = SeriesJob(members, digits, {"epochs": 200}, root=tmp_path, slots=JobSlots(1)).start()
    import time
    while job.snapshot().get("step", 0) < 3 and job.active:
        time.sleep(0.05)
    job.stop()
    job.join(120)
    assert job.state == "stopped" and len(job.rows) == 1 and job.rows[0]["status"] == "stopped"


def test_compression_rows_and_png_bytes():
    x = np.zeros((3, 1, 28, 28), np.float32)
    x[:, :, 10:18, 12:16] = 1.0
    png = png_bytes(x)
    assert 60 < png < 400  # a mostly black digit compresses well below the raw 784 bytes
    rows = [{"value": 32, "metrics": {"recon_bce": 0.08, "recon_mse": 0.01}},
            {"value": 2, "metrics": {"recon_bce": 0.2, "recon_mse": 0.05}}]
    t = compression_rows(rows, png, 784)
    assert [r["latent size"] for r in t] == [2, 32] and [r["code bytes"] for r in t] == [8, 128]
    assert t[0]["ratio vs PNG"] == pytest.approx(png / 8)
