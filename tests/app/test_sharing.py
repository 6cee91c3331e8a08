"""Many people on one server: runs belong to the tab that trained them, idle tabs are released."""
from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import APP, open_page


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


def test_the_xsrf_cookie_names_one_browser_however_it_is_masked():
    from ui.state import xsrf_secret
    # Two page loads of one browser (the token masked anew each time), as Chromium sent them to Streamlit.
    a = xsrf_secret("2|a515e502|b4c010dbbc7106bc22a1ac914caea2d1|1796561308")
    b = xsrf_secret("2|e6d264e1|f7079138ffb6875f61662d720f692332|1796561308")
    other = xsrf_secret("2|ec53a0e9|edc8188c56684b1f401ad03a6943f83a|1796561315")  # another browser
    assert a == b and a != other and len(a) == 64
    assert "b4c010db" not in a  # only a hash of the token is kept
    assert xsrf_secret("") is None and xsrf_secret("2|zz|zz|1") is None and xsrf_secret("short") is None


def test_a_stolen_tab_handle_grants_nothing(tmp_path, monkeypatch):
    """Someone who learned a tab's ?s= (a screenshot, a shared link) opens it from another browser."""
    from ui import state
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    victim = open_page("pages/runs.py")
    mine = _run(tmp_path, _tab(victim).owner)
    sid, owner = victim.query_params["s"], _tab(victim).owner
    assert owner != sid and owner not in str(dict(victim.query_params))  # the proof never reaches the URL

    class Running:  # the victim's training in flight
        active, stopped, id, run_path = True, False, 1, None

        def stop(self):
            self.stopped = True

        def join(self, timeout=None):
            pass

        def snapshot(self):
            return {"state": "running", "message": "", "error": None, "queue_position": 0, "title": "Training",
                    "step": 1, "total_steps": 100, "epoch": 1, "losses": {}, "elapsed": 1.0, "eta": None}

    job = Running()
    _tab(victim).job = job
    monkeypatch.setattr(state, "browser_key", lambda: "the-thief's-browser")
    thief = AppTest.from_file(str(APP), default_timeout=60)
    thief.query_params["s"] = sid
    thief.switch_page("pages/runs.py")
    thief.run()
    assert not thief.exception
    assert thief.query_params["s"] != sid and _tab(thief).owner != owner  # a tab of their own
    assert _tab(thief).job is None and _tab(victim).job is job
    assert thief.dataframe[0].value.iloc[0]["yours"] == ""
    assert not [b for b in thief.button if b.key == "runs_delete"]  # cannot delete the victim's run
    thief.switch_page("pages/train.py").run()
    assert thief.button(key="train_stop").disabled  # nothing of theirs to stop; the victim's job goes on
    assert not job.stopped and mine.exists()
