"""AppTest helpers: run app.py on a chosen page with a tab state prepared."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.engine import TrainConfig
from core.pipeline import train_and_save

APP = Path(__file__).resolve().parents[2] / "app.py"
BROWSER = "apptest-browser"  # what state.browser_key() gives in these tests (AppTest sends no cookies)


@pytest.fixture(autouse=True)
def _one_browser(monkeypatch):
    """Every AppTest comes from one browser: a tab's ``?s=`` is honoured as from the browser that made it."""
    from ui import state
    monkeypatch.setattr(state, "browser_key", lambda: BROWSER)


def open_page(page: str | None = None, *, run_path=None, dataset: str = "digits",
              timeout: float = 60) -> AppTest:
    """A fresh AppTest of app.py switched to ``page`` (e.g. "pages/train.py")."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    from ui.state import TabState, _tabs
    sid = f"test-{time.time_ns()}"
    tab = TabState(browser=BROWSER)  # prepared before the first run, as if this browser had used this tab
    tab.dataset = dataset
    tab.run_path = str(run_path) if run_path is not None else None
    _tabs()[sid] = tab
    at.query_params["s"] = sid
    if page:
        at.switch_page(page)
    at.run()
    return at


def shown(markdown: str) -> str:
    """What a Markdown element shows: user text reaches it escaped (ui.format.plain), read back here."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def poll(at: AppTest, until, timeout: float = 120, every: float = 0.5) -> AppTest:
    """Re-run the script until ``until(at)`` holds (run_every does not fire in AppTest)."""
    end = time.time() + timeout
    while time.time() < end:
        at.run()
        if until(at):
            return at
        time.sleep(every)
    raise AssertionError("condition not reached in time")


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test():
    """Stop and join every job a test left running (a torch thread alive at exit aborts Python)."""
    yield
    from ui.state import _tabs
    for t in list(_tabs().values()):
        for job in (t.job, t.compare_job, t.anomaly_job):
            if job is not None:
                job.stop()
                job.join(60)


@pytest.fixture(scope="session")
def cae_digits_run(tmp_path_factory):
    """A small CAE trained on digits, saved as a run."""
    root = tmp_path_factory.mktemp("runs")
    path, *_ = train_and_save("cae", {"latent_dim": 8}, "digits", TrainConfig(epochs=3, batch_size=64),
                              root=root)
    return path


@pytest.fixture(scope="session")
def cnn_digits_run(tmp_path_factory):
    """A small CNN classifier trained on digits."""
    root = tmp_path_factory.mktemp("runs")
    path, *_ = train_and_save("cnn", None, "digits", TrainConfig(epochs=1, batch_size=64), root=root)
    return path
