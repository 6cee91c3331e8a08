"""Issue 22, item 3: what a user's file says (a run.json's dataset, id, error text; a file's name) is shown as
text, never as Markdown; metrics the pages format must be finite numbers."""
from __future__ import annotations

import json
import math
import re

import pytest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from core.store import META, RunError, list_runs, validate_meta
from tests.app.conftest import open_page
from ui.format import metrics_text, plain, samples_metric, short_metric

EVIL = "npz:/srv/[click me](http://evil.example/x) ![pic](http://evil.example/p.png) <img src=x> www.evil.example " \
       ":red[red] :material/warning: $x^2$ **bold** # heading\n\n- item"


def _unescaped(text: str, token: str) -> bool:
    """Whether ``token`` occurs in ``text`` with its first character not backslash-escaped."""
    return any(i == 0 or text[i - 1] != "\\" for i in (m.start() for m in re.finditer(re.escape(token), text)))


@pytest.mark.parametrize("token", ["[", "](", "![", "<", "http:", "www.", ":red", ":material", "$", "**", "#", "- "])
def test_plain_escapes_every_markup_a_file_could_carry(token):
    out = plain(EVIL)
    assert "\n" not in out
    assert not _unescaped(out, token.strip()) if token.strip() else True


def test_plain_keeps_the_words_and_bounds_the_length():
    assert plain("CAE, latent 32, mnist5k, 12 epochs") == "CAE\\, latent 32\\, mnist5k\\, 12 epochs"
    assert len(plain("x" * 10_000)) == 300


@pytest.mark.parametrize("metrics", [
    {"recon_bce": "0.1", "recon_mse": 0.01}, {"recon_bce": float("nan"), "recon_mse": 0.01},
    {"recon_bce": 0.1, "recon_mse": None, "neg_elbo": "lots"}, {"accuracy": True}, {"fd": 3.0, "precision": None},
    {"recon_bce": 0.1, "recon_mse": 0.01, "neg_elbo": 99.0}, {"n": "many", "accuracy": 0.5}, "not a dict", None])
def test_metrics_that_are_not_finite_numbers_are_left_out_not_raised(metrics):
    for fmt in (metrics_text, short_metric, samples_metric):
        out = fmt(metrics)
        assert isinstance(out, str) and "nan" not in out.lower()


def test_an_imported_run_cannot_hold_a_string_metric():
    meta = {"model": "ae", "config": {}, "shape": [1, 8, 8], "n_classes": 0, "dataset": "digits",
            "metrics": {"recon_bce": 0.1, "recon_mse": 0.01, "fd": "[x](http://evil.example)"}}
    with pytest.raises(RunError, match="metrics.fd"):
        validate_meta(meta)
    meta["metrics"]["fd"] = 1.5
    validate_meta(meta)
    assert math.isfinite(meta["metrics"]["fd"])


def test_hostile_run_text_is_shown_as_text_in_the_sidebar_and_on_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    path, *_ = train_and_save("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                              root=tmp_path / "runs", checkpoints=False)
    meta = json.loads((path / META).read_text())
    meta.update({"dataset": EVIL, "imported": True})
    (path / META).write_text(json.dumps(meta))
    broken = tmp_path / "runs" / "broken_run"  # a damaged run: its error quotes the file
    broken.mkdir()
    (broken / META).write_text(json.dumps({**meta, "metrics": {"recon_bce": "[x](http://evil.example)"}}))
    assert "error" in {m["id"]: m for m in list_runs()}["broken_run"]
    at = open_page("pages/runs.py", run_path=path)
    assert not at.exception
    shown = [c.value for c in at.sidebar.caption] + [w.value for w in at.warning] + [m.value for m in at.markdown]
    text = " ".join(shown)
    assert "\\*\\*bold\\*\\*" in text and "\\$x\\^2\\$" in text  # the words are there, escaped
    for token in ("](http", "![", "<img", "www.evil", ":red[", "**bold"):
        assert not _unescaped(text.replace("**Current model**", "").replace("**broken\\_run**", ""), token), token
    assert at.dataframe[0].value.iloc[0]["result"].startswith("BCE")  # the Runs table still draws
