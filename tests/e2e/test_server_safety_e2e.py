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


HOSTILE = ("digits [click](https:evil.example) ![pic](https:evil.example) www.evil.example me@evil.example <b>x</b> "
           ":red[red]")


def test_an_uploaded_runs_text_is_shown_as_text(page, app_url, tmp_path):
    """A run.json's dataset text reaches the sidebar and the Runs page: no link or remote image for its viewers."""
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
    expect(sidebar).to_contain_text("[click](https:evil.example)", timeout=60_000)  # the words, as written
    wait_idle(page)
    bad = page.locator('a[href*="evil"], img[src*="evil"], b:text("x")')
    assert bad.count() == 0, [bad.nth(i).evaluate("e => e.outerHTML") for i in range(bad.count())]
    assert "evil.example" in sidebar.inner_text()
    shot(page, "41-hostile-run-text")
