"""The run store: round-trip, atomic writes, and refusal of bad files."""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import pytest
import torch

from core.engine import TrainConfig, train
from core.models import build_model
from core.run_share import export_run, import_run
from core.store import META, WEIGHTS, RunError, delete_run, list_runs, load_run, save_run, update_meta


@pytest.fixture
def saved(digits, tmp_path):
    torch.manual_seed(0)
    model = build_model("cae", {"latent_dim": 4, "widths": [8, 16]}, digits.shape)
    res = train(model, digits, TrainConfig(epochs=1, batch_size=256, preview_every=0))
    path = save_run(model, dataset="digits", train_config={"epochs": 1}, result=res.to_dict(),
                    metrics=model.evaluate(digits.x_test), path=tmp_path / "runs" / "r1")
    return path, model


def test_round_trip_rebuilds_through_registry(saved, digits):
    path, model = saved
    run = load_run(path)
    assert run.meta["model"] == "cae" and run.meta["config"]["latent_dim"] == 4
    assert run.meta["dataset"] == "digits" and run.meta["status"] == "finished"
    train_s = run.meta["timings"]["train_seconds"]
    assert run.meta["metrics"]["recon_bce"] > 0 and train_s > 0
    assert "torch" in run.meta["versions"] and run.meta["history"]["loss"]
    x = digits.x_test[:8]
    assert torch.allclose(run.model.reconstruct(x), model.eval().reconstruct(x))
    assert torch.equal(run.model.code_chol, model.code_chol)  # fitted prior travels with weights
    assert sorted(os.listdir(path)) == [WEIGHTS, META]


def test_list_update_delete(saved):
    path, _ = saved
    runs = list_runs(path.parent)
    assert [r["id"] for r in runs] == ["r1"] and "history" not in runs[0]
    update_meta(path, title="my run")
    assert load_run(path).meta["title"] == "my run"
    (path.parent / "junk").mkdir()
    (path.parent / "junk" / META).write_text("{not json")
    flagged = {r["id"]: r for r in list_runs(path.parent)}
    assert "error" in flagged["junk"]
    delete_run(path)
    assert not path.exists()


def test_overwrite_is_atomic_and_leaves_no_temp_folders(saved, digits):
    path, model = saved
    with pytest.raises(RunError, match="--force"):
        save_run(model, dataset="digits", path=path)  # never replaced without being asked
    save_run(model, dataset="digits", path=path, replace=True)
    assert [p.name for p in path.parent.iterdir()] == ["r1"]


def test_rejects_malicious_pickle(saved):
    path, _ = saved

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch /tmp/latent_lab_pwned",))

    (path / WEIGHTS).write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(RunError, match="not a safetensors file"):
        load_run(path)
    assert not os.path.exists("/tmp/latent_lab_pwned")


def test_rejects_truncated_weights(saved):
    path, _ = saved
    data = (path / WEIGHTS).read_bytes()
    (path / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="damaged"):
        load_run(path)


def test_rejects_wrong_shape(saved):
    path, _ = saved
    meta = json.loads((path / META).read_text())
    meta["config"]["latent_dim"] = 5
    (path / META).write_text(json.dumps(meta))
    with pytest.raises(RunError, match="shape"):
        load_run(path)


def test_rejects_bad_metadata(saved):
    path, _ = saved
    (path / META).write_text("[]")
    with pytest.raises(RunError, match="JSON object"):
        load_run(path)
    (path / META).write_text(json.dumps({"model": "nope", "config": {}, "shape": [1, 8, 8],
                                         "n_classes": 0, "dataset": "digits"}))
    with pytest.raises(RunError, match="unknown model 'nope'"):
        load_run(path)
    with pytest.raises(RunError, match="no run"):
        load_run(path.parent / "missing")


def test_export_import_and_refuse_bad_uploads(saved, tmp_path):
    path, _ = saved
    blob = export_run(path)
    new = import_run(blob, root=tmp_path / "other")
    assert load_run(new).meta["model"] == "cae"
    with pytest.raises(RunError, match="not a Latent Lab run"):
        import_run(b"hello", root=tmp_path / "other")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(META, (path / META).read_text())
        z.writestr(WEIGHTS, pickle.dumps({"a": 1}))
    with pytest.raises(RunError, match="safetensors"):
        import_run(buf.getvalue(), root=tmp_path / "other")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.py", "print(1)")
    with pytest.raises(RunError, match="exactly"):
        import_run(buf.getvalue(), root=tmp_path / "other")
    assert len(list((tmp_path / "other").iterdir())) == 1
