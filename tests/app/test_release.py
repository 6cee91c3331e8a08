"""Released tabs let go of the runs they had loaded (issue 11: memory back after a class leaves)."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from ui import state


def test_a_released_tabs_run_is_dropped_from_the_server_cache(cae_digits_run):
    path = str(cae_digits_run)
    stamp = (Path(path) / "run.json").stat().st_mtime
    first = state._run(path, stamp)
    assert state._run(path, stamp) is first  # cached: one copy for every tab
    keep = state.TabState(owner="someone", run_path=path)
    state._release_unused_runs(OrderedDict(a=keep))
    assert state._run(path, stamp) is first  # still some tab's current run: kept
    state._release_unused_runs(OrderedDict())
    assert (path, stamp) not in state._loaded()
    again = state._run(path, stamp)
    assert again is not first and again.id == first.id  # loaded again from disk, the same run
