"""The Hybrid vs CNN page: renders, runs a tiny comparison live, reloads a saved one."""
from __future__ import annotations

from core import compare as C
from tests.app.conftest import open_page, poll


def _no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def test_compare_page_renders_with_the_method_explained():
    at = open_page("pages/compare.py")
    _no_exception(at)
    assert at.title[0].value == "Hybrid vs plain CNN"
    assert at.button(key="cmp_start").disabled is False and at.button(key="cmp_stop").disabled is True
    assert any("Press **Start**" in i.value or "press **Start**" in i.value for i in at.info)
    assert any("Fair by construction" in m.value for m in at.markdown)


def test_tiny_comparison_on_digits_completes_and_reloads():
    at = open_page("pages/compare.py", dataset="digits")
    at.select_slider(key="keep_cmp_lpc").set_value(5).run()
    at.select_slider(key="keep_cmp_steps").set_value(20).run()
    at.number_input(key="keep_cmp_seeds").set_value(1).run()
    at.button(key="cmp_start").click().run()
    _no_exception(at)
    assert at.button(key="cmp_start").disabled is True  # no second start while it runs
    poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=180)
    _no_exception(at)
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["plain CNN", "AE+CNN hybrid", "hybrid − CNN"]
    assert "%" in at.metric[0].value and "±" not in at.metric[0].value  # one seed: no spread to show
    assert len(at.get("plotly_chart")) >= 3  # learning curves + two confusion matrices
    assert at.button(key="cmp_start").disabled is False

    saved = C.list_comparisons()
    assert len(saved) == 1 and saved[0]["labels_per_class"] == 5
    fresh = open_page("pages/compare.py", dataset="digits")
    assert fresh.selectbox(key="cmp_saved").value == saved[0]["id"]
    fresh.button(key="cmp_load").click().run()
    _no_exception(fresh)
    assert [m.label for m in fresh.metric][:2] == ["plain CNN", "AE+CNN hybrid"]
