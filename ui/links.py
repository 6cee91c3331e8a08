"""Links that restore a view: the page's controls, the run and the dataset in the URL's query.

A page's view controls are the widgets whose keys start with ``keep_`` (the
house convention for "what this page shows"), plus a few named below. A link
holds them without the prefix, e.g.
``/?page=generate&run=vae-mnist5k-...&gen_tool=Manifold&gen_span=3.0``. It
points at the root, not at ``/generate``: on a server whose first request is a
page's own path, Streamlit runs that page file alone (the ``pages/`` folder
way) instead of app.py, so the link would open without the app. It never
holds ``s``, the sender's tab id: whoever opens it gets a tab of their own
(state.tab() makes a fresh id), and ``restore`` then copies the link's values
into that tab (current run, dataset) and its widgets, and clears them from the
URL so a reload does not apply them twice. A value the control cannot take (out of its range, of
another type, not one of its options) is left out with a note, never handed to the widget (ui.controls).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

from core.datasets import DATASETS
from core.store import runs_root

from . import state
from .controls import ACCEPTS, LINKED, NO, note as misfit_note

PREFIX = "keep_"
EXTRA_KEYS = ("sbs_method", "sbs_px", "sbs_runs")  # view controls named before the convention
# Which keys describe which page (widget state of the page just left lingers for one run).
PAGE_KEYS = {"generate": ("keep_gen_",), "latent_space": ("keep_ls_",), "reconstructions": ("keep_rec_",),
             "compare": ("keep_cmp_",), "side_by_side": EXTRA_KEYS}
RESERVED = ("s", "run", "dataset", "page")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_PARAMS = 40


def _encode(v: Any) -> str:
    """Plain text for strings, JSON for numbers, booleans and lists."""
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def _decode(text: str) -> Any:
    """The inverse of _encode (text that is not JSON stays text)."""
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return v if isinstance(v, (int, float, bool, list)) else text


def view_params(session: Any, run_id: str | None, dataset: str | None,
                prefixes: tuple[str, ...] = (PREFIX, *EXTRA_KEYS)) -> dict[str, str]:
    """The query of a link to this view: the run, the dataset and the view widgets' values (never ``s``)."""
    out: dict[str, str] = {}
    if run_id:
        out["run"] = run_id
    if dataset and dataset in DATASETS:  # an uploaded dataset is not on the receiver's tab
        out["dataset"] = dataset
    for k in sorted(str(k) for k in session.keys()):
        if not k.startswith(prefixes):
            continue
        v = session[k]
        if isinstance(v, (str, int, float, bool)) or (isinstance(v, list) and all(isinstance(i, (str, int)) for i in v)):
            out[k[len(PREFIX):] if k.startswith(PREFIX) else k] = _encode(v)
    return out


def link(base: str, url_path: str, params: dict[str, str]) -> str:
    """An absolute link to the app's root that opens page ``url_path`` ('' is Home) with the given query."""
    parts = urlsplit(base)
    root = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    query = urlencode({**({"page": url_path} if url_path else {}), **{k: v for k, v in params.items() if k != "s"}})
    return f"{root}/" + (f"?{query}" if query else "")


def _fitted(key: str, text: str) -> Any:
    """The link's ``text`` as the value control ``key`` takes, or NO (unknown key, wrong type, out of range)."""
    acc = ACCEPTS.get(key)
    if acc is None:
        return NO
    v = acc.fit(_decode(text))
    return v if v is not NO else acc.fit(text)  # a string option that reads as JSON ("2024", "true")


def restore(pages: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """Apply a link's query to this tab and its widgets (once) and clear it from the URL.

    Returns (a note for the user or None, the page file to open or None);
    ``pages`` maps url paths to page files.
    """
    qp, ss = st.query_params, st.session_state
    keys = [k for k in qp.keys() if k != "s"]
    if not keys:
        return ss.pop("_link_note", None), None  # the note of a link that opened another page (below)
    notes, misfits, linked = [], [], set()
    target = (pages or {}).get(qp.get("page") or "")
    tab = state.tab()
    for k in keys[:MAX_PARAMS]:
        v = qp.get(k)
        if k == "run":
            path = runs_root() / v
            if _RUN_ID.match(v or "") and (path / "run.json").is_file():
                state.set_current_run(path)
            else:
                notes.append(f"The link's run {v!r} is not on this server; the current model is unchanged.")
        elif k == "dataset":
            if v in DATASETS:
                tab.dataset = v
                ss["sb_dataset"] = v
        elif k not in RESERVED and re.fullmatch(r"[a-z0-9_]{1,40}", k):
            key = k if k in EXTRA_KEYS else PREFIX + k
            value = _fitted(key, v)
            if value is NO:
                misfits.append(k)
            else:
                ss[key] = value
                linked.add(key)
    ss[LINKED] = linked  # bounds that depend on the data are checked where the page draws the widget
    if misfits:
        notes.append(misfit_note(misfits))
    for k in keys:
        del qp[k]
    note = " ".join(notes) or None
    if target is not None and note:
        # app.py switches to the link's page before it shows the note: keep it for that page's run.
        ss["_link_note"], note = note, None
    return note, target


@st.dialog("Link to this view", width="large")
def _link_dialog(url: str) -> None:
    st.caption("Opens this page with the same model, dataset and settings, in a tab of its own "
               "(your tab's jobs and state are not shared). Copy it with the icon on the right.")
    st.code(url, language=None, wrap_lines=True)


def share(url_path: str) -> None:
    """A button that shows a copyable link to the current view (for a slide or a chat).

    A dialog computed on click, not a popover drawn with the sidebar: the click
    reruns the script, so the link holds the values of controls that a
    fragment (Generate's tools) changed since the sidebar was last drawn.
    """
    if st.button("Link to this view", icon=":material/link:", key="share_link", width="stretch"):
        tab = state.tab()
        run_id = Path(tab.run_path).name if tab.run_path else None
        params = view_params(st.session_state, run_id, tab.dataset, PAGE_KEYS.get(url_path, ()))
        _link_dialog(link(st.context.url or "", url_path, params))
