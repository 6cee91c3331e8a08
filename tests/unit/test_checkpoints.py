"""Checkpoints and resume: an interrupted training continues the same loss curve, step for step."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from core.checkpoints import CHECKPOINT, read_checkpoint, run_state, write_checkpoint
from core.cli import main
from core.engine import TrainConfig, train
from core.models import build_model
from core.pipeline import resume_run, train_and_save
from core.store import RunError, list_runs, load_run, read_meta

ROOT = Path(__file__).resolve().parents[2]


def _roundtrip(state: dict) -> dict:
    """What a checkpoint file gives back: saved, then loaded with weights_only=True."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("model,cfg", [("ae", {"latent_dim": 4, "noise": 0.2}), ("vae", {"latent_dim": 3}),
                                       ("gan", {"latent_dim": 4, "width": 8})])
def test_resume_mid_epoch_continues_the_same_curve(digits, model, cfg):
    tc = TrainConfig(epochs=3, batch_size=64, preview_every=0, checkpoint_every_s=0, lr=1e-3)
    torch.manual_seed(0)
    straight = build_model(model, cfg, digits.shape)
    saved = {}
    full = train(straight, digits, tc, checkpoint=lambda s: saved.setdefault("s", _roundtrip(s))
                 if s["step"] == 30 else None)
    assert saved["s"]["epoch"] == 1 and saved["s"]["batch"] == 7  # 23 steps per epoch: mid-epoch

    torch.manual_seed(123)  # whatever the process did before, the checkpoint restores it
    again = build_model(model, cfg, digits.shape)
    rest = train(again, digits, tc, resume=saved["s"])
    assert rest.steps == full.steps
    assert rest.history["step"] == full.history["step"]
    for k in full.history:
        assert rest.history[k] == pytest.approx(full.history[k], abs=1e-6), k
    for k, v in straight.state_dict().items():
        assert torch.allclose(v.float(), again.state_dict()[k].float(), atol=1e-6), k


def test_a_resumed_run_keeps_its_thread_count(digits):
    """A seeded run continues on the CPU threads it started on (its last digits depend on the count)."""
    before = torch.get_num_threads()
    tc = TrainConfig(epochs=2, batch_size=64, preview_every=0, checkpoint_every_s=0, threads=1)
    saved = {}
    train(build_model("ae", {"latent_dim": 4}, digits.shape), digits, tc,
          checkpoint=lambda s: saved.setdefault("s", _roundtrip(s)))
    assert saved["s"]["threads"] == 1 and torch.get_num_threads() == before  # a fixed count is for its training
    auto = TrainConfig(epochs=2, batch_size=64, preview_every=0)
    rest = train(build_model("ae", {"latent_dim": 4}, digits.shape), digits, auto, resume=saved["s"])
    assert rest.threads == 1 and torch.get_num_threads() == before


def test_a_running_training_leaves_a_checkpoint_and_an_interrupted_run_resumes(tmp_path):
    """A CLI training killed with SIGKILL is listed as interrupted and `train --resume` finishes it."""
    out = tmp_path / "run"
    env = {**os.environ, "LATENT_LAB_HOME": str(tmp_path)}
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from core.engine import TrainConfig\nfrom core.pipeline import train_and_save\n"
            "train_and_save('cae', {'latent_dim': 4, 'widths': [8, 16]}, 'digits', "
            "TrainConfig(epochs=40, batch_size=64, preview_every=0, checkpoint_every_s=0.2), path=%r)\n"
            % (str(ROOT), str(out)))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.time() + 120
        # The checkpoint is written just before its run.json: wait for both.
        while time.time() < deadline and not ((out / CHECKPOINT).exists() and (out / "run.json").exists()):
            time.sleep(0.2)
        assert (out / CHECKPOINT).exists(), "no checkpoint was written"
        assert run_state(read_meta(out)) == "running"
    finally:
        proc.kill()
        proc.wait()
    meta = read_meta(out)
    assert run_state(meta) == "interrupted" and meta["progress"]["step"] > 0
    listed = [m for m in list_runs(tmp_path) if m["id"] == "run"]
    assert listed and listed[0]["status"] == "running"
    with pytest.raises(RunError, match="incomplete|no model"):
        load_run(out)  # not a finished model yet: nothing to explore, only to resume
    assert main(["train", "--resume", str(out)]) == 0
    finished = load_run(out)
    assert finished.meta["status"] in ("finished",) and not (out / CHECKPOINT).exists()
    assert finished.meta["result"]["steps"] == 40 * 23


def test_resume_refuses_a_finished_run_and_a_damaged_checkpoint(tmp_path, digits):
    run, *_ = train_and_save("ae", {"latent_dim": 2, "hidden": [16]}, digits,
                             TrainConfig(epochs=1, preview_every=0), root=tmp_path)
    with pytest.raises(RunError, match="only an interrupted training"):
        resume_run(run)
    broken = tmp_path / "broken"
    write_checkpoint(broken, {"step": 5}, {"model": "ae", "dataset": "digits"}, 10)
    meta = json.loads((broken / "run.json").read_text())
    meta["pid"] = 999_999_999  # a process that cannot exist
    (broken / "run.json").write_text(json.dumps(meta))
    (broken / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="damaged"):
        read_checkpoint(broken)
    assert main(["train", "--resume", str(broken)]) == 2


def test_resume_refuses_damaged_training_settings_in_words(tmp_path, digits, capsys):
    """A run.json whose "train" holds a wrong type or an unknown setting: a message, not a TypeError."""
    tc = TrainConfig(epochs=2, batch_size=64, preview_every=0, checkpoint_every_s=0)
    saved = {}
    model = build_model("ae", {"latent_dim": 2}, digits.shape)
    train(model, digits, tc, checkpoint=lambda s: saved.setdefault("s", s))
    for bad, words in (({"threads": "two"}, "'threads' is 'two'"), ({"bogus": 1}, "'bogus'")):
        run = tmp_path / f"run-{len(words)}"
        header = {"model": "ae", "family": "latent", "config": model.config_dict(), "shape": list(digits.shape),
                  "n_classes": 10, "dataset": "digits", "train": {**asdict(tc), **bad}}
        write_checkpoint(run, saved["s"], header, 46)
        meta = json.loads((run / "run.json").read_text())
        meta["pid"] = 999_999_999
        (run / "run.json").write_text(json.dumps(meta))
        with pytest.raises(RunError, match=words):
            resume_run(run)
        assert main(["train", "--resume", str(run)]) == 2
        assert "cannot be resumed" in capsys.readouterr().err


def test_train_refuses_to_write_into_a_folder_that_is_not_a_run(tmp_path, digits):
    precious = tmp_path / "my-notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not touch")
    with pytest.raises(RunError, match="not a run"):
        train_and_save("ae", {"latent_dim": 2}, digits, TrainConfig(epochs=1), path=precious)
    assert (precious / "thesis.txt").read_text() == "do not touch"
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.txt"]
