"""Many people at once: N browser tabs train at the same time and visit every page.

Starts the app as `streamlit run app.py` does, on a free local port (its own runs folder, idle tabs
released after --ttl seconds; bench/timed_streamlit.py logs how long each script run takes), opens N
headless-Chromium tabs (Debian's /usr/bin/chromium), and in each: picks the 8x8 digits, starts the fast
denoising preset, then visits every page while the others train. Prints: runs saved, errors seen
(Streamlit exceptions on any page), whether the queue kept arrival order, seconds from the clicks to the
last saved run, the server's memory before, at the peak and after the tabs closed and timed out, and page
rerun latency p50/p95, two ways:

- on the server: how long each whole-page script run took (what the server's load does to a rerun:
  other sessions' reruns and the trainings' threads compete for its interpreter and its 2 cores);
- in the tab: click -> new page's script idle, on the browser's clock. This adds the browser's own work
  (parsing and drawing the page's charts), and here the N headless browsers run on the same 2 cores as
  the server and the trainings, which a class's own computers would not.

Two rounds, each on a fresh server: tabs that visit every page while they
train, and tabs that stay on the Train page (it redraws every second). Tab i
clicks Start 0.3 s after tab i-1, so the queue has a defined arrival order.

Targets (issue 11): 0 errors, 0 lost runs, every tab owns only its own run,
queue order kept, p95 rerun <= 1 s while 2 trainings run, memory back within
10% of the start; staying on Train, the sixth run saved <= 45 s after the clicks.

    python bench/load.py [--tabs 6] [--ttl 20] [--mode visit|stay|both]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import ROOT, print_table
from ui.startup import WARM_UP_DELAY_S

CHROMIUM = os.environ.get("LATENT_LAB_CHROMIUM", "/usr/bin/chromium")
PAGES = ["Reconstructions", "Latent space", "Generate", "Runs", "Train"]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the job workers), MB."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return sum(int(v) for v in out.stdout.split()) / 1024


def server_rss_mb(pid: int) -> float:
    """Resident memory of the server process alone, MB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of a process and its children (the UMAP warm-up's, the workers)."""
    kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for p in [pid, *map(int, kids)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, IndexError, ValueError):
            pass  # exited meanwhile
    return total / os.sysconf("SC_CLK_TCK")


def settle(pid: int, quiet_s: float = 5.0, limit_s: float = 180.0) -> None:
    """Wait (at most limit_s) until the server and its children have used under 5% of a core for quiet_s s."""
    end = time.time() + limit_s
    while time.time() < end:
        c0 = cpu_seconds(pid)
        time.sleep(quiet_s)
        if cpu_seconds(pid) - c0 < 0.05 * quiet_s:
            return


def rerun_log(home: str) -> Path:
    """Where bench/timed_streamlit.py logs the server's script runs (inside the round's runs folder's parent)."""
    return Path(home).with_name(Path(home).name + "-reruns.jsonl")


def server_reruns(home: str, since: float, until: float) -> list[dict]:
    """Every whole-page script run the server did between two times (fragments left out), as logged."""
    try:
        lines = rerun_log(home).read_text().splitlines()
    except OSError:
        return []
    return [r for r in map(json.loads, lines) if not r["fragment"] and since <= r["t"] <= until]


def slug(title: str) -> str:
    """A page's URL path, as the server logs it."""
    return title.lower().replace(" ", "_")


def breakdown(clicks: list[tuple], reruns: list[dict]) -> dict[str, dict[str, list[float]]]:
    """Per page, where each click's time went: click -> request at the server, -> script started, script
    run, script end -> page drawn in the tab. A click is matched with its page's first run whose request
    arrived between the click and the page drawn (the clocks are the same machine's)."""
    out: dict[str, dict[str, list[float]]] = {}
    for title, click, _shown, drawn in clicks:
        runs = [r for r in reruns if r["page"] == slug(title) and r.get("asked") and click - 0.05 <= r["asked"] <= drawn]
        if not runs:
            continue
        r = min(runs, key=lambda r: r["asked"])
        parts = out.setdefault(title, {"request": [], "queue": [], "script": [], "to tab": []})
        for k, v in (("request", r["asked"] - click), ("queue", r["t"] - r["asked"]), ("script", r["s"]),
                     ("to tab", drawn - r["t"] - r["s"])):
            parts[k].append(v)
    return out


def start_server(port: int, home: str, ttl: int) -> subprocess.Popen:
    env = {**os.environ, "LATENT_LAB_HOME": home, "LATENT_LAB_TAB_TTL_S": str(ttl), "PYTHONUNBUFFERED": "1",
           "LATENT_LAB_BENCH_RERUN_LOG": str(rerun_log(home))}
    # The app as `streamlit run` starts it, with each script run's duration logged (bench/timed_streamlit.py).
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "timed_streamlit.py"), "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not start")


def idle(page, timeout: float = 120_000) -> None:
    page.wait_for_timeout(200)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


# Done when the main area's title is the page's and the script is idle: the new title cannot be there before
# the rerun started, so this never catches the idle state of the page before the click. Polled every 20 ms
# (polling on every animation frame kept six headless browsers drawing frames, starving the trainings);
# the time is the browser's own clock.
RERUN_DONE = """([title]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  const now = performance.now();
  const shown = h1 && h1.innerText.trim() === title;
  if (shown && window.__titleShown === undefined) window.__titleShown = now;
  return app && app.getAttribute('data-test-script-state') === 'notRunning' && shown && [window.__titleShown, now];
}"""


def timed_click(page, title: str, timeout: float = 120_000, shown: list | None = None,
                clicks: list | None = None) -> float:
    """Seconds from a click on page ``title`` in the sidebar to the end of its rerun, on the browser's clock.

    ``shown`` gets the seconds to the new page's title on screen (first seen by the same 20 ms polling);
    ``clicks`` gets (title, click, title on screen, drawn) as epoch seconds, to match with the server's log.
    """
    origin, t0 = page.evaluate("window.__titleShown = undefined; [performance.timeOrigin, performance.now()]")
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    t_title, t1 = page.wait_for_function(RERUN_DONE, arg=[title], polling=20, timeout=timeout).json_value()
    if shown is not None:
        shown.append((title, (t_title - t0) / 1000))
    if clicks is not None:
        clicks.append((title, *((origin + t) / 1000 for t in (t0, t_title, t1))))
    return (t1 - t0) / 1000


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile of already sorted values (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


THINK_MS = 1000  # a user looks at each page this long before the next click (--think)
STAGGER_S = 0.3  # tab i clicks Start i x this after the others: a defined arrival order for the queue


def launch(pw):
    """Headless Debian Chromium."""
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])


def one_tab(url: str, i: int, out: dict, start_gate: threading.Barrier, stay: bool) -> None:
    """One user: digits, the denoising preset, then every page while it trains (or the Train page only).

    Each tab drives a browser of its own from its own thread: Playwright's sync API cannot be shared
    between threads.
    """
    from playwright.sync_api import sync_playwright

    errors, latencies = [], []
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            try:
                context = browser.new_context(viewport={"width": 1300, "height": 900})
                page = context.new_page()
                page.set_default_timeout(120_000)  # six browsers starting at once on two cores are slow
                user(page, i, url, out, start_gate, stay, errors, latencies)
            finally:
                browser.close()
    except Exception as e:  # noqa: BLE001 - a benchmark reports, never hides, what went wrong
        errors.append(f"tab {i}: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}")
        if not start_gate.broken:
            start_gate.abort()  # the others must not wait for this tab forever
    finally:
        out["errors"].extend(errors)
        out["latency"].extend(latencies)


def user(page, i: int, url: str, out: dict, start_gate: threading.Barrier, stay: bool, errors: list,
         latencies: list) -> None:
    """What one user does in the tab."""
    page.goto(f"{url}/?dataset=digits")  # a link that picks the dataset (ui/links.py): no dropdown to race
    idle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Digits: ").first.wait_for()
    start_gate.wait()
    time.sleep(i * STAGGER_S)
    out["clicked"][i] = time.time()
    page.locator(".st-key-preset_dae-digits button").click()
    # The preset opens Train with the job queued or running; on a page that was still loading, a click can
    # land before its handler: then click once more (counted, so the table shows it).
    try:
        page.locator(".st-key-train_stop, .st-key-train_start").first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"Waiting for a free training slot|Epoch \d|Done in|could not run")).first.wait_for(
            timeout=60_000)
    except Exception:  # noqa: BLE001
        out["reclicks"].append(i)
        page.goto(f"{url}/?dataset=digits")
        idle(page)
        page.locator(".st-key-preset_dae-digits button").click()
    idle(page)
    while stay:  # stays on Train, which redraws its progress every second
        if page.get_by_text("Done in").count() or page.get_by_text("could not run").count():
            break
        if time.time() - out["clicked"][i] > 600:
            errors.append(f"tab {i}: no 'Done' within 10 minutes")
            break
        page.wait_for_timeout(250)
    while not stay:
        for title in PAGES:
            latencies.append((title, timed_click(page, title, shown=out["shown"], clicks=out["clicks"])))
            page.wait_for_timeout(THINK_MS)
            if page.locator('[data-testid="stException"]').count():
                errors.append(f"tab {i}: exception on {title}")
        text = page.locator('[data-testid="stMain"]').inner_text()
        if "Done in" in text or "could not run" in text:
            break
        if time.time() - out["clicked"][i] > 600:
            errors.append(f"tab {i}: no 'Done' within 10 minutes")
            break
    out["done"][i] = time.time()
    out["runs"][i] = own_run(page)


def own_run(page) -> str:
    """The id of the tab's current run (its own training's), read from "Link to this view" as a user would."""
    try:
        page.keyboard.press("Escape")
        page.locator(".st-key-share_link button").click()
        url = page.locator('[role="dialog"] [data-testid="stCode"]').first.inner_text(timeout=30_000)
        page.keyboard.press("Escape")
    except Exception:  # noqa: BLE001 - counted as a missing run below
        return ""
    m = re.search(r"[?&]run=([^&\s]+)", url)
    return m.group(1) if m else ""


def phase(a: argparse.Namespace, stay: bool) -> list[list]:
    """One round of a.tabs tabs on a fresh server; returns the table rows."""
    from playwright.sync_api import sync_playwright

    home = tempfile.mkdtemp(prefix="ll-load-")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_server(port, home, a.ttl)
    started = time.time()
    url = f"http://127.0.0.1:{port}"
    out = {"clicked": {}, "done": {}, "runs": {}, "errors": [], "latency": [], "reclicks": [], "shown": [], "clicks": []}
    try:
        with sync_playwright() as pw:
            # One visitor first, who trains the preset and opens every page with it: the start is the
            # server as any first user leaves it (its imports, compiled code and bounded caches loaded),
            # so "after" measures what N more visitors leave behind.
            browser = launch(pw)
            warm = browser.new_page()
            warm.goto(f"{url}/?dataset=digits")
            idle(warm)
            warm.locator(".st-key-preset_dae-digits button").click()
            warm.get_by_text("Done in").wait_for(timeout=300_000)
            idle(warm)
            for title in PAGES:
                warm.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
                idle(warm)
            browser.close()
        # The background UMAP warm-up begins WARM_UP_DELAY_S after the start: the baseline is taken once it has
        # begun and the server has gone quiet (a first visitor quicker than the delay once gave a baseline
        # without it, 140 MB lower).
        time.sleep(max(0.0, WARM_UP_DELAY_S + 3 - (time.time() - started)))
        settle(server.pid)
        warm_runs = {d.name for d in Path(home).iterdir()}
        before = server_rss_mb(server.pid)
        gate = threading.Barrier(a.tabs)
        peak = [before]
        began = time.time()
        threads = [threading.Thread(target=one_tab, args=(url, i, out, gate, stay)) for i in range(a.tabs)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak[0] = max(peak[0], server_rss_mb(server.pid))
            time.sleep(1)
        reruns = server_reruns(home, began, time.time())
        time.sleep(a.ttl + 5)
        # Any request makes the server sweep idle tabs; a fresh tab is one request.
        with sync_playwright() as pw:
            b = launch(pw)
            pg = b.new_page()
            pg.goto(url)
            idle(pg)
            b.close()
        time.sleep(2)
        after = server_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(20)
    runs = {d.name: json.loads((d / "run.json").read_text()) for d in Path(home).iterdir()
            if (d / "model.safetensors").exists() and d.name not in warm_runs}
    # Every tab owns exactly its own run: one run per tab, each tab's current run its own, each with an
    # owner of its own (a secret of the server's: the bench cannot see which tab holds which).
    owners = [str(m.get("owner") or "") for m in runs.values()]
    own_ok = (len(runs) == a.tabs and sorted(out["runs"].values()) == sorted(runs) and all(owners)
              and len(set(owners)) == len(owners))
    # Queue order: each run records when its job left the queue (started_at). Tab i clicked STAGGER_S after
    # tab i-1; two neighbours' clicks may reach the server in either order, but a job that got its slot
    # before one clicked two or more places earlier would mean the queue jumped.
    saved = {name: m.get("started_at") for name, m in runs.items()}
    order = [saved.get(out["runs"].get(i, "")) for i in range(a.tabs)]
    slots = int(os.environ.get("LATENT_LAB_MAX_JOBS", "2"))
    fifo = all(isinstance(v, float) for v in order) and all(order[i] <= order[j] for i in range(a.tabs) for j in range(i + slots, a.tabs))
    lat = sorted(v for _, v in out["latency"]) or [float("nan")]
    p95 = percentile(lat, 0.95)
    last = max(out["done"].values()) - min(out["clicked"].values()) if out["done"] else float("nan")
    where = "staying on Train" if stay else "visiting every page"
    rows = [[where, "runs saved", len(runs), "PASS" if len(runs) == a.tabs else "FAIL"],
            [where, "preset clicks repeated (click landed before the page was ready)", len(out["reclicks"]), ""],
            [where, "errors", len(out["errors"]), "PASS" if not out["errors"] else "FAIL"],
            [where, "each tab owns only its own run", own_ok, "PASS" if own_ok else "FAIL"],
            [where, "queue order kept", fifo, "PASS" if fifo else "FAIL"],
            [where, "clicks -> last run saved (s)", last,
             ("PASS" if last <= 45 else "FAIL (target 45 s)") if stay else "(reported)"]]
    if not stay:
        srv = sorted(r["s"] for r in reruns) or [float("nan")]
        shown = sorted(v for _, v in out["shown"]) or [float("nan")]
        rows += [[where, "page rerun on the server p50 (s)", statistics.median(srv), ""],
                 [where, "page rerun on the server p95 (s)", percentile(srv, 0.95),
                  "PASS" if percentile(srv, 0.95) <= 1.0 else "FAIL"],
                 [where, "click -> page drawn in the tab p50 (s)", statistics.median(lat), ""],
                 [where, "click -> page drawn in the tab p95 (s)", p95, "PASS" if p95 <= 1.0 else "FAIL"],
                 [where, "click -> new page's title on screen p50 / p95 (s)",
                  f"{statistics.median(shown):.2f} / {percentile(shown, 0.95):.2f}", ""]]
        for title in PAGES:  # where the slow reruns are
            mine = sorted(v for t, v in out["latency"] if t == title)
            on_server = sorted(r["s"] for r in reruns if r["page"] == slug(title)) or [float("nan")]
            seen = sorted(v for t, v in out["shown"] if t == title) or [float("nan")]
            if mine:
                rows.append([where, f"  {title}: p50 / p95 (s) on the server · title on screen · drawn",
                             " · ".join(f"{statistics.median(v):.2f} / {percentile(v, 0.95):.2f}"
                                        for v in (on_server, seen, mine)), ""])
        for title, parts in breakdown(out["clicks"], reruns).items():
            rows.append([where, f"  {title}: p50 / p95 (s) click -> request · queue · script · -> drawn",
                         " · ".join(f"{statistics.median(v):.2f} / {percentile(sorted(v), 0.95):.2f}"
                                    for v in parts.values()), ""])
    rows += [[where, "server RSS before (MB)", before, ""], [where, "server RSS peak (MB)", peak[0], ""],
             [where, "server RSS after tabs timed out (MB)", after,
              "PASS" if after <= 1.1 * before else "FAIL (target within 10%)"]]
    for e in out["errors"][:10]:
        print("  ", e)
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tabs", type=int, default=6)
    p.add_argument("--ttl", type=int, default=20, help="seconds before an idle tab's state is released")
    p.add_argument("--mode", choices=["visit", "stay", "both"], default="both",
                   help="visit: each tab visits every page while it trains; stay: each stays on Train")
    p.add_argument("--think", type=float, default=THINK_MS / 1000,
                   help="seconds a user looks at each page before clicking the next (0: click at once)")
    a = p.parse_args()
    globals()["THINK_MS"] = a.think * 1000
    rows = []
    for stay in {"visit": [False], "stay": [True], "both": [False, True]}[a.mode]:
        rows += phase(a, stay)
    print_table(f"{a.tabs} browser tabs training the fast denoising preset at once, {os.cpu_count()} CPU cores, "
                f"{a.think:g} s on each page, load average {os.getloadavg()[0]:.1f}", ["round", "what", "value", "target"], rows)


if __name__ == "__main__":
    main()
