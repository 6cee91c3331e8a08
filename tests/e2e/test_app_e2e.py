"""The app in a real browser: train from the UI, watch it live, stop, find the run, reload."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import goto_page, shot, wait_idle

pytestmark = pytest.mark.e2e


def choose(page, key: str, option: str) -> None:
    """Pick an option of the selectbox with this key."""
    box = page.locator(f".st-key-{key} input")
    box.click()
    page.get_by_role("option", name=option, exact=False).first.click()
    expect(box).to_have_value(re.compile(re.escape(option)))
    wait_idle(page)


def set_number(page, key: str, value: int) -> None:
    """Type into the number input with this key."""
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def progress_value(page) -> int:
    """The step shown in the progress bar's text ('... step 120/6,900 ...')."""
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    m = re.search(r"step ([\d,]+)/", text)
    return int(m.group(1).replace(",", "")) if m else 0


def test_train_watch_stop_runs_reload(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    shot(page, "01-home")
    choose(page, "sb_dataset", "Digits (bundled")
    shot(page, "01b-digits")
    assert "1x8x8" in page.locator('[data-testid="stSidebar"]').inner_text()

    goto_page(page, "Train")
    choose(page, "keep_model", "Convolutional autoencoder")
    set_number(page, "keep_cae_epochs", 1)
    shot(page, "02-train-ready")
    page.locator(".st-key-train_start button").click()
    page.get_by_text(re.compile("Done in")).wait_for(timeout=120_000)
    wait_idle(page)
    imgs = page.locator('[data-testid="stImage"] img')
    assert imgs.count() >= 1, "the reconstruction grid is shown"
    assert page.get_by_text("their reconstructions").count() == 1
    shot(page, "03-train-done")

    # A longer run: the progress bar moves, and Stop leaves a saved model.
    set_number(page, "keep_cae_epochs", 300)
    page.locator(".st-key-train_start button").click()
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
    first = progress_value(page)
    page.wait_for_timeout(3000)
    second = progress_value(page)
    assert second > first, f"progress did not move ({first} -> {second})"
    assert page.locator(".st-key-keep_model input").is_disabled()
    shot(page, "04-train-running")
    page.locator(".st-key-train_stop button").click()
    page.get_by_text(re.compile("Stopped")).first.wait_for(timeout=60_000)
    wait_idle(page)
    shot(page, "05-train-stopped")

    goto_page(page, "Reconstructions")
    page.get_by_text("Original (top) and reconstruction (bottom)").wait_for()
    shot(page, "06-reconstructions")

    goto_page(page, "Runs")
    table = page.locator('[data-testid="stDataFrame"]')
    table.wait_for()
    shot(page, "07-runs")
    runs_before = page.locator(".st-key-runs_pick").inner_text()

    page.reload()
    wait_idle(page)
    page.locator('[data-testid="stDataFrame"]').wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Convolutional autoencoder" in sidebar, "the current model survives a reload"
    assert page.locator(".st-key-runs_pick").inner_text() == runs_before
    shot(page, "08-runs-after-reload")
