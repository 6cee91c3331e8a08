"""Once per server, in the background: what the first user would otherwise wait for.

``before_first_page`` (top of app.py): the jobs' fork server, which imports torch, so the first training
starts at once; and UMAP's compile, held back until a first training has had the cores.
``after_first_page`` (end of app.py): torchvision for the first image grid, and scikit-learn's PCA for the
first live latent map, imported by a daemon thread a few seconds after the first page and never beside a
training. Run beside the first page's script, the torchvision import held the interpreter lock and drew Home
~0.9 s later (bench/browser.py); imported by the first snapshot's page run instead, scikit-learn stalled that
rerun (and every other tab's) by ~1.4 s. Right after Home, they overlapped a first preset clicked at once:
its worker started on one thread instead of two and the first minute took ~6 s longer (bench/first_minute.py);
a page that needs them first imports them itself.
"""
from __future__ import annotations

import importlib
import threading
import time

import streamlit as st

from core.jobs import SLOTS, warm_workers
from core.warmup import start_warm_up

WARM_IMPORTS = ("torchvision.utils", "sklearn.decomposition")  # the first image grid, the first live map
WARM_UP_DELAY_S = 15  # long enough for a first click on a preset, short beside reading the Home page
WARM_IMPORTS_DELAY_S = 4.0  # a user who reads Home first has them by the time they click


@st.cache_resource
def before_first_page() -> threading.Thread:
    """Start the fork server and the delayed UMAP warm-up (once per server); returns the UMAP thread."""
    warm_workers()
    return start_warm_up(wait_while=lambda: SLOTS.running > 0, delay_s=WARM_UP_DELAY_S)


def warm_imports(delay_s: float = WARM_IMPORTS_DELAY_S, busy=lambda: SLOTS.running > 0,
                 poll_s: float = 0.5) -> None:
    """Import WARM_IMPORTS after ``delay_s``, once nothing is training (``busy``)."""
    time.sleep(delay_s)
    while busy():
        time.sleep(poll_s)
    for name in WARM_IMPORTS:
        importlib.import_module(name)


@st.cache_resource
def after_first_page() -> threading.Thread:
    """Import torchvision.utils and sklearn.decomposition in a daemon thread (once per server)."""
    t = threading.Thread(target=warm_imports, daemon=True, name="warm-imports")
    t.start()
    return t
