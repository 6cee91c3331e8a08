"""A classroom server's shared runs (issue 22, items 1, 2 and 6): what an export carries, what an import keeps,
and the runs folder's quotas and full disk."""
from __future__ import annotations

import errno
import io
import json
import os
import pathlib
import shutil
import time
import zipfile
from pathlib import Path

import pytest
import torch

from core.engine import TrainConfig, train
from core.models import build_model
from core.presets import measured_seconds
from core.run_share import export_run, import_run
from core.series import find_tagged
from core.quota import runs_usage
from core.store import META, WEIGHTS, RunError, list_runs, save_run

TAG = "contrast:ae-vs-vae:cae"


@pytest.fixture(scope="module")
def model(digits):
    torch.manual_seed(0)
    m = build_model("ae", {"latent_dim": 2, "hidden": [16]}, digits.shape)
    train(m, digits, TrainConfig(epochs=1, batch_size=256, preview_every=0))
    return m


def _save(model, root: Path, name: str, **extra) -> Path:
    return save_run(model, dataset="digits", train_config={"epochs": 1}, result={"seconds": 1.5},
                    metrics={"recon_bce": 0.2, "recon_mse": 0.05}, path=root / name, extra=extra)


def _zip(meta: dict, weights: bytes, method: int = zipfile.ZIP_STORED, order: tuple = (META, WEIGHTS)) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name in order:
            z.writestr(name, json.dumps(meta) if name == META else weights)
    return buf.getvalue()


def _hostile(model, tmp_path: Path) -> tuple[dict, bytes]:
    """A run file as an uploader could make it: every field this server says about its own runs, faked."""
    src = _save(model, tmp_path / "theirs", "src")
    meta = json.loads((src / META).read_text())
    meta.update({"owner": "victim-tab", "tag": TAG, "preset": "cae-mnist", "created": "2999-12-31T23:59:59+0000",
                 "started_at": 32503680000.0, "status": "finished", "repeat_of": "someone",
                 "timings": {"train_seconds": 0.5, "images_per_sec": 1e9, "threads": 2},
                 "reason": "[click](http://evil.example)", "progress": {"step": 1}, "anything": "else"})
    return meta, (src / WEIGHTS).read_bytes()


def test_an_export_carries_no_owner(model, tmp_path):
    path = _save(model, tmp_path / "runs", "mine", owner="tab-secret")
    with zipfile.ZipFile(io.BytesIO(export_run(path))) as z:
        shared = json.loads(z.read(META))
    assert "owner" not in shared and shared["model"] == "ae"
    with zipfile.ZipFile(io.BytesIO(export_run(path, private=True))) as z:  # a cluster worker, to its own server
        assert json.loads(z.read(META))["owner"] == "tab-secret"


def test_an_import_drops_every_field_the_server_makes(model, tmp_path):
    meta, weights = _hostile(model, tmp_path)
    before = time.strftime("%Y-%m-%dT%H:%M")
    path = import_run(_zip(meta, weights), root=tmp_path / "runs", owner="importer")
    got = json.loads((path / META).read_text())
    for key in ("tag", "preset", "started_at", "timings", "repeat_of", "reason", "progress", "anything"):
        assert key not in got, key
    assert got["owner"] == "importer" and got["status"] == "imported" and got["imported"] is True
    assert before <= got["created"] < "2999" and got["history"] == meta["history"]
    assert import_run(_zip(meta, weights), root=tmp_path / "runs2")  # nobody's: no owner at all
    assert "owner" not in json.loads((next((tmp_path / "runs2").iterdir()) / META).read_text())


def test_an_import_in_the_future_does_not_pin_itself_to_the_top(model, tmp_path):
    root = tmp_path / "runs"
    meta, weights = _hostile(model, tmp_path)
    imported = import_run(_zip(meta, weights), root=root)
    time.sleep(1.1)  # "created" is to the second
    local = _save(model, root, "trained-here-later")
    assert [m["id"] for m in list_runs(root)] == [local.name, imported.name]


def test_an_imported_tag_does_not_stand_in_for_side_by_side_runs(model, tmp_path):
    root = tmp_path / "runs"
    meta, weights = _hostile(model, tmp_path)
    import_run(_zip(meta, weights), root=root)
    assert find_tagged(TAG, "digits", root) is None  # Side by side trains real ones
    own = _save(model, root, "contrast-run", tag=TAG)
    assert find_tagged(TAG, "digits", root)["path"] == str(own)


def test_an_imported_preset_does_not_rewrite_the_home_page_times(model, tmp_path):
    root = tmp_path / "runs"
    meta, weights = _hostile(model, tmp_path)
    import_run(_zip(meta, weights), root=root)
    assert measured_seconds("cae-mnist", list_runs(root)) is None
    _save(model, root, "preset-run", preset="cae-mnist")
    assert measured_seconds("cae-mnist", list_runs(root)) == (1.5, 1)


def test_identical_imports_land_once(model, tmp_path):
    root = tmp_path / "runs"
    meta, weights = _hostile(model, tmp_path)
    first = import_run(_zip(meta, weights), root=root, owner="a")
    # The same run packed another way (deflated, members swapped, another name): still the same run.
    again = import_run(_zip(meta, weights, zipfile.ZIP_DEFLATED, (WEIGHTS, META)), root=root, owner="b",
                       name="renamed")
    assert again == first and [p.name for p in root.iterdir()] == [first.name]
    other = dict(meta, metrics={"recon_bce": 0.3, "recon_mse": 0.06})
    assert import_run(_zip(other, weights), root=root) != first  # a different run is kept


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_runs_folder_quota_refuses_an_import_and_keeps_every_run(model, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    _save(model, root, "r1", owner="a")
    meta, weights = _hostile(model, tmp_path)
    total, _ = runs_usage(root)
    before = _snapshot(root)
    monkeypatch.setenv("LATENT_LAB_RUNS_MAX_MB", str((total + 1000) / 2**20))
    with pytest.raises(RunError, match="LATENT_LAB_RUNS_MAX_MB"):
        import_run(_zip(meta, weights), root=root, owner="b")
    assert _snapshot(root) == before


def test_the_per_tab_quota_counts_only_that_tabs_runs(model, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    _save(model, root, "r1", owner="a")
    _, per_owner = runs_usage(root)
    meta, weights = _hostile(model, tmp_path)
    monkeypatch.setenv("LATENT_LAB_RUNS_TAB_MAX_MB", str((per_owner["a"] + 1000) / 2**20))
    with pytest.raises(RunError, match="LATENT_LAB_RUNS_TAB_MAX_MB"):
        import_run(_zip(meta, weights), root=root, owner="a")
    assert import_run(_zip(meta, weights), root=root, owner="b").is_dir()  # another tab still may


def test_a_nearly_full_disk_refuses_an_import_in_words(model, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    _save(model, root, "r1")
    before = _snapshot(root)
    meta, weights = _hostile(model, tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(RunError, match="disk is almost full.*LATENT_LAB_DISK_FREE_MB"):
        import_run(_zip(meta, weights), root=root)
    assert _snapshot(root) == before


def test_a_full_disk_while_writing_leaves_no_half_run(model, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    _save(model, root, "r1")
    before = _snapshot(root)
    meta, weights = _hostile(model, tmp_path)
    real = pathlib.Path.write_bytes

    def full(self, data):
        if self.name == WEIGHTS:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    with pytest.raises(RunError, match="disk is full.*every saved run is unchanged"):
        import_run(_zip(meta, weights), root=root)
    assert _snapshot(root) == before and sorted(p.name for p in root.iterdir()) == ["r1"]  # no temp folder left


def test_a_training_does_not_start_in_a_full_runs_folder(model, tmp_path, monkeypatch):
    from core.engine import TrainConfig
    from core.jobs import JobSlots, TrainJob

    root = tmp_path / "runs"
    _save(model, root, "r1", owner="tab-a")
    _, per_owner = runs_usage(root)
    monkeypatch.setenv("LATENT_LAB_RUNS_TAB_MAX_MB", str(per_owner["tab-a"] / 2**20))  # tab-a's share: used up
    before = _snapshot(root)
    job = TrainJob("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                   root=root, slots=JobSlots(1), extra={"owner": "tab-a"}, watch=False).start()
    job.join(120)
    assert job.state == "failed" and "LATENT_LAB_RUNS_TAB_MAX_MB" in job.error and "delete some" in job.error
    assert _snapshot(root) == before
    other = TrainJob("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                     root=root, slots=JobSlots(1), extra={"owner": "tab-b"}, watch=False).start()
    other.join(120)
    assert other.state == "finished", other.error
