"""Issue 12 in a real browser: watch the map form, draw a digit, side by side, sweeps, links, looks."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import goto_page, shot, wait_idle
from tests.e2e.test_app_e2e import choose, set_number, slider_keys

pytestmark = pytest.mark.e2e
LONG = 900_000  # trainings share two busy cores with other work (here: a load average of 10-20)


def tall(page) -> None:
    """A tall window, so one screenshot holds a whole section."""
    page.set_viewport_size({"width": 1400, "height": 1500})


def slider_label(page, key: str) -> str:
    """The current value text of a plotly slider inside the chart with this key ('step 46')."""
    return page.locator(f".st-key-{key} .slider-container text.slider-label").first.text_content()


def test_watch_draw_links_and_looks(page, app_url):
    tall(page)
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Digits (bundled")
    # (6) preset cards: times measured here (none yet) and a note when a preset changes the dataset
    card = page.locator('[data-testid="stVerticalBlock"]').filter(has=page.locator(".st-key-preset_cae-mnist")).last
    expect(card).to_contain_text("not timed on this server yet")
    expect(card).to_contain_text("switches the dataset to MNIST-5k")
    shot(page, "30-home-presets")

    # (1) watch the latent space form while training, then replay it
    goto_page(page, "Train")
    choose(page, "form_model", "Convolutional autoencoder")
    set_number(page, "form_cae_epochs", 3)
    page.locator(".st-key-train_start button").click()
    page.locator(".st-key-train_watch").wait_for(timeout=LONG)  # the map appears while training
    page.get_by_text(re.compile("Done in")).wait_for(timeout=LONG)
    wait_idle(page)
    page.get_by_text(re.compile(r"\(snapshot \d+\), the last one")).wait_for(timeout=LONG)  # the final map
    assert page.locator(".updatemenu-button").count() == 0  # the replay is sent only when opened
    page.get_by_text("Replay how the latent map formed").click()
    chart = page.locator(".st-key-train_watch_replay")
    chart.wait_for(timeout=LONG)
    chart.scroll_into_view_if_needed()
    last = slider_label(page, "train_watch_replay")
    assert re.fullmatch(r"step \d+", last) and last != "step 0"
    chart.locator(".updatemenu-button").first.click()  # Play: from the untrained map to the last
    seen = set()
    for _ in range(30):
        seen.add(slider_label(page, "train_watch_replay"))
        page.wait_for_timeout(100)
    assert len(seen) >= 3, f"the animation did not move: {seen}"
    expect(page.locator(".st-key-train_watch_replay .slider-container text.slider-label").first).to_have_text(
        last, timeout=30_000)
    shot(page, "31-watch-train")
    goto_page(page, "Runs")
    assert page.get_by_text("Replay how the latent map formed").count() == 1
    assert page.locator(".updatemenu-button").count() == 0  # closed: the replay is not sent until opened
    page.get_by_text("Replay how the latent map formed").click()
    page.locator('[data-testid="stPlotlyChart"]').filter(has=page.locator(".updatemenu-button")).first.wait_for()

    # (2) draw a digit on the canvas
    goto_page(page, "Draw a digit")
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 100, y0 + 60)
    page.mouse.down()
    for i in range(1, 15):  # a "7": across, then down-left
        page.mouse.move(x0 + 100 + i * 6, y0 + 60)
    for i in range(1, 20):
        page.mouse.move(x0 + 184 - i * 4, y0 + 60 + i * 9)
    page.mouse.up()
    page.get_by_text("its reconstruction").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_text("your digit").count() >= 1  # the star's legend entry on the map
    assert page.get_by_text(re.compile(r"distance \d")).count() == 8
    assert page.get_by_text("k-NN vote in code space").count() == 1
    shot(page, "32-draw")

    # (6) reconstructions large enough for a projector, a caption under each worst image
    goto_page(page, "Reconstructions")
    slider_keys(page, "keep_rec_per_row", "End")
    expect(page.locator(".st-key-keep_rec_per_row")).to_contain_text("for a projector")
    shot(page, "33-reconstructions-projector")

    # (5) a link to this view opens the same view in a tab of its own
    goto_page(page, "Generate")
    page.locator(".st-key-keep_gen_tool").get_by_text("Manifold").click()
    wait_idle(page)
    slider_keys(page, "keep_gen_span", "End")  # span 4
    page.locator(".st-key-share_link button").click()
    url = page.locator('[role="dialog"] [data-testid="stCode"]').first.inner_text().strip()
    own = re.search(r"[?&]s=([^&]+)", page.url).group(1)
    assert "page=generate" in url and "gen_tool=Manifold" in url and "gen_span=4.0" in url
    assert own not in url and not re.search(r"[?&]s=", url)
    other = page.context.browser.new_context(viewport={"width": 1400, "height": 1200})
    p2 = other.new_page()
    p2.goto(url)
    wait_idle(p2)
    p2.get_by_text(re.compile("from -4.0 to \\+4.0 standard deviations")).wait_for(timeout=60_000)
    wait_idle(p2)
    assert "generate" in p2.url and re.search(r"[?&]s=([^&]+)", p2.url).group(1) != own
    assert "Convolutional autoencoder" in p2.locator('[data-testid="stSidebar"]').inner_text()
    shot(p2, "34-link-restored")
    other.close()


def test_side_by_side_contrast_and_sweep(page, app_url):
    tall(page)
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Digits (bundled")

    # (3) one click: AE vs VAE, trained on the spot, then side by side
    goto_page(page, "Side by side")
    set_number(page, "sbs_epochs", 1)
    page.locator(".st-key-sbs_ae-vs-vae button").first.click()
    page.get_by_text("The same test images, rebuilt by each").wait_for(timeout=LONG)
    wait_idle(page)
    main = page.locator('[data-testid="stMain"]')
    # Runs of earlier tests may fill the page while the contrast trains: wait for the contrast's own two.
    deadline = time.time() + LONG / 1000
    names = ("CAE, latent 2", "VAE, latent 2")  # each in a reconstruction row, a map title (and the table)
    while time.time() < deadline and not all(main.get_by_text(n, exact=True).count() >= 2 for n in names):
        page.wait_for_timeout(500)
    wait_idle(page)
    for name in names:
        assert main.get_by_text(name, exact=True).count() >= 2, name
    assert page.locator(".js-plotly-plot").count() == 2  # two maps, same method
    shot(page, "35-side-by-side")

    # (4) a latent-size sweep ends in the compression curve
    goto_page(page, "What if...")
    choose(page, "sw_model", "Autoencoder (MLP)")
    box = page.locator(".st-key-sw_values_ae_latent_dim input")
    box.fill("2, 32")
    box.press("Enter")
    wait_idle(page)
    set_number(page, "sw_epochs", 1)
    page.locator(".st-key-sw_start button").click()
    page.get_by_text("Autoencoders as compressors").wait_for(timeout=LONG)
    page.locator(".st-key-sw_compress").get_by_text("latent 32").wait_for(timeout=LONG)  # both done
    wait_idle(page)
    assert page.get_by_text(re.compile(r"PNG of the image: \d+ bytes")).count() == 1
    shot(page, "36-sweep-compression")
