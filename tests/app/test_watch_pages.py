"""Watch the latent space form: the Train page animates it live, Runs and Latent space replay it."""
from __future__ import annotations

import json
import re

from tests.app.conftest import open_page, poll


def _charts(at) -> dict[str, dict]:
    """Plotly figures on the page by their widget key suffix -> parsed spec."""
    out = {}
    for el in at.get("plotly_chart"):
        out[el.proto.id] = json.loads(el.proto.spec)
    return out


def _watch_spec(at) -> dict:
    specs = [s for s in _charts(at).values() if s.get("frames")]
    assert specs, "an animated latent-map figure is on the page"
    return specs[0]


def _train_cae(epochs: int):
    """The Train page with a CAE of ``epochs`` epochs started on it."""
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("cae").run()
    at.number_input(key="form_cae_epochs").set_value(epochs).run()
    return at.button(key="train_start").click().run()


def test_train_page_animates_the_map_and_runs_and_latent_space_replay_it():
    at = _train_cae(2)
    poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=180)
    assert not at.exception
    # Done: the final map, and the replay in a closed expander (not sent on every visit to Train).
    assert any(re.search(r"sit at step \d+ \(snapshot \d+\), the last one", c.value) for c in at.caption)
    assert [e.label for e in at.expander if "Replay" in e.label] == ["Replay how the latent map formed during "
                                                                     "training"]
    assert not any(s.get("frames") for s in _charts(at).values())
    at.session_state["train_watch_replay_open"] = True  # the user opens it
    at.run()
    assert not any("the last one" in c.value for c in at.caption)  # the replay ends on that map: not twice
    spec = _watch_spec(at)
    n = len(spec["frames"])
    assert n >= 3
    slider = spec["layout"]["sliders"][0]
    assert len(slider["steps"]) == n and slider["active"] == n - 1
    assert slider["steps"][0]["label"] == "0"  # the untrained map comes first
    buttons = [b["label"] for b in spec["layout"]["updatemenus"][0]["buttons"]]
    assert any("Play" in b for b in buttons)
    assert any("same step" in c.value for c in at.caption)

    at.switch_page("pages/runs.py").run()
    assert not at.exception
    # The replay waits in a closed expander: a visit that does not open it sends no frames.
    assert [e.label for e in at.expander] == ["Replay how the latent map formed during training"]
    assert not any(s.get("frames") for s in _charts(at).values())
    pick = at.selectbox(key="runs_pick").value
    at.session_state[f"runs_watch_{pick}_open"] = True  # the user opens it
    at.run()
    assert len(_watch_spec(at)["frames"]) == n  # the run kept the same snapshots
    at.switch_page("pages/latent_space.py").run()
    assert not at.exception
    assert not any(s.get("frames") for s in _charts(at).values())
    at.session_state[f"ls_watch_{pick}_open"] = True  # the same run, now the current model
    at.run()
    assert len(_watch_spec(at)["frames"]) == n


def test_train_page_shows_the_map_now_while_the_job_runs():
    """While training, the map of the latest snapshot (light to draw); the replay only once it has ended."""
    at = _train_cae(30)
    poll(at, lambda a: any("map moves as the model learns" in c.value for c in a.caption), timeout=120)
    assert not at.exception
    now = [s for s in _charts(at).values() if len(s["data"]) == 10]  # one trace per digit class
    assert now and not now[0].get("frames") and not now[0]["layout"].get("sliders")
    assert any(re.search(r"sit at step \d+ \(snapshot \d+\)", c.value) for c in at.caption)
    at.button(key="train_stop").click().run()
    poll(at, lambda a: any("Replay" in e.label for e in a.expander), timeout=120)  # stopped: saved, replayable
    assert not at.exception
    at.session_state["train_watch_replay_open"] = True
    at.run()
    assert _watch_spec(at)["frames"]
