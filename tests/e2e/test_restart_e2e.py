"""The server is killed mid-training and started again: the run is listed as interrupted and resumes."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.e2e.conftest import ROOT, _free_port, goto_page, shot, wait_idle
from tests.e2e.test_app_e2e import choose, set_number

pytestmark = pytest.mark.e2e


def _serve(port: int, home, log) -> subprocess.Popen:
    env = {**os.environ, "LATENT_LAB_HOME": str(home), "LATENT_LAB_CHECKPOINT_S": "0.5", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start")


def test_killed_server_leaves_an_interrupted_run_that_resumes(page, tmp_path):
    home, port = tmp_path / "runs", _free_port()
    log = open(tmp_path / "server.log", "w")
    server = _serve(port, home, log)
    url = f"http://127.0.0.1:{port}"
    try:
        page.goto(url)
        wait_idle(page)
        choose(page, "sb_dataset", "Digits (bundled")
        goto_page(page, "Train")
        set_number(page, "form_cae_epochs", 300)
        page.locator(".st-key-train_start button").click()
        deadline = time.time() + 180
        while time.time() < deadline and not list(home.glob("*/checkpoint.pt")):
            time.sleep(0.3)
        assert list(home.glob("*/checkpoint.pt")), "no checkpoint was written"
        os.killpg(server.pid, signal.SIGKILL)  # the whole server, as a crash or a power cut would
        server.wait(30)

        server = _serve(port, home, log)
        # A tab left open on Runs reloads there: the restarted server's first visit is a deep link. It must
        # still run through app.py (its sidebar, its page titles), not pages/runs.py alone.
        page.goto(f"{url}/runs")
        wait_idle(page)
        page.get_by_text("Current model").wait_for(timeout=60_000)
        assert page.locator('[data-testid="stSidebarNav"]').get_by_text("Hybrid vs CNN").count() == 1
        page.get_by_text(re.compile("interrupted at step")).wait_for(timeout=60_000)
        shot(page, "30-runs-interrupted")
        page.locator("[class*='st-key-resume_'] button").first.click()
        wait_idle(page)
        page.get_by_text(re.compile(r"Epoch \d+/300")).wait_for(timeout=120_000)
        page.locator(".st-key-train_stop button").click()
        try:
            page.get_by_text(re.compile("Stopped by the user")).wait_for(timeout=240_000)
        finally:
            shot(page, "31-after-stop")
        wait_idle(page)
        shot(page, "31-resumed-and-stopped")
        (folder,) = [p for p in home.iterdir() if p.is_dir() and not p.name.startswith(".")]
        assert (folder / "model.safetensors").exists() and not (folder / "checkpoint.pt").exists()
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
