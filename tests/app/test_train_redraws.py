"""The Train page's redraw rates: charts and the latent map redraw less often once a training has settled."""
from __future__ import annotations

from types import SimpleNamespace

from ui.train_view import CHARTS_EVERY_S, MAP_EVERY_S, SETTLED_S, live_phase, redraw_every


def job(active: bool, elapsed: float = 0.0, following: bool = False) -> SimpleNamespace:
    return SimpleNamespace(active=active, elapsed=elapsed, following=following)


def test_a_young_training_redraws_at_the_fast_rates_then_half_as_often():
    assert live_phase(job(True, 0.0)) == "active"  # queued, or just started
    assert live_phase(job(True, SETTLED_S - 1)) == "active"
    assert redraw_every("active") == (CHARTS_EVERY_S[0], MAP_EVERY_S[0]) == (3.0, 6.0)
    assert live_phase(job(True, SETTLED_S + 1)) == "settled"
    assert redraw_every("settled") == (CHARTS_EVERY_S[1], MAP_EVERY_S[1])
    assert CHARTS_EVERY_S[1] == 2 * CHARTS_EVERY_S[0] and MAP_EVERY_S[1] == 2 * MAP_EVERY_S[0]


def test_an_ended_training_draws_its_charts_once():
    assert live_phase(None) == "" and redraw_every("") == (None, None)
    assert live_phase(job(False, 50.0, following=True)) == "following"  # its scores still to come
    assert redraw_every("following") == (None, None)
    assert live_phase(job(False, 50.0)) == ""


def test_the_train_page_moves_a_settled_training_to_the_slower_rates():
    """A training that has run past SETTLED_S: the page reruns whole once (its fragments then take the
    slower rates) and goes on showing the progress."""
    from tests.app.conftest import open_page
    from ui.state import _tabs

    class Running:
        active, following, id, run_path, model_name, dataset = True, False, 1, None, "cae", "digits"
        elapsed = 5.0

        def stop(self):
            pass

        def join(self, timeout=None):
            pass

        def snapshot(self):
            return {"state": "running", "message": "", "error": None, "queue_position": 0, "title": "Training",
                    "step": 10, "total_steps": 100, "epoch": 1, "epochs": 10, "progress": 0.1, "losses": {},
                    "elapsed": self.elapsed, "eta": 30.0, "images_per_sec": 500.0, "following": False, "curve": {"step": []},
                    "quality": {"step": []}, "preview": None, "watch": None}

    at = open_page("pages/train.py")
    job = Running()
    _tabs()[at.query_params["s"]].job = job
    at.run()
    assert not at.exception and at.session_state["_train_was"] == "active"
    job.elapsed = SETTLED_S + 1
    at.run()
    assert not at.exception and at.session_state["_train_was"] == "settled"
    assert at.get("progress") and "step 10/100" in at.get("progress")[0].proto.text


def test_a_browser_is_here_only_over_loopback_and_not_through_a_proxy(monkeypatch):
    """ui.state.browser_here decides whether a job leaves a core to the browser (core.jobs.job_threads)."""
    import ui.state as state

    def context(ip, headers=None):
        monkeypatch.setattr(state, "st", SimpleNamespace(context=SimpleNamespace(ip_address=ip,
                                                                                   headers=headers or {})))

    context(None)  # Streamlit gives None for 127.0.0.1 and ::1
    assert state.browser_here()
    context("203.0.113.7")
    assert not state.browser_here()
    context(None, {"X-Forwarded-For": "203.0.113.7"})  # a proxy on this machine for a remote browser
    assert not state.browser_here()

    class Broken:
        @property
        def ip_address(self):
            raise RuntimeError("no session")

    monkeypatch.setattr(state, "st", SimpleNamespace(context=Broken()))
    assert not state.browser_here()
