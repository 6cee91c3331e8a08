"""Anomaly detection in a real browser: train a one-digit detector, move the threshold, run the benchmark."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import goto_page, shot, wait_idle

pytestmark = pytest.mark.e2e


def slider_keys(page, key: str, *keys: str) -> None:
    """Focus the slider with this key and press keys on it."""
    thumb = page.locator(f"[class*='st-key-{key}'] input[type='range']").first  # the threshold's key ends in its score
    thumb.focus()
    for k in keys:
        thumb.press(k)
    wait_idle(page)


def metric(page, label: str) -> str:
    """The value shown by the metric with this label."""
    box = page.locator('[data-testid="stMetric"]', has=page.get_by_text(label, exact=True)).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_one_digit_detector_then_the_benchmark(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    goto_page(page, "Anomaly detection")  # on the default MNIST-5k; digit 0 is normal by default
    slider_keys(page, "keep_an_epochs", "Home", *["ArrowRight"] * 9)  # 10 epochs
    expect(page.locator(".st-key-keep_an_epochs")).to_contain_text("10")
    shot(page, "30-anomaly-ready")
    page.locator(".st-key-an_start button").click()
    page.get_by_text("ROC AUC", exact=True).wait_for(timeout=300_000)
    wait_idle(page)
    auc = float(metric(page, "ROC AUC"))
    assert auc > 0.9, auc
    assert page.locator(".js-plotly-plot").count() >= 2  # the ROC curve and the histograms
    assert page.get_by_text("Most anomalous").count() == 1 and page.get_by_text("Least anomalous").count() == 1
    assert page.locator('[data-testid="stImage"] img').count() >= 2
    flagged = metric(page, "Flagged")
    shot(page, "31-anomaly-result")
    slider_keys(page, "an_thr", "End")  # the highest threshold: only the top score is flagged
    expect(page.locator('[data-testid="stMetric"]', has=page.get_by_text("Flagged", exact=True))).to_contain_text("1")
    assert metric(page, "Flagged") != flagged
    assert metric(page, "Precision") == "100.0%"

    page.locator(".st-key-keep_an_bench label").click()
    wait_idle(page)
    slider_keys(page, "keep_an_epochs", "Home", *["ArrowRight"] * 4)  # 5 epochs: ten detectors, quickly
    page.locator(".st-key-an_start button").click()
    page.get_by_text("Mean ROC AUC", exact=True).wait_for(timeout=600_000)
    wait_idle(page)
    assert float(metric(page, "Mean ROC AUC")) > 0.85
    assert page.get_by_text("Deep SVDD (published)").count() == 1
    shot(page, "32-anomaly-benchmark")
