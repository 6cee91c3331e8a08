"""Links that restore a view: run, dataset and the page's controls from the URL, never the sender's tab."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import APP, BROWSER
from ui.controls import ACCEPTS, NO, VIEW, Flag, Many, Number, One, accepts, link_name
from ui.links import EXTRA_KEYS, PAGE_KEYS, _fitted, link, view_params


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


# --- Link values the widgets cannot take (issue 22): dropped with a note, never a crash ---------------------

ROOT = Path(__file__).resolve().parents[2]
# The link values that bring each control onto its page (a control behind a tool or a method).
SHOWN_WITH = {
    **{k: {"gen_how": "random pair of classes"} for k in ("keep_gen_ca", "keep_gen_cb", "keep_gen_pair")},
    **{k: {"gen_tool": "Sample"} for k in ("keep_gen_temp", "keep_gen_n", "keep_gen_seed")},
    **{k: {"gen_tool": "Manifold"} for k in ("keep_gen_axes", "keep_gen_grid", "keep_gen_span")},
    **{k: {"gen_tool": "Manifold", "gen_axes": "two latent dimensions"} for k in ("keep_gen_di", "keep_gen_dj")},
    **{k: {"gen_tool": "Traverse"} for k in ("keep_gen_base", "keep_gen_which", "keep_gen_k")},
    "keep_gen_ar": {"gen_tool": "Arithmetic"},
    "keep_ls_nn": {"ls_method": "umap"}, "keep_ls_md": {"ls_method": "umap"}, "keep_ls_perp": {"ls_method": "tsne"},
}
WIDGETS = ("slider", "select_slider", "number_input", "radio", "selectbox", "multiselect", "toggle",
           "segmented_control")


def _bad(acc) -> tuple[str, str]:
    """(a value out of the control's range or choices, a value of the wrong type), as a link spells them."""
    if isinstance(acc, Flag):
        return "2", "yes"
    if isinstance(acc, Number):
        return str(acc.hi + 1 if acc.hi is not None else 10**6), ("true" if acc.is_int else "[1]")
    if isinstance(acc, Many):
        return ('["no-such-run"]' if acc.of is str else "[99]"), "3"
    if acc.choices is None:
        return "no-such-choice", "[1]"
    numbers = any(isinstance(c, int) for c in acc.choices)
    return ("7" if numbers else "no-such-choice"), ("true" if numbers else "[1]")


CASES = [pytest.param(page, acc.key, case, id=f"{link_name(acc.key)}-{case}")
         for page, accs in VIEW.items() for acc in accs for case in ("out_of_range", "wrong_type")]


@pytest.fixture(scope="module")
def link_root(cae_digits_run, tmp_path_factory):
    """A runs folder with the CAE (latent 8, the link's run) and a 2-D AE beside it (Side by side needs two)."""
    root = tmp_path_factory.mktemp("link-runs")
    shutil.copytree(cae_digits_run, root / cae_digits_run.name)
    ae, *_ = train_and_save("ae", {"latent_dim": 2}, "digits", TrainConfig(epochs=1, batch_size=128), root=root)
    return root, cae_digits_run.name, ae.name


@pytest.fixture(scope="module")
def trained_tab(link_root):
    """A tab whose training has ended, so Train shows its image-size control (the only one there)."""
    from ui.state import TabState, _tabs
    from ui.train_view import start_training
    sid, tab = f"links-{time.time_ns()}", TabState(browser=BROWSER)
    tab.dataset = "digits"
    _tabs()[sid] = tab
    start_training(tab, "ae", {"latent_dim": 2}, "digits", TrainConfig(epochs=1, batch_size=128))
    tab.job.join(120)
    assert tab.job.state == "finished" and tab.job.snapshot()["curve"]["step"]
    return sid


def _widget(at: AppTest, key: str):
    found = [w for kind in WIDGETS for w in getattr(at, kind) if w.key == key]
    assert len(found) == 1, f"{key} is not on the page"
    return found[0]


def _open_link(query: dict[str, str], sid: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({**({"s": sid} if sid else {}), **query})
    at.run()
    return at


@pytest.mark.parametrize("page, key, case", CASES)
def test_a_link_value_the_widget_cannot_take_is_left_out_with_a_note(page, key, case, link_root, request,
                                                                     monkeypatch):
    root, run_id, _ = link_root
    monkeypatch.setenv("LATENT_LAB_HOME", str(root))
    sid = request.getfixturevalue("trained_tab") if page == "train" else None
    acc, name = ACCEPTS[key], link_name(key)
    bad = _bad(acc)[case == "wrong_type"]
    at = _open_link({"page": page, "run": run_id, "dataset": "digits", **SHOWN_WITH.get(key, {}), name: bad}, sid)
    assert not at.exception, [e.value for e in at.exception]
    w = _widget(at, key)
    assert acc.fit(w.value) is not NO and w.value != _bad(acc)  # the widget's own value, not the link's
    if isinstance(acc, Number):
        assert w.min <= w.value <= w.max
    notes = [n.value for n in (*at.warning, *at.toast)]
    assert f"The link's value for {name} did not fit and was left out." in notes, notes
    at.run()  # and the tab keeps working
    assert not at.exception, [e.value for e in at.exception]


def test_a_bound_from_the_data_is_checked_where_the_widget_is_drawn(link_root, monkeypatch):
    """3 dimensions fit the declaration, not PCA of a 2-D latent; an image index past the split's end."""
    root, _, ae_2d = link_root
    monkeypatch.setenv("LATENT_LAB_HOME", str(root))
    at = _open_link({"page": "latent_space", "run": ae_2d, "dataset": "digits", "ls_dim": "3"})
    assert not at.exception, [e.value for e in at.exception]
    assert _widget(at, "keep_ls_dim").value == 2
    assert any("ls_dim did not fit" in t.value for t in at.toast)
    at = _open_link({"page": "generate", "run": ae_2d, "dataset": "digits", "gen_a": "5", "gen_b": "99999"})
    assert not at.exception, [e.value for e in at.exception]
    assert _widget(at, "keep_gen_a").value == 5 and _widget(at, "keep_gen_b").value == 1  # good kept, bad dropped
    assert [t.value for t in at.toast] == ["The link's value for gen_b did not fit and was left out."]


def test_a_bad_value_already_in_the_session_is_dropped_before_the_widget_is_drawn(link_root, monkeypatch):
    root, run_id, _ = link_root
    monkeypatch.setenv("LATENT_LAB_HOME", str(root))
    at = _open_link({"run": run_id, "dataset": "digits"})  # Home: the values wait for their page
    at.session_state["keep_rec_n"] = 999  # e.g. chosen before the control's range changed
    at.session_state["keep_rec_noise"] = 5.0
    at.switch_page("pages/reconstructions.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert _widget(at, "keep_rec_n").value == 16 and _widget(at, "keep_rec_noise").value == 0.0
    assert not at.toast  # not the link's doing: no note


def _widget_keys(text: str) -> set[str]:
    return set(re.findall(r"[\"'](keep_[a-z0-9_]*[a-z0-9])[\"']", text)) | {k for k in EXTRA_KEYS if f'"{k}"' in text}


def test_every_view_control_of_every_page_is_declared_and_drawn_from_its_declaration():
    sources = {p: p.read_text() for d in ("pages", "ui") for p in (ROOT / d).glob("*.py")
               if p.name not in ("controls.py", "links.py")}
    used = set().union(*(_widget_keys(t) for t in sources.values()))
    assert used == set(ACCEPTS), f"undeclared: {used - set(ACCEPTS)}, declared but unused: {set(ACCEPTS) - used}"
    assert set(EXTRA_KEYS) <= set(ACCEPTS)
    for p, text in sources.items():  # a widget takes its key (and bounds) from control(), never a literal
        assert not re.search(r"key\s*=\s*[\"'](keep_|sbs_(runs|px|method)[\"'])", text), p.name
    for page, prefixes in PAGE_KEYS.items():  # a page's link carries exactly its declared controls
        assert all(a.key.startswith(prefixes) for a in VIEW[page]), page


@pytest.mark.parametrize("acc, value, fits", [
    (Flag("f"), True, True), (Flag("f"), 1, False), (Flag("f"), "true", False),
    (Number("n", 3, 16), 8, 8), (Number("n", 3, 16), True, False), (Number("n", 3, 16), 8.0, False),
    (Number("n", 3, 16), 17, False), (Number("n", 3, 16), 2, False), (Number("n", 3, 16), "8", False),
    (Number("n", 0, None), 10**6, 10**6), (Number("n", 0, None), -1, False),
    (Number("x", 0.5, 4.0, 0.25), 3, 3.0), (Number("x", 0.5, 4.0, 0.25), 3.1, False),
    (Number("x", 0.0, 3.0, 0.1), 0.30000000000000004, 0.30000000000000004),
    (Number("x", 0.5, 4.0, 0.25), float("nan"), False), (Number("x", 0.5, 4.0, 0.25), float("inf"), False),
    (Number("x", 0.5, 4.0, 0.25), False, False),
    (One("o", ("test", "train")), "test", "test"), (One("o", ("test", "train")), "x", False),
    (One("o", (1, 5, "all")), True, False), (One("o", (1, 5, "all")), 1.0, False),
    (One("o", (1, 5, "all")), "all", "all"), (One("o", (1, 5, "all")), 5, 5),
    (One("o", ("a",)), None, False), (One("o", ("a",), none=True), None, None),
    (One("o", None, str), "anything", "anything"), (One("o", None, str), 1, False),
    (Many("m", ("a", "b", "c"), str, most=2), ["a", "c"], ["a", "c"]), (Many("m", ("a", "b"), str), [], []),
    (Many("m", ("a", "b", "c"), str, most=2), ["a", "b", "c"], False), (Many("m", ("a", "b"), str), ["a", "a"], False),
    (Many("m", ("a", "b"), str), "a", False), (Many("m", (0, 1), int), [True], False),
    (Many("m", None, str), ["x"], ["x"]), (Many("m", None, str), [1], False),
])
def test_fit_takes_only_what_the_widget_takes(acc, value, fits):
    got = acc.fit(value)
    assert (got is NO) if fits is False else (got == fits and type(got) is type(fits))


def test_the_page_narrows_a_bound_and_a_link_string_stays_a_string():
    assert accepts("keep_gen_a", hi=9).fit(10) is NO and accepts("keep_gen_a", hi=9).fit(9) == 9
    assert accepts("keep_ls_dim", choices=(2,)).fit(3) is NO and accepts("keep_ls_dim", choices=None).fit(3) == 3
    assert accepts("keep_an_normal", choices=range(3)).fit([0, 2]) == [0, 2]
    assert _fitted("keep_gen_span", "3") == 3.0 and _fitted("keep_gen_steps", "true") is NO
    assert _fitted("keep_an_eval", "2024") == "2024"  # an option that reads as JSON is still the option
    assert _fitted("keep_cmp_lpc", "all") == "all" and _fitted("keep_cmp_lpc", "10") == 10
    assert _fitted("keep_no_such_control", "1") is NO


def test_declared_choices_agree_with_core():
    from core.anomaly import AnomalyConfig
    from core.compare import LABEL_LEVELS, VARIANTS, CompareConfig
    assert ACCEPTS["keep_cmp_variant"].choices == VARIANTS
    assert ACCEPTS["keep_cmp_lpc"].choices == tuple("all" if v is None else v for v in LABEL_LEVELS)
    for key, default in (("keep_cmp_steps", CompareConfig.steps), ("keep_cmp_lam", CompareConfig.lam),
                         ("keep_cmp_entropy", CompareConfig.entropy), ("keep_cmp_pseudo", CompareConfig.pseudo),
                         ("keep_an_epochs", AnomalyConfig.epochs)):
        assert ACCEPTS[key].fit(default) is not NO, key
