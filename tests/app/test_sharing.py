"""Many people on one server: runs belong to the tab that trained them, idle tabs are released."""
from __future__ import annotations

import time

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import open_page


def _tab(at):
    from ui.state import _tabs
    return _tabs()[at.query_params["s"]]


def _run(tmp_path, owner):
    path, *_ = train_and_save("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                              root=tmp_path / "runs", extra={"owner": owner} if owner else None, checkpoints=False)
    return path


def test_only_the_owner_may_delete_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    theirs = _run(tmp_path, "another-tab")
    at = open_page("pages/runs.py")
    assert not at.exception
    assert at.dataframe[0].value.iloc[0]["yours"] == ""
    assert not [b for b in at.button if b.key == "runs_delete"]  # no way to delete someone else's run
    mine = _run(tmp_path, _tab(at).owner)
    at.run()
    at.selectbox(key="runs_pick").set_value(mine.name).run()
    assert [b for b in at.button if b.key == "runs_delete"]
    at.button(key="runs_delete").click().run()
    assert not mine.exists() and theirs.exists()


def test_the_admin_token_may_delete_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_LAB_ADMIN_TOKEN", "s3cret")
    theirs = _run(tmp_path, None)  # a run from the command line: nobody's tab
    at = open_page("pages/runs.py")
    at.text_input(key="admin_token").set_value("wrong").run()
    assert not [b for b in at.button if b.key == "runs_delete"]
    at.text_input(key="admin_token").set_value("s3cret").run()
    at.button(key="runs_delete").click().run()
    assert not theirs.exists()


def test_idle_tabs_are_released_but_not_while_they_train(monkeypatch):
    from ui.state import TabState, _tabs, forget_idle_tabs

    class Busy:
        active = True

    tabs = _tabs()
    old, working = TabState(owner="old"), TabState(owner="working")
    old.last_seen = working.last_seen = time.time() - 120
    working.job = Busy()
    tabs["idle-old"], tabs["idle-working"] = old, working
    monkeypatch.setenv("LATENT_LAB_TAB_TTL_S", "60")
    forget_idle_tabs()
    assert "idle-old" not in tabs and "idle-working" in tabs
    del tabs["idle-working"]
