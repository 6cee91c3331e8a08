"""The runs folder's quotas: its total, each tab's share and the disk's free space, checked before a run is
imported or a training starts (the limits in core.limits; a refusal never touches a saved run)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .run_schema import RunError, _limits
from .store import read_meta, runs_root


def folder_bytes(path: str | Path) -> int:
    """Bytes the files under ``path`` take (links not followed; what cannot be read counts 0)."""
    total = 0
    for top, dirs, files in os.walk(path, onerror=lambda e: None):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def runs_usage(root: str | Path | None = None) -> tuple[int, dict[str, int]]:
    """(bytes of the whole runs folder, bytes per owner) for the quotas."""
    root = Path(root or runs_root())
    total, per_owner = 0, {}
    try:
        entries = list(os.scandir(root)) if root.is_dir() else []
    except OSError:
        entries = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            size = folder_bytes(entry.path) if is_dir else entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
        total += size
        if is_dir and not entry.name.startswith("."):
            try:
                owner = read_meta(Path(entry.path)).get("owner")
            except RunError:
                owner = None
            if isinstance(owner, str) and owner:
                per_owner[owner] = per_owner.get(owner, 0) + size
    return total, per_owner


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def check_room(root: str | Path | None, adding: int, owner: str | None = None) -> None:
    """RunError, in words, unless ``adding`` more bytes fit the runs folder's quota, ``owner``'s quota and the disk.

    Checked before a run is imported and before a training starts (``adding`` 0: only whether the
    quotas are already used up), so a full folder refuses new work and never touches a saved run.
    """
    root = Path(root or runs_root())
    lim = _limits()
    total, per_owner = runs_usage(root)
    if total + adding > lim.runs_bytes or (adding == 0 and total >= lim.runs_bytes):
        raise RunError(f"the server's runs folder is full ({_mb(total)} of its {lim.runs_mb:g} MB, "
                       "LATENT_LAB_RUNS_MAX_MB): ask the server's owner to make room; nothing was saved")
    mine = per_owner.get(owner, 0) if owner else 0
    if owner and (mine + adding > lim.runs_tab_bytes or (adding == 0 and mine >= lim.runs_tab_bytes)):
        raise RunError(f"your runs take {_mb(mine)} of the {lim.runs_tab_mb:g} MB each tab may keep "
                       "(LATENT_LAB_RUNS_TAB_MAX_MB): delete some of your runs on the Runs page first")
    probe = root if root.is_dir() else next((p for p in root.parents if p.is_dir()), Path("."))
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if free - adding < lim.disk_free_mb * 2**20:
        raise RunError(f"the server's disk is almost full ({_mb(free)} free, {lim.disk_free_mb:g} MB must stay "
                       "free, LATENT_LAB_DISK_FREE_MB): ask the server's owner to make room; nothing was saved")
