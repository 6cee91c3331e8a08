"""The app in a real browser: train from the UI, watch it live, stop, find the run, reload."""
from __future__ import annotations

import re
import zipfile

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
    choose(page, "form_model", "Convolutional autoencoder")
    set_number(page, "form_cae_epochs", 1)
    shot(page, "02-train-ready")
    page.locator(".st-key-train_start button").click()
    page.get_by_text(re.compile("Done in")).wait_for(timeout=120_000)
    wait_idle(page)
    imgs = page.locator('[data-testid="stImage"] img')
    assert imgs.count() >= 1, "the reconstruction grid is shown"
    assert page.get_by_text("their reconstructions").count() == 1
    shot(page, "03-train-done")

    # A longer run: the progress bar moves, and Stop leaves a saved model.
    set_number(page, "form_cae_epochs", 300)
    page.locator(".st-key-train_start button").click()
    page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
    for _ in range(60):  # the first steps may take a moment (data, model, threads)
        first = progress_value(page)
        if first > 0:
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(3000)
    second = progress_value(page)
    assert second > first, f"progress did not move ({first} -> {second})"
    assert page.locator(".st-key-form_model input").is_disabled()
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
    with page.expect_download(timeout=60_000) as got:  # the zip is made on the click (issue 11)
        page.locator(".st-key-runs_download button").click()
    with zipfile.ZipFile(got.value.path()) as z:
        assert sorted(z.namelist()) == ["model.safetensors", "run.json"]
    assert got.value.suggested_filename.endswith(".zip")

    page.reload()
    wait_idle(page)
    page.locator('[data-testid="stDataFrame"]').wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Convolutional autoencoder" in sidebar, "the current model survives a reload"
    assert page.locator(".st-key-runs_pick").inner_text() == runs_before
    shot(page, "08-runs-after-reload")


def slider_keys(page, key: str, *keys: str) -> None:
    """Focus the slider with this key and press keys on it (e.g. "Home", "ArrowRight")."""
    thumb = page.locator(f".st-key-{key} input[type='range']").first
    thumb.focus()
    for k in keys:
        thumb.press(k)
    wait_idle(page)


def train_small_cae(page, app_url) -> None:
    """From a fresh tab: digits, a CAE for 2 epochs, wait until it is saved."""
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Digits (bundled")
    goto_page(page, "Train")
    choose(page, "form_model", "Convolutional autoencoder")
    set_number(page, "form_cae_epochs", 2)
    page.locator(".st-key-train_start button").click()
    page.get_by_text(re.compile("Done in")).wait_for(timeout=120_000)
    wait_idle(page)


def test_latent_space_and_generate(page, app_url):
    train_small_cae(page, app_url)
    goto_page(page, "Latent space")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(timeout=120_000)
    shot(page, "10-latent-pca")
    page.locator(".st-key-keep_ls_method").get_by_text("UMAP").click()
    wait_idle(page, timeout=180_000)
    page.get_by_text(re.compile(r"UMAP in [\d.]+ s")).wait_for(timeout=180_000)
    shot(page, "11-latent-umap")
    # Box-select the middle of the plot (dragmode is "select").
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] * 0.6, y0 + box["height"] * 0.6, steps=12)
    page.mouse.up()
    page.get_by_text(re.compile(r"[\d,]+ selected")).wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator('[data-testid="stImage"] img').count() >= 1
    shot(page, "12-latent-selection")

    goto_page(page, "Generate")
    page.locator(".st-key-gen_scrub").wait_for(timeout=60_000)
    caption = page.get_by_text(re.compile(r"step \d+ of \d+")).first
    before = caption.inner_text()
    slider_keys(page, "gen_scrub", "ArrowRight", "ArrowRight", "ArrowRight")
    expect(page.get_by_text(re.compile(r"step \d+ of \d+")).first).not_to_have_text(before)
    shot(page, "13-generate-interpolation")


def test_hybrid_vs_cnn_tiny_comparison(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Digits (bundled")
    goto_page(page, "Hybrid vs CNN")
    slider_keys(page, "keep_cmp_steps", "Home")  # the smallest budget
    set_number(page, "keep_cmp_seeds", 1)
    shot(page, "20-compare-ready")
    page.locator(".st-key-cmp_start button").click()
    page.get_by_text(re.compile("Done in")).wait_for(timeout=240_000)
    wait_idle(page)
    assert page.locator(".js-plotly-plot").count() >= 2  # curves and confusion matrices
    shot(page, "21-compare-result")
