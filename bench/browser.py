"""Speed as a user sees it (issue 12), in headless Chromium with Playwright.

1. From `streamlit run` to a trained CAE grid on screen: a fresh server on an
   empty runs folder is started at t=0; the browser opens Home as soon as the
   server answers, clicks the CAE preset and waits until "Done in" and the
   reconstruction grid are on screen. Target <= 20 s. Same-run baseline: the
   same preset trained by core alone in a fresh Python process (imports
   included), the floor the app adds to.
2. Generate, slider move -> new image: with that run current (opened through a
   link, ?run=...), Interpolate; each ArrowRight on the scrub slider is timed
   from the key press to the new step's caption and every image loaded in the
   DOM. Target <= 150 ms (median). Same-run baseline: the same page with its
   st.fragment off (LATENT_LAB_GEN_FRAGMENT=0), i.e. whole-script reruns.

    python bench/browser.py [--rounds 1] [--moves 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, print_table

CHROMIUM = os.environ.get("LATENT_LAB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
LOADED = """([n]) => document.body.innerText.includes(`step ${n} of`) &&
    [...document.images].every(i => i.complete && i.naturalWidth > 0) && performance.now()"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, float]:
    """Start `streamlit run app.py`; returns (process, url, perf_counter at the start)."""
    port = free_port()
    env = {**os.environ, "LATENT_LAB_HOME": str(home), **(env_extra or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 120:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return proc, url, t0
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("streamlit did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def baseline_train() -> float:
    """Seconds for a fresh Python process to import core and train + save the CAE preset."""
    code = ("from core.presets import PRESETS_BY_KEY as P\nfrom core.pipeline import train_and_save\n"
            "p = P['cae-mnist']\nimport tempfile\n"
            "train_and_save(p.model, p.model_config, p.dataset, p.train_config(), root=tempfile.mkdtemp())")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


def first_grid(browser, home: Path) -> tuple[float, float, str]:
    """(seconds to Home, seconds to the trained CAE grid, run id), both from `streamlit run`."""
    proc, url, t0 = serve(home)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.locator(".st-key-preset_cae-mnist button").wait_for(timeout=120_000)
        t_home = time.perf_counter() - t0
        page.locator(".st-key-preset_cae-mnist button").click()
        page.get_by_text("Done in").wait_for(timeout=600_000)
        # Every image loaded or given up on (a preview replaced by a later rerun), and the grid among them.
        page.wait_for_function("() => [...document.images].every(i => i.complete) && "
                               "[...document.images].filter(i => i.naturalWidth > 0).length > 1")
        t_grid = time.perf_counter() - t0
        page.close()
    finally:
        stop(proc)
    run_id = sorted(p.name for p in home.iterdir() if (p / "run.json").is_file())[-1]
    return t_home, t_grid, run_id


def slider_ms(browser, home: Path, run_id: str, moves: int, fragment: bool, dataset: str = "mnist5k") -> list[float]:
    """Key press -> new scrubbed image in the DOM, ms, for ``moves`` ArrowRight/ArrowLeft presses."""
    proc, url, _ = serve(home, {"LATENT_LAB_GEN_FRAGMENT": "1" if fragment else "0"})
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/?page=generate&run={run_id}&dataset={dataset}&gen_tool=Interpolate&gen_steps=16")
        page.locator(".st-key-gen_scrub").wait_for(timeout=180_000)
        page.wait_for_selector(IDLE, timeout=120_000)
        thumb = page.locator(".st-key-gen_scrub [role='slider'], .st-key-gen_scrub input[type='range']").first
        thumb.focus()
        out, step, direction = [], 1, 1
        for i in range(moves + 2):  # the first two are warm-up
            if not 1 <= step + direction <= 16:
                direction = -direction  # back and forth along the 16 steps
            step += direction
            key = "ArrowRight" if direction > 0 else "ArrowLeft"
            t0 = page.evaluate("performance.now()")
            thumb.press(key)
            t1 = page.wait_for_function(LOADED, arg=[step], polling="raf", timeout=30_000).json_value()
            if i >= 2:
                out.append(t1 - t0)
            page.wait_for_selector(IDLE, timeout=30_000)
            page.wait_for_timeout(150)
        page.close()
    finally:
        stop(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1, help="server starts for the first-grid timing")
    ap.add_argument("--moves", type=int, default=15, help="slider moves per variant")
    ap.add_argument("--slider-only", metavar="RUNS_DIR/RUN_ID", help="only the slider timing, on a saved run")
    ap.add_argument("--dataset", default="mnist5k", help="with --slider-only: the run's dataset")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    if a.slider_only:
        run = Path(a.slider_only)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            frag = slider_ms(browser, run.parent, run.name, a.moves, True, a.dataset)
            whole = slider_ms(browser, run.parent, run.name, a.moves, False, a.dataset)
        print_table("Generate: slider key press -> new image loaded, ms", ["path", "median ms", "min", "max"],
                    [["whole-script rerun", statistics.median(whole), min(whole), max(whole)],
                     ["st.fragment rerun", statistics.median(frag), min(frag), max(frag)]])
        return

    base = [baseline_train() for _ in range(a.rounds)]
    homes, grids, run_id, home = [], [], None, None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for _ in range(a.rounds):
            home = Path(tempfile.mkdtemp(prefix="bench-browser-"))
            h, g, run_id = first_grid(browser, home)
            homes.append(h)
            grids.append(g)
        frag = slider_ms(browser, home, run_id, a.moves, True)
        whole = slider_ms(browser, home, run_id, a.moves, False)
        browser.close()
    med = statistics.median
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    print_table(f"From `streamlit run` to a trained CAE grid in the browser ({a.rounds} round(s); {load})",
                ["path", "median s", "all rounds", "target"],
                [["baseline: core alone trains the CAE preset (fresh process)", med(base),
                  " ".join(f"{v:.1f}" for v in base), "(baseline)"],
                 ["app: Home on screen", med(homes), " ".join(f"{v:.1f}" for v in homes), "(info)"],
                 ["app: trained CAE grid on screen", med(grids), " ".join(f"{v:.1f}" for v in grids), "<= 20"]])
    ok1 = med(grids) <= 20
    print(f"\ntarget: trained CAE grid <= 20 s after `streamlit run` -> {'PASS' if ok1 else 'FAIL'} "
          f"({med(grids):.1f} s; the app adds {med(grids) - med(base):.1f} s to core's own training)")
    print_table(f"Generate: slider key press -> new image loaded in the browser, ms ({a.moves} moves; {load})",
                ["path", "median ms", "min ms", "max ms", "target"],
                [["baseline: whole-script rerun (fragment off)", med(whole), min(whole), max(whole), "(baseline)"],
                 ["st.fragment rerun", med(frag), min(frag), max(frag), "<= 150"]])
    ok2 = med(frag) <= 150
    print(f"\ntarget: slider -> image <= 150 ms -> {'PASS' if ok2 else 'FAIL'} ({med(frag):.0f} ms, "
          f"{med(whole) / med(frag):.1f}x faster than whole reruns)")


if __name__ == "__main__":
    main()
