"""Issue 22 in a real browser: a tab's ?s= handle, stolen into another browser, grants nothing."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import goto_page, shot, wait_idle
from tests.e2e.test_app_e2e import choose, set_number

pytestmark = pytest.mark.e2e
LONG = 600_000


def _sid(page) -> str:
    return re.search(r"[?&]s=([^&]+)", page.url).group(1)


def test_a_stolen_tab_handle_cannot_delete_or_stop_anything(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    choose(page, "sb_dataset", "Digits (bundled")
    goto_page(page, "Train")
    choose(page, "form_model", "Autoencoder (MLP)")
    set_number(page, "form_ae_epochs", 1)
    page.locator(".st-key-train_start button").click()
    page.get_by_text(re.compile("Done in")).wait_for(timeout=LONG)
    wait_idle(page)
    set_number(page, "form_ae_epochs", 500)  # a long training, left running
    page.locator(".st-key-train_start button").click()
    expect(page.locator(".st-key-train_stop button")).to_be_enabled(timeout=LONG)
    sid = _sid(page)
    page.reload()  # the same browser gets its tab (and its running job) back from the address bar
    wait_idle(page)
    assert _sid(page) == sid
    expect(page.locator(".st-key-train_stop button")).to_be_enabled(timeout=60_000)

    other = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    thief = other.new_page()
    for path in ("", "train", "runs"):  # the stolen handle, on each page it could act from
        thief.goto(f"{app_url}/{path}?s={sid}")
        wait_idle(thief)
        assert _sid(thief) != sid  # a fresh tab of its own: the handle alone proves nothing
    goto_page(thief, "Train")
    expect(thief.locator(".st-key-train_stop button")).to_be_disabled()  # the victim's job is not theirs
    goto_page(thief, "Runs")
    delete = thief.locator('[data-testid="stPopover"] button', has_text="Delete").first
    expect(delete).to_be_disabled()  # the victim's runs can be looked at, not deleted
    shot(thief, "40-stolen-handle-runs")
    other.close()

    # The victim's training went on, and the victim can still stop it.
    expect(page.locator(".st-key-train_stop button")).to_be_enabled()
    page.locator(".st-key-train_stop button").click()
    page.get_by_text(re.compile("Stopped", re.I)).first.wait_for(timeout=LONG)


HOSTILE = ("digits [click](https://evil.example/a) ![pic](https://evil.example/p.png) http://evil.example/b "
           "www.evil.example/c me@evil.example <b>x</b> <img src=https://evil.example/q.png> :red[red] "
           ":material/warning: $x^2$ **bold** _it_ snake_case_name")
EVIL_DOM = ('a[href*="evil"], img[src*="evil"], [data-testid="stMarkdownContainer"] b, '
            '[data-testid="stMarkdownContainer"] strong:text("bold"), [data-testid="stMarkdownContainer"] em, '
            'span[aria-label="warning icon"], .katex')


def _no_markup(page) -> None:
    """No link, image, bold, icon or formula made of the hostile words anywhere on the page."""
    bad = page.locator(EVIL_DOM)
    assert bad.count() == 0, [bad.nth(i).evaluate("e => e.outerHTML") for i in range(bad.count())]


def test_an_uploaded_runs_text_is_shown_as_text(page, app_url, tmp_path):
    """A run.json's dataset text reaches the sidebar, the Runs page and its errors, and a link's words reach a
    note: each shows as the words written, with no link, remote image or markup for whoever views it."""
    import io
    import json
    import zipfile

    from core.engine import TrainConfig
    from core.pipeline import train_and_save

    path, *_ = train_and_save("ae", {"latent_dim": 2, "hidden": [16]}, "digits", TrainConfig(epochs=1, preview_every=0),
                              root=tmp_path / "runs", checkpoints=False)
    meta = json.loads((path / "run.json").read_text())
    meta["dataset"] = HOSTILE
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("run.json", json.dumps(meta))
        z.writestr("model.safetensors", (path / "model.safetensors").read_bytes())
    upload = tmp_path / "shared-run.zip"
    upload.write_bytes(buf.getvalue())

    page.goto(app_url)
    wait_idle(page)
    goto_page(page, "Runs")
    page.locator(".st-key-runs_upload [data-testid=\"stFileUploaderDropzoneInput\"]").set_input_files(str(upload))
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text("[click](https:", timeout=60_000)  # the words, as written
    wait_idle(page)
    _no_markup(page)
    shown = sidebar.inner_text().replace("\u2060", "")  # the word joiners that break autolinks are invisible
    for words in ("[click](https://evil.example/a)", "![pic](https://evil.example/p.png)", "www.evil.example/c",
                  "me@evil.example", "<b>x</b>", ":red[red]", ":material/warning:", "$x^2$", "**bold**", "_it_",
                  "snake_case_name"):
        assert words in shown, words
    shot(page, "41-hostile-run-text")

    page.get_by_role("button", name="Train again").click()  # its dataset is not this tab's: refused, quoting it
    page.locator('[data-testid="stAlert"]', has_text="cannot be trained again").wait_for(timeout=60_000)
    _no_markup(page)

    page.goto(f"{app_url}/?run=[x](http://evil.example/l)%20www.evil.example")  # a link's own words, in a note
    page.get_by_text("is not on this server").wait_for(timeout=60_000)
    wait_idle(page)
    _no_markup(page)
