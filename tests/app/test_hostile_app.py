"""Issue 9 in the app: damaged runs on the Runs page, uploads scoped to their tab, run datasets never followed."""
from __future__ import annotations

import io
import json

import numpy as np
import torch

from core.models import build_model
from core.store import META, WEIGHTS, save_run
from tests.app.conftest import open_page, shown
from tests.unit.hostile_cases import npy_header, zip_of


def _no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _run(root, name, shape=(1, 8, 8), dataset="digits"):
    torch.manual_seed(0)
    model = build_model("cae", {"latent_dim": 4, "widths": [8, 16]}, shape)
    return save_run(model, dataset=dataset, metrics={"recon_bce": 0.5, "recon_mse": 0.1, "n": 3}, path=root / name)


def test_a_damaged_run_is_listed_with_why_and_deleted_from_the_runs_page(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("LATENT_LAB_HOME", str(root))
    good = _run(root, "good")
    bad = _run(root, "bad")
    meta = json.loads((bad / META).read_text())
    meta["created"], meta["format"] = 20260101, "1"  # wrong types once broke the page for everyone
    (bad / META).write_text(json.dumps(meta))
    at = open_page("pages/runs.py")
    _no_exception(at)
    assert list(at.dataframe[0].value["run"]) == ["good"]
    assert any("bad" in w.value and "is invalid" in w.value for w in at.warning)
    assert at.selectbox(key="runs_bad_pick").value == "bad"
    at.button(key="runs_bad_delete").click().run()
    _no_exception(at)
    assert not bad.exists() and (good / WEIGHTS).exists()
    assert not at.warning and list(at.dataframe[0].value["run"]) == ["good"]


def test_a_refused_dataset_upload_shows_one_message_and_leaves_nothing_on_disk(tmp_path):
    at = open_page()
    huge = zip_of([("x.npy", npy_header("|u1", (10**9, 64, 64)) + bytes(64))])  # 190 bytes declaring 4 TB
    at.get("file_uploader")[0].set_value(("huge.npz", huge, "application/octet-stream")).run()
    _no_exception(at)
    # AppTest re-runs only the page, not app.py's sidebar: check the message the sidebar shows next.
    msg = at.session_state["sb_dataset_error"]
    assert "huge.npz" in msg and "declares shape" in msg and "\n" not in msg
    uploads = tmp_path / "data" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_a_tab_cannot_open_another_tabs_upload():
    from ui.state import _tabs
    a = open_page()
    x = (np.random.default_rng(0).random((40, 8, 8)) * 255).astype(np.uint8)
    a.get("file_uploader")[0].set_value(("mine.npz", _npz(x=x, y=np.arange(40) % 4), "application/octet-stream"))
    a.run()
    spec = _tabs()[a.session_state["_sid"]].dataset
    assert spec.startswith("npz:")
    b = open_page(dataset=spec)  # as if another tab had been handed the first one's spec
    _no_exception(b)
    assert any("not available in this tab" in e.value for e in b.error)


def test_an_uploaded_runs_dataset_path_is_never_opened(tmp_path, monkeypatch):
    import core.datasets.files as files
    from core.run_share import export_run
    secret = tmp_path / "secret" / "grades.npz"
    secret.parent.mkdir()
    secret.write_bytes(_npz(x=np.zeros((20, 28, 28), np.uint8)))
    shared = _run(tmp_path / "elsewhere", "shared", shape=(1, 28, 28), dataset=f"npz:{secret}")
    opened = []
    real = files._load_path
    monkeypatch.setattr(files, "_load_path", lambda kind, path, **kw: opened.append(str(path)) or real(kind, path, **kw))
    at = open_page("pages/runs.py")  # sidebar on digits (8x8): the 28x28 run would need its own dataset
    at.get("file_uploader")[0].set_value(("shared.zip", export_run(shared), "application/zip")).run()
    _no_exception(at)
    at.switch_page("pages/reconstructions.py").run()
    _no_exception(at)
    errors = " ".join(shown(e.value) for e in at.error)
    assert "'grades.npz', which this tab did not upload, so it is not opened here" in errors
    assert str(secret) not in errors and str(secret) not in opened
    at.switch_page("pages/runs.py").run()  # "Train again" would need that file too: refused in words
    assert at.selectbox(key="runs_pick").value.startswith("cae-grades-npz")  # the imported run, picked
    at.button(key="runs_again").click().run()
    _no_exception(at)
    errors = " ".join(e.value for e in at.error)
    assert "cannot be trained again" in errors and "is not available in this tab" in errors
    assert at.title[0].value == "Runs"
    assert str(secret) not in errors and str(secret) not in opened and at.session_state["runs_pick"]
