"""`streamlit run`, with the duration of every script run logged: instrumentation for bench/load.py only.

Wraps Streamlit's ScriptRunner._run_script (one script run: a whole page, or a fragment) and appends a
JSON line per run to the file named by LATENT_LAB_BENCH_RERUN_LOG: when it started, how long it took,
the page's URL path, whether it was a fragment and, for a whole-page run, when its request (the
rerun BackMsg a click sends) reached the server, so a slow rerun can be told from one that waited.
The app itself is unchanged.

    LATENT_LAB_BENCH_RERUN_LOG=runs.jsonl python bench/timed_streamlit.py run app.py
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

from streamlit.runtime import app_session
from streamlit.runtime.scriptrunner import script_runner
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

LOG = os.environ["LATENT_LAB_BENCH_RERUN_LOG"]
_lock = threading.Lock()
_original = script_runner.ScriptRunner._run_script
_original_backmsg = app_session.AppSession.handle_backmsg
_arrived: dict[str, float] = {}  # session id -> when its last whole-page rerun request arrived


def _handle_backmsg(self: app_session.AppSession, msg) -> None:
    if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
        _arrived[self.id] = time.time()
    return _original_backmsg(self, msg)


def _page(runner: script_runner.ScriptRunner) -> str:
    """The URL path of the page the run drew ('' for the main page), best effort."""
    ctx = get_script_run_ctx()
    try:
        info = runner._pages_manager.get_pages().get(ctx.page_script_hash, {}) if ctx else {}
        return str(info.get("url_pathname", info.get("page_name", "")))
    except Exception:  # noqa: BLE001 - instrumentation must never break a run
        return "?"


def _timed(self: script_runner.ScriptRunner, rerun_data) -> None:
    t0, c0 = time.time(), time.perf_counter()
    try:
        return _original(self, rerun_data)
    finally:
        fragment = bool(rerun_data.fragment_id_queue)
        rec = {"t": t0, "s": time.perf_counter() - c0, "page": _page(self), "fragment": fragment,
               "asked": None if fragment else _arrived.pop(self._session_id, None)}
        with _lock, open(LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")


script_runner.ScriptRunner._run_script = _timed
app_session.AppSession.handle_backmsg = _handle_backmsg

if __name__ == "__main__":
    from streamlit.web.cli import main

    sys.exit(main())
