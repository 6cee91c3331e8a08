"""Released tabs let go of the runs they had loaded (issue 11: memory back after a class leaves)."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from ui import state


def test_releasing_a_tab_empties_the_server_run_cache(cae_digits_run, monkeypatch):
    path = str(cae_digits_run)
    stamp = (Path(path) / "run.json").stat().st_mtime
    first = state._run(path, stamp)
    assert state._run(path, stamp) is first  # cached: one copy for every tab
    state._forget_idle(OrderedDict())  # nothing released: the cache stays
    assert state._run(path, stamp) is first
    monkeypatch.setenv("LATENT_LAB_TAB_TTL_S", "0")
    gone = state.TabState(owner="gone", run_path=path)
    gone.last_seen = 0.0
    tabs = OrderedDict(gone=gone)
    state._forget_idle(tabs)
    assert not tabs
    again = state._run(path, stamp)
    assert again is not first and again.id == first.id  # loaded again from disk, the same run
