"""core.warmup: compiling UMAP once per process, in the background, politely; priming numba's disk cache."""
from __future__ import annotations

import sys
import threading

import pytest

from core import umap_graph
from core import warmup as W


def test_warm_up_is_idempotent_and_thread_safe():
    results = []
    threads = [threading.Thread(target=lambda: results.append(W.warm_up())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert W.is_warm()
    assert W.warm_up() == 0.0  # already warm: free
    assert len(results) == 3 and sum(r > 0 for r in results) <= 1
    t = W.start_warm_up(prime=False)
    t.join(timeout=30)
    assert W.start_warm_up(prime=False) is t  # one background thread per process


def test_start_warm_up_waits_while_busy(monkeypatch):
    import time

    monkeypatch.setattr(umap_graph, "WARM", threading.Event())  # a "cold" process with no warm-up thread yet
    monkeypatch.setattr(W, "_WARM_THREAD", None)
    training = threading.Event()
    training.set()
    t = W.start_warm_up(prime=False, wait_while=training.is_set, poll_s=0.02)
    time.sleep(0.3)
    assert t.is_alive() and not W.is_warm()  # held back while "training"
    training.clear()
    t.join(timeout=60)
    assert W.is_warm()


def test_start_warm_up_leaves_the_first_seconds_to_a_first_training(monkeypatch):
    import time

    monkeypatch.setattr(umap_graph, "WARM", threading.Event())
    monkeypatch.setattr(W, "_WARM_THREAD", None)
    t = W.start_warm_up(prime=False, poll_s=0.02, delay_s=0.5)
    time.sleep(0.25)
    assert t.is_alive() and not W.is_warm()  # still in its delay
    t.join(timeout=60)
    assert W.is_warm()


def test_short_gil_slices_restores_the_interval():
    before = sys.getswitchinterval()
    with W._short_gil_slices(1e-4):
        assert sys.getswitchinterval() == pytest.approx(1e-4)
    assert sys.getswitchinterval() == before


def test_prime_disk_cache_runs_once_per_install(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path))
    marker = W._prime_marker()
    assert marker.parent == tmp_path and "numba-primed-" in marker.name
    marker.touch()
    assert W.prime_disk_cache() is False  # already primed for these versions: no subprocess
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert W._prime_marker() != marker  # another cache folder needs its own priming


def test_the_first_page_warms_the_imports_a_first_grid_and_a_first_live_map_need(monkeypatch):
    """torchvision's grid and scikit-learn's PCA are imported in a daemon thread after the first page, not in a
    user's rerun (scikit-learn there stalled every tab's rerun by ~1.4 s)."""
    from ui import startup

    seen = []
    monkeypatch.setattr(startup.importlib, "import_module", seen.append)
    monkeypatch.setattr(startup, "WARM_IMPORTS_DELAY_S", 0.0)
    startup.after_first_page.clear()
    try:
        thread = startup.after_first_page()
        thread.join(10)
        assert thread.daemon and seen == ["torchvision.utils", "sklearn.decomposition"]
    finally:
        startup.after_first_page.clear()


def test_the_warm_imports_wait_while_a_training_runs(monkeypatch):
    """Issue 23: beside a first training they slowed it (its worker started on one thread): they wait for it."""
    import threading

    from ui import startup

    seen, training = [], threading.Event()
    training.set()
    monkeypatch.setattr(startup.importlib, "import_module", seen.append)
    t = threading.Thread(target=startup.warm_imports, args=(0.0, training.is_set, 0.02), daemon=True)
    t.start()
    t.join(0.3)
    assert t.is_alive() and seen == []  # held back while the training runs
    training.clear()
    t.join(5)
    assert not t.is_alive() and seen == list(startup.WARM_IMPORTS)


def test_priming_is_paused_while_a_training_runs(tmp_path, monkeypatch):
    """The numba compile (a subprocess) is stopped, not merely niced, while a job trains; then it finishes."""
    import threading

    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path))
    done = tmp_path / "primed"
    # Stands in for `import umap`: ten steps of work, then a file; the file appears only once it may run.
    monkeypatch.setattr(W, "PRIME_CODE", f"import time\nfor _ in range(10): time.sleep(0.05)\nopen({str(done)!r}, 'w')")
    training = threading.Event()
    training.set()
    out = []
    t = threading.Thread(target=lambda: out.append(W.prime_disk_cache(pause_while=training.is_set, poll_s=0.02)))
    t.start()
    states = []
    for _ in range(50):
        states += [open(f"/proc/{p}/stat").read().split(") ")[1][0] for p in _children()]
        if "T" in states:
            break
        threading.Event().wait(0.02)
    assert "T" in states and not done.exists()  # stopped (state T) while the training runs
    training.clear()
    t.join(30)
    assert out == [True] and done.exists() and W._prime_marker().exists()


def _children() -> list[int]:
    """Pids of this process's child processes (Linux)."""
    import os
    me = str(os.getpid())
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            if stat.split(") ")[1].split()[1] == me:
                kids.append(int(p))
    return kids
