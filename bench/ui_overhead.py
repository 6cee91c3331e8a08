"""Training speed through the UI (worker thread + live page refresh) vs the bare engine.

The UI side is the real Train page driven by Streamlit's AppTest: Start is
clicked, then the whole page script is re-run every REFRESH_S seconds (the
fragment's default refresh rate) until the job ends, so every refresh pays for
the snapshot, the plotly loss chart and the preview grid. That is more work
than the browser's fragment-only refresh, so the ratio is conservative. The
baseline is core.engine.train with no callback, same model, data and steps.
Target (issue 3): UI >= 0.9 x bare. Rounds are interleaved; medians reported.

    python bench/ui_overhead.py [--rounds 3] [--epochs 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from common import ROOT, report_ratio
from core.datasets import load_dataset
from core.device import configure_threads
from core.engine import train
from core.models import build_model
from core.pipeline import default_train_config


def bare(epochs: int) -> float:
    """img/s of the engine alone (no callback, no previews)."""
    ds = load_dataset("mnist5k")
    cfg = default_train_config("cae", epochs=epochs, preview_every=0)
    model = build_model("cae", None, ds.shape)
    return train(model, ds, cfg).images_per_sec


def through_ui(epochs: int, refresh_s: float) -> float:
    """img/s of the same training started and watched from the Train page."""
    from streamlit.testing.v1 import AppTest

    from core.store import load_run
    from ui import state
    from ui.state import TabState, _tabs
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sid = f"bench-{time.time_ns()}"
    state.browser_key = lambda: "bench-browser"  # AppTest sends no cookies: one browser, as in tests/app
    tab = TabState(browser="bench-browser")
    _tabs()[sid] = tab
    at.query_params["s"] = sid
    at.switch_page("pages/train.py").run()
    at.selectbox(key="form_model").set_value("cae").run()
    at.number_input(key="form_cae_epochs").set_value(epochs).run()
    at.button(key="train_start").click().run()
    refreshes = 0
    while tab.job.active:
        time.sleep(refresh_s)
        at.run()
        refreshes += 1
    assert not at.exception and tab.job.state == "finished", tab.job.error
    timings = load_run(tab.job.run_path).meta["timings"]
    ips = timings["images_per_sec"]
    print(f"  ui round: {ips:,.0f} img/s on {timings.get('threads')} thread(s), {refreshes} page refreshes",
          file=sys.stderr)
    return ips


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--refresh", type=float, default=1.0, help="seconds between page refreshes")
    a = p.parse_args()
    os.environ.setdefault("LATENT_LAB_HOME", tempfile.mkdtemp(prefix="ll-bench-"))
    threads = configure_threads()
    bare(1)  # warm-up
    b, u = [], []
    for _ in range(a.rounds):
        b.append(bare(a.epochs))
        u.append(through_ui(a.epochs, a.refresh))
    report_ratio(f"CAE on mnist5k, {a.epochs} epochs x {a.rounds} rounds, page refresh every "
                 f"{a.refresh:g} s, {threads} CPU threads", "bare engine", b,
                 "worker + live Train page", u, 0.9)


if __name__ == "__main__":
    main()
