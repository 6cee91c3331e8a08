"""Issue 22, item 5 on the pages: the server owner's Stop of another tab's job says who stopped it there, and
Train again never asks for more CPU threads than this server has."""
from __future__ import annotations

import json
import time

from core.engine import TrainConfig
from core.jobs import live_jobs
from core.pipeline import train_and_save
from core.store import META
from tests.app.conftest import open_page, poll


def _tab(at):
    from ui.state import _tabs
    return _tabs()[at.query_params["s"]]


def test_the_owners_stop_reaches_the_students_page_in_words(monkeypatch):
    monkeypatch.setenv("LATENT_LAB_ADMIN_TOKEN", "s3cret")
    student = open_page("pages/train.py")
    student.number_input(key="form_cae_epochs").set_value(500).run()
    student.button(key="train_start").click().run()
    job = _tab(student).job
    while job.active and job.snapshot()["step"] < 2:  # training, not queued: progress, not a clock
        time.sleep(0.1)
    owner = open_page("pages/runs.py")
    owner.text_input(key="admin_token").set_value("s3cret").run()
    assert f"admin_stop_{job.id}" in [b.key for b in owner.button]
    owner.text_input(key="admin_token").set_value("not it").run()  # a wrong token: the list and its Stops go
    assert not [b for b in owner.button if str(b.key).startswith("admin_stop_")] and job.active
    owner.text_input(key="admin_token").set_value("s3cret").run()
    owner.button(key=f"admin_stop_{job.id}").click().run()
    assert not owner.exception
    job.join(120)
    assert job.state == "stopped" and job not in live_jobs()
    poll(student, lambda at: any("Stopped by the server's owner" in w.value for w in at.warning))


def test_train_again_keeps_to_the_cores_this_server_has(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    path, *_ = train_and_save("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                              root=tmp_path / "runs", checkpoints=False)
    meta = json.loads((path / META).read_text())
    meta["timings"] = {**(meta.get("timings") or {}), "threads": 999}  # trained (it says) on a bigger machine
    (path / META).write_text(json.dumps(meta))
    at = open_page("pages/runs.py")
    at.button(key="runs_again").click().run()
    job = _tab(at).job
    assert job is not None and job.train_config.threads == 0  # auto: its share of this server's cores
    job.stop()
    job.join(60)
