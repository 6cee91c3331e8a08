"""The uploads folder: a browser upload checked, kept content-addressed, and the folder kept small.

Uploads are stored content-addressed under data_dir()/uploads; a refused upload is removed
at once, and the folder is kept within an age and a total size (:func:`clean_uploads`).
The bytes are loaded through ``files`` (the same guarded readers as a path on disk).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path, PurePosixPath

from .arrays import _mb, current_limits
from .base import Dataset, DatasetError, data_dir

_PART_MAX_AGE_S = 3600  # a half-written upload older than this belongs to a crashed process


def uploads_dir() -> Path:
    """Where uploaded dataset files are kept: data_dir()/uploads."""
    return data_dir() / "uploads"


def dataset_from_upload(name: str, data: bytes, *, max_bytes: int | None = None) -> Dataset:
    """Check uploaded .npz/.zip bytes, keep them under uploads_dir() if they load, and return the Dataset.

    The bytes are written to a temporary file first and loaded from there; only a dataset that
    loads is renamed to its content-addressed name, so a refused upload never stays on disk.
    """
    from . import files  # on use: files imports this module; its _load_path reads uploads and paths alike

    display = PurePosixPath(str(name).replace("\\", "/")).name or "upload"
    ext = os.path.splitext(display)[1].lower()
    kinds = {".npz": "npz", ".zip": "zip"}
    if ext not in kinds:
        raise DatasetError(
            f"Can't use {display!r}: upload a .npz file (arrays x and optional y) "
            "or a .zip of images in one folder per class."
        )
    limit = files.resolve_max_bytes(max_bytes)
    if len(data) == 0:
        raise DatasetError(f"{display!r} is empty (0 bytes): upload the file again.")
    if len(data) > limit:
        raise DatasetError(f"{display!r} is {_mb(len(data))}, over the {_mb(limit)} limit: upload a smaller file.")

    # Content-addressed name: re-uploading the same bytes reuses the file, two uploads never clash.
    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", display).lstrip(".")[-80:] or f"upload{ext}"
    folder = uploads_dir()
    target = folder / f"{digest}_{safe}"
    tmp = folder / f".{digest}.{os.getpid()}.{os.urandom(3).hex()}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists():
            tmp = target  # the same bytes are already kept: load them where they are
        else:
            tmp.write_bytes(data)
    except OSError as e:
        _remove(tmp, target)
        raise DatasetError(
            f"Could not save the upload to {folder} ({e.strerror or e}). "
            "Set the LATENT_LAB_DATA environment variable to a folder you can write to."
        ) from e
    try:
        ds = files._load_path(kinds[ext], tmp, shown=display, spec=f"{kinds[ext]}:{target}", max_bytes=limit, seed=0)
        if tmp != target:
            os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
        else:
            os.utime(target)  # counts as fresh for clean_uploads
    except BaseException:
        _remove(tmp, None)  # refused (or interrupted): nothing of it stays on disk
        raise
    clean_uploads(keep=target)  # keep the folder within its age and size limits, this upload counted
    return ds


def _remove(path: Path, unless: Path | None) -> None:
    """Delete a file we wrote, ignoring one that is already gone."""
    if path != unless:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def clean_uploads(*, keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove stored uploads older than the age limit, then the oldest until the total fits; returns them.

    Stale half-written ``.part`` files go too. ``keep`` is never removed (the upload in hand).
    A tab still showing a removed dataset keeps it in memory; reloading it asks for a new upload.
    """
    lim = current_limits()
    folder = uploads_dir()
    now = time.time() if now is None else now
    files: list[tuple[float, int, Path]] = []
    removed: list[Path] = []
    kept = 0  # the upload in hand counts towards the total, but is never removed
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        path = Path(entry.path)
        if path == keep:
            kept = st.st_size
            continue
        too_old = now - st.st_mtime > (_PART_MAX_AGE_S if entry.name.endswith(".part")
                                       else lim.uploads_days * 86400)
        if too_old:
            _remove(path, None)
            removed.append(path)
        else:
            files.append((st.st_mtime, st.st_size, path))
    total = kept + sum(size for _, size, _ in files)
    for _, size, path in sorted(files):  # oldest first
        if total <= lim.uploads_bytes:
            break
        _remove(path, None)
        removed.append(path)
        total -= size
    return removed
