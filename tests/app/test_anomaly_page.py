"""The Anomaly detection page: renders, trains a detector live, moves the threshold, runs the benchmark."""
from __future__ import annotations

import numpy as np

from core.datasets import load_dataset
from tests.app.conftest import open_page, poll


def _no_exception(at):
    assert not at.exception, [e.value for e in at.exception]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_renders_with_the_method_explained():
    at = open_page("pages/anomaly.py")
    _no_exception(at)
    assert at.title[0].value == "Anomaly detection"
    assert at.button(key="an_start").disabled is False and at.button(key="an_stop").disabled is True
    assert any("press **Start**" in i.value for i in at.info)
    assert at.multiselect(key="keep_an_normal").value == [0]
    models = at.selectbox(key="keep_an_model").options
    assert {"Convolutional autoencoder", "Variational autoencoder"} <= set(models) and "GAN (DCGAN)" not in models
    at.multiselect(key="keep_an_normal").set_value([]).run()
    assert at.button(key="an_start").disabled is True  # no normal class, nothing to learn


def test_detector_trains_live_and_the_threshold_moves_the_counts():
    at = open_page("pages/anomaly.py", dataset="digits")
    at.multiselect(key="keep_an_normal").set_value([0]).run()
    at.slider(key="keep_an_epochs").set_value(8).run()
    at.button(key="an_start").click().run()
    _no_exception(at)
    assert at.button(key="an_start").disabled is True  # no second start while it runs
    poll(at, lambda a: "ROC AUC" in _metrics(a), timeout=240)
    _no_exception(at)
    m = _metrics(at)
    y = load_dataset("digits").y_test
    assert float(m["ROC AUC"]) > 0.8
    assert m["Normal"] == str(int((y == 0).sum())) and m["Anomalous"] == str(int((y != 0).sum()))
    assert len(at.get("plotly_chart")) >= 2  # ROC and histograms
    assert any(s.label.startswith("Threshold") for s in at.slider)
    thr = next(s for s in at.slider if s.label.startswith("Threshold"))
    before = m["Flagged"]
    thr.set_value(thr.max).run()  # only the top score is flagged
    after = _metrics(at)
    assert after["Flagged"] == "1" and after["Flagged"] != before and after["False alarms"] in ("0.0%", "2.7%")
    assert len(at.get("imgs")) >= 2 or len(at.get("image")) >= 2  # most and least anomalous
    score = at.selectbox(key="an_score")
    assert score.value == "relative" and any(o.startswith("latent: ") for o in score.options)
    score.set_value("bce").run()
    _no_exception(at)
    assert at.button(key="an_start").disabled is False


def test_one_class_benchmark_fills_its_table():
    at = open_page("pages/anomaly.py", dataset="digits")
    at.toggle(key="keep_an_bench").set_value(True).run()
    assert not at.multiselect  # every class takes its turn: nothing to pick
    at.slider(key="keep_an_epochs").set_value(3).run()
    at.button(key="an_start").click().run()
    poll(at, lambda a: "Mean ROC AUC" in _metrics(a), timeout=400)
    _no_exception(at)
    table = at.dataframe[0].value  # the per-class table (the detail view's counts come after it)
    assert list(table["normal class"]) == [str(c) for c in range(10)]
    assert float(_metrics(at)["Mean ROC AUC"]) == np.round(table["relative"].mean(), 3)
    assert "Deep SVDD (published)" not in _metrics(at)  # 8x8 digits are not MNIST
    assert at.selectbox(key="anb_detail").options[4] == "normal class 4"
    at.selectbox(key="anb_detail").set_value(4).run()
    _no_exception(at)
    assert "Normal: 4" in " ".join(c.value for c in at.caption)


def test_unlabeled_normal_data_with_suspects(tmp_path):
    d = load_dataset("digits")
    path = tmp_path / "zeros.npz"
    np.savez(path, x=d.x_train[d.y_train == 0].numpy())  # unlabeled: only images
    at = open_page("pages/anomaly.py", dataset=f"npz:{path}")
    from ui.state import _tabs
    _tabs()[at.query_params["s"]].uploads[f"npz:{path}"] = "zeros.npz (uploaded)"  # a tab opens only its uploads
    at.run()
    _no_exception(at)
    assert not at.multiselect and not at.toggle(key="keep_an_bench").value
    assert at.button(key="an_start").disabled is True  # suspects are needed first
    at.selectbox(key="keep_an_eval").set_value("digits").run()
    at.slider(key="keep_an_epochs").set_value(5).run()
    at.button(key="an_start").click().run()
    poll(at, lambda a: "ROC AUC" in _metrics(a) or a.error, timeout=240)
    _no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert int(_metrics(at)["Anomalous"].replace(",", "")) == len(d.x_train) + len(d.x_test)
