"""Issue 9 beyond the case table: limits and how they are raised, upload housekeeping, nothing deleted by accident.

The parametrized hostile inputs are in test_hostile.py; here are the behaviours around them:
the limits' environment variables (and that the README documents every one), refused uploads
removed at once and stored ones bounded by age and size, ``--out``/``--force`` never replacing
what is not a run, damaged runs deletable but never a user's own files, imported runs keeping
their dataset as a description, and legitimate models staying within the size limits.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from hashlib import sha256
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.datasets import DatasetError, dataset_from_upload
from core.datasets.files import clean_uploads, uploads_dir
from core.limits import ENV, LimitError, Limits, limits, load_json
from core.models import MODELS, ConfigError, build_model, make_config
from core.models.spec import check_model_size
from core.run_share import export_run, import_run
from core.store import (META, WEIGHTS, RunError, check_out_path, clean_run_id, delete_run, followable_dataset,
                        list_runs, load_run, save_run)

README = Path(__file__).resolve().parents[2] / "README.md"


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def run_dir(tmp_path):
    torch.manual_seed(0)
    model = build_model("cae", {"latent_dim": 4, "widths": [8, 16]}, (1, 8, 8))
    return save_run(model, dataset="digits", metrics={"recon_bce": 0.5, "recon_mse": 0.1, "n": 3},
                    path=tmp_path / "runs" / "r1")


# --------------------------------------------------------------------------- limits


def test_limits_defaults_env_overrides_and_bad_values(monkeypatch):
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert limits() == Limits()
    monkeypatch.setenv("LATENT_LAB_MAX_CLASSES", "1000")
    monkeypatch.setenv("LATENT_LAB_MAX_DATA_MB", "1_024")
    lim = limits()
    assert lim.classes == 1000 and isinstance(lim.classes, int) and lim.data_bytes == 1024 * 2**20
    for bad in ("0", "-1", "lots", "inf", "nan"):
        monkeypatch.setenv("LATENT_LAB_MAX_JSON_KB", bad)
        with pytest.raises(LimitError, match="LATENT_LAB_MAX_JSON_KB must be"):
            limits()


def test_the_readme_documents_every_limit():
    text = README.read_text()
    assert "## Limits" in text
    for field, name in ENV.items():
        assert name in text, f"README's Limits section does not mention {name}"


def test_raising_a_limit_lets_more_through(monkeypatch):
    x = np.zeros((40, 8, 8), np.uint8)
    y = np.arange(40) % 20  # 20 classes
    monkeypatch.setenv("LATENT_LAB_MAX_CLASSES", "10")
    with pytest.raises(DatasetError, match="20 different classes, more than the limit of 10"):
        dataset_from_upload("d.npz", _npz(x=x, y=y))
    monkeypatch.setenv("LATENT_LAB_MAX_CLASSES", "20")
    assert dataset_from_upload("d.npz", _npz(x=x, y=y)).n_classes == 20


def test_load_json_numbers_and_depth():
    lim = Limits()
    assert load_json(b'{"a": NaN, "b": [1, 2.5]}', "x", lim) == {"a": None, "b": [1, 2.5]}
    for text, needle in ((b'{"a": 1e400}', "out of range"), (b'{"a": -1e999}', "out of range"),
                         (b"[" * 30 + b"]" * 30, "more than 16 deep"), (b"\xff\xfe{", "not valid JSON")):
        with pytest.raises(LimitError, match=needle):
            load_json(text, "x", lim)


# --------------------------------------------------------------------------- uploads: refused ones removed, stored ones bounded


def test_a_refused_upload_is_removed_at_once_and_a_good_one_kept_once():
    with pytest.raises(DatasetError):
        dataset_from_upload("bad.npz", _npz(x=np.full((6, 8, 8), np.nan)))
    assert not any(uploads_dir().iterdir())
    good = _npz(x=np.zeros((6, 8, 8), np.uint8))
    a = dataset_from_upload("good.npz", good)
    b = dataset_from_upload("good.npz", good)  # the same bytes: the same stored file
    assert a.spec == b.spec and [p.name for p in uploads_dir().iterdir()] == [a.spec.split("/")[-1]]


def test_stored_uploads_are_bounded_by_age_and_total_size(monkeypatch):
    folder = uploads_dir()
    folder.mkdir(parents=True)
    now = 1_000_000_000.0
    for i, (age_days, size) in enumerate([(10, 10), (3, 600_000), (2, 600_000), (1, 600_000), (0, 10)]):
        p = folder / f"{i}_f.npz"
        p.write_bytes(b"x" * size)
        os.utime(p, (now - age_days * 86400, now - age_days * 86400))
    stale = folder / ".abc.1.ff.part"
    stale.write_bytes(b"x")
    os.utime(stale, (now - 7200, now - 7200))
    monkeypatch.setenv("LATENT_LAB_UPLOADS_MAX_DAYS", "7")
    monkeypatch.setenv("LATENT_LAB_UPLOADS_MAX_MB", "1.2")  # room for two of the 600 KB files
    removed = clean_uploads(keep=folder / "1_f.npz", now=now)
    left = sorted(p.name for p in folder.iterdir())
    assert "0_f.npz" not in left and ".abc.1.ff.part" not in left  # too old
    assert "1_f.npz" in left  # the oldest, but the upload in hand
    assert "2_f.npz" not in left and {"3_f.npz", "4_f.npz"} <= set(left)  # oldest went first
    assert len(removed) == 3


def test_a_cleaned_up_upload_asks_to_be_uploaded_again():
    ds = dataset_from_upload("mine.npz", _npz(x=np.zeros((6, 8, 8), np.uint8)))
    for p in uploads_dir().iterdir():
        p.unlink()
    from core.datasets import load_dataset
    with pytest.raises(DatasetError, match="no longer kept on the server.*upload it again"):
        load_dataset(ds.spec)


# --------------------------------------------------------------------------- nothing deleted or replaced by accident


def test_check_out_path(tmp_path, run_dir):
    check_out_path(tmp_path / "new")  # nothing there: fine
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    for p in ("empty", "notes", "file"):
        for replace in (False, True):
            with pytest.raises(RunError, match="not a run"):
                check_out_path(tmp_path / p, replace=replace)
    with pytest.raises(RunError, match="--force"):
        check_out_path(run_dir)
    check_out_path(run_dir, replace=True)
    (run_dir / "thesis.txt").write_text("mine")
    with pytest.raises(RunError, match="not part of a run"):
        check_out_path(run_dir, replace=True)


def test_cli_train_out_refuses_then_force_replaces(tmp_path, run_dir, capsys):
    before = _tree(run_dir)
    argv = ["train", "--model", "ae", "--dataset", "digits", "--max-steps", "1", "--set", "hidden=[16]",
            "--out", str(run_dir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and _tree(run_dir) == before
    assert main([*argv, "--force"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"] == str(run_dir) and load_run(run_dir).meta["model"] == "ae"
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["r1"]  # no temp or old folders left
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("mine")
    assert main(["train", "--model", "ae", "--dataset", "digits", "--max-steps", "1", "--out", str(notes),
                 "--force"]) == 2
    assert (notes / "a.txt").read_text() == "mine" and "not a run" in capsys.readouterr().err


def test_damaged_runs_are_deletable_but_never_a_users_files(tmp_path, run_dir):
    root = run_dir.parent
    (root / "broken").mkdir()
    (root / "broken" / META).write_text('{"model": 3}')
    (root / "broken" / "latent-cache").mkdir()
    (root / "broken" / "latent-cache" / "test-abc.npz").write_bytes(b"x")
    (root / "mixed").mkdir()
    (root / "mixed" / META).write_text("{")
    (root / "mixed" / "photo.jpg").write_bytes(b"mine")
    (root / "stranger").mkdir()
    (root / "stranger" / "a.txt").write_text("mine")
    listed = {m["id"]: m for m in list_runs(root)}
    assert "error" not in listed["r1"] and all("error" in listed[k] for k in ("broken", "mixed", "stranger"))
    delete_run(root / "broken")
    assert not (root / "broken").exists()
    for name, needle in (("mixed", "not part of a run"), ("stranger", "not a run")):
        with pytest.raises(RunError, match=needle):
            delete_run(root / name)
        assert (root / name).is_dir()
    assert "error" not in {m["id"]: m for m in list_runs(root)}["r1"]


# --------------------------------------------------------------------------- imported runs


def test_import_cleans_the_name_and_keeps_the_dataset_as_a_description(tmp_path, run_dir):
    meta = json.loads((run_dir / META).read_text())
    meta["dataset"] = "npz:/srv/other-student/grades.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(META, json.dumps(meta))
        z.writestr(WEIGHTS, (run_dir / WEIGHTS).read_bytes())
    path = import_run(buf.getvalue(), root=tmp_path / "other", name="shared\n")
    assert path.name == "shared"
    loaded = load_run(path)
    assert loaded.meta["imported"] is True and loaded.dataset == meta["dataset"]
    with pytest.raises(RunError, match="only described"):
        followable_dataset(loaded.meta)
    assert followable_dataset({"dataset": "digits", "imported": True}) == "digits"
    assert followable_dataset({"dataset": "npz:/home/me/x.npz"}) == "npz:/home/me/x.npz"  # the owner's own run
    assert clean_run_id(" ok-1 \n") == "ok-1" and clean_run_id("a\nb") is None and clean_run_id(3) is None
    assert import_run(export_run(path), root=tmp_path / "other", name="shared") == path  # the same run: once
    meta["metrics"] = {"recon_bce": 0.5, "recon_mse": 0.1}  # another run of the same name
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(META, json.dumps(meta))
        z.writestr(WEIGHTS, (run_dir / WEIGHTS).read_bytes())
    again = import_run(buf.getvalue(), root=tmp_path / "other", name="shared")
    assert again.name.startswith("shared-") and again != path  # never over an existing run


# --------------------------------------------------------------------------- model sizes


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_default_model_fits_the_limits_at_the_largest_images(name):
    n_classes = 100 if MODELS[name].needs_labels else 0
    n = check_model_size(MODELS[name], make_config(name), (3, 64, 64), n_classes, Limits().model_params)
    assert 0 < n < Limits().model_params


def test_layer_lists_are_checked_against_their_knobs():
    with pytest.raises(ConfigError, match="at most 5 entries"):
        make_config("cae", {"widths": [8] * 6})
    with pytest.raises(ConfigError, match="between 1 and 4096"):
        make_config("ae", {"hidden": [10_000]})
    with pytest.raises(ConfigError, match="list of integers"):
        make_config("cnn", {"widths": ["wide"]})
    with pytest.raises(ConfigError, match="parameters, more than the limit of 1,000"):
        check_model_size(MODELS["ae"], make_config("ae"), (1, 8, 8), 0, 1000)
