"""In a real browser: the sequence AE on waves, the supervised AE beside a plain AE, codes as features."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import goto_page, shot, wait_idle
from tests.e2e.test_app_e2e import choose, set_number, train_small_cae

pytestmark = pytest.mark.e2e


def train(page, title: str, key: str, epochs: int) -> None:
    """Train the model with this title from the Train page and wait until it is saved."""
    goto_page(page, "Train")
    choose(page, "form_model", title)
    set_number(page, f"form_{key}_epochs", epochs)
    page.locator(".st-key-train_start button").click()
    # A previous training's "Done in" may still be on the page: wait until this model is the current one.
    current = page.locator('[data-testid="stSidebar"]').get_by_text(re.compile("^" + re.escape(title)))
    current.wait_for(timeout=300_000)
    page.get_by_text(re.compile("Done in")).wait_for(timeout=300_000)
    wait_idle(page)


def test_sequence_ae_on_waves_draws_line_plots(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Waves (bundled")
    page.locator('[data-testid="stSidebar"]').get_by_text(re.compile("64 steps x 1 feature")).wait_for()
    goto_page(page, "Train")
    choose(page, "form_model", "Sequence autoencoder")
    page.get_by_text("How a sequence autoencoder (GRU/LSTM) learns").click()
    page.get_by_text(re.compile("Where the CAE's convolutions")).wait_for()
    train(page, "Sequence autoencoder", "seqae", 6)
    assert page.locator('[data-testid="stImage"] img').count() >= 1
    shot(page, "30-seqae-train-done")

    goto_page(page, "Reconstructions")
    page.get_by_text("Original (top) and reconstruction (bottom)").wait_for()
    page.get_by_text(re.compile("Worst reconstructions")).wait_for(timeout=120_000)
    wait_idle(page)
    imgs = page.locator('[data-testid="stImage"] img')
    assert imgs.count() >= 17
    box = imgs.first.bounding_box()
    assert box["width"] > 0.8 * box["height"], "two line plots stacked (a pair of digits would be 1:2)"
    shot(page, "31-seqae-reconstructions")

    goto_page(page, "Generate")
    page.locator(".st-key-gen_scrub").wait_for(timeout=60_000)
    shot(page, "32-seqae-generate")
    goto_page(page, "Latent space")
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    shot(page, "33-seqae-latent")


def test_supervised_ae_map_beside_the_plain_ae(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Digits (bundled")
    train(page, "Autoencoder (MLP)", "ae", 3)
    train(page, "Supervised autoencoder", "sae", 3)
    goto_page(page, "Latent space")
    page.get_by_text("Beside another model", exact=True).wait_for(timeout=120_000)
    page.get_by_text(re.compile("Autoencoder \\(MLP\\): classes separate")).wait_for(timeout=120_000)
    wait_idle(page)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Supervised autoencoder: classes separate" in text
    assert page.locator('[class*="st-key-ls_beside_plot_"] .js-plotly-plot').count() == 2  # the two side by side
    page.get_by_text("Beside another model", exact=True).scroll_into_view_if_needed()
    shot(page, "34-sae-beside-ae")


def test_codes_as_features(page, app_url):
    train_small_cae(page, app_url)
    goto_page(page, "Latent space")
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    page.locator(".st-key-ls_probe button").click()
    page.get_by_text("Codes, logistic regression", exact=True).wait_for(timeout=300_000)
    wait_idle(page)
    text = page.locator('[data-testid="stMain"]').inner_text()
    for label in ("Codes, k-NN", "Raw pixels, logistic regression", "PCA-32, logistic regression"):
        assert label in text
    assert re.search(r"\d+\.\d%", text)
    # The accuracy curves, with a line per representation and classifier (6 in all).
    curves = page.locator(".st-key-ls_probe_plot .js-plotly-plot")
    assert curves.count() == 1 and curves.locator(".scatterlayer .trace").count() == 6
    shot(page, "35-codes-as-features")
