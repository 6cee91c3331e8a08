"""Links that restore a view: run, dataset and the page's controls from the URL, never the sender's tab."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import APP
from ui.links import link, view_params


def test_view_params_never_carry_the_tab_id_and_round_trip():
    q = view_params({"s": "secret", "keep_gen_span": 3.0, "keep_gen_tool": "Manifold", "keep_ls_dim": 2,
                     "form_cae_epochs": 9, "sbs_runs": ["a", "b"]}, "run-1", "mnist5k", ("keep_gen_",))
    assert q == {"run": "run-1", "dataset": "mnist5k", "gen_span": "3.0", "gen_tool": "Manifold"}
    url = link("http://host:8501/generate?s=secret", "generate", {**q, "s": "secret"})
    assert url.startswith("http://host:8501/?page=generate&run=run-1") and "&s=" not in url
    assert "secret" not in url
    assert view_params({"keep_x": object()}, None, "npz:/tmp/mine.npz") == {}  # uploads stay private


def test_opening_a_link_restores_run_dataset_and_controls_in_a_new_tab():
    run, *_ = train_and_save("ae", {"latent_dim": 2}, "digits", TrainConfig(epochs=1, batch_size=128))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"run": run.name, "dataset": "digits", "gen_tool": "Manifold", "gen_grid": "9",
                            "gen_span": "3.0"})
    at.run()  # app.py applies the link (AppTest runs app.py on its first run only)
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.query_params) == {"s"}  # applied once, then cleared; the tab id is new
    at.switch_page("pages/generate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    from ui.state import _tabs
    tab = _tabs()[at.session_state["_sid"]]
    assert Path(tab.run_path).name == run.name and tab.dataset == "digits"
    assert at.slider(key="keep_gen_span").value == 3.0 and at.slider(key="keep_gen_grid").value == 9
    assert at.session_state["keep_gen_tool"] == "Manifold"
    from ui.links import PAGE_KEYS
    q = view_params(at.session_state, run.name, "digits", PAGE_KEYS["generate"])  # what the sidebar links to
    assert q["gen_span"] == "3.0" and q["gen_tool"] == "Manifold" and "s" not in q


def test_a_link_to_a_missing_run_says_so():
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"run": "no-such-run"})
    at.run()
    assert not at.exception
    assert any("not on this server" in w.value for w in at.warning)
