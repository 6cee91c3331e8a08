"""The user's own data: an .npz of arrays, a zip or a folder of images (one sub-folder per class), or an upload.

This is the entry: a spec ``npz:PATH``, ``zip:PATH`` or ``folder:PATH`` (:func:`load_file_spec`)
has its path and file size checked here (``max_bytes``, else $LATENT_LAB_MAX_UPLOAD_MB), then
goes to the room that reads its kind. Everything they read is untrusted input, checked against
``core.limits`` before it is read. One room per job:

- ``npz``: an .npz of arrays (or a bare .npy), every member's npy header checked, never unpickled.
- ``images``: a zip or a folder of images, checked from the zip's directory and each image's
  header, then decoded (EXIF orientation, 16-bit greys, transparency onto white).
- ``zips``: opening a zip after counting its members from the end record; the zip-bomb threshold.
- ``uploads``: the uploads folder: an upload kept content-addressed, and clean_uploads().

Their public names are re-exported here: ``from core.datasets.files import dataset_from_upload``.
"""

from __future__ import annotations

from pathlib import Path

from ..limits import Limits
from .arrays import _mb, current_limits
from .base import Dataset, DatasetError
from .images import IMAGE_EXTENSIONS, _folder_entries, _images_to_dataset, _zip_entries
from .npz import _load_npz
from .uploads import clean_uploads, dataset_from_upload, uploads_dir
from .zips import MAX_COMPRESSION_RATIO, _open_zip

__all__ = [
    "DEFAULT_MAX_MB",
    "FILE_KINDS",
    "IMAGE_EXTENSIONS",
    "MAX_COMPRESSION_RATIO",
    "clean_uploads",
    "dataset_from_upload",
    "load_file_spec",
    "resolve_max_bytes",
    "uploads_dir",
]

FILE_KINDS = ("npz", "zip", "folder")  # the "KIND:PATH" prefixes of a dataset spec
DEFAULT_MAX_MB = Limits.upload_mb


def resolve_max_bytes(max_bytes: int | None) -> int:
    """The size limit for user files: the argument, else $LATENT_LAB_MAX_UPLOAD_MB, else 200 MB."""
    if max_bytes is not None:
        if max_bytes <= 0:
            raise DatasetError(f"max_bytes must be positive (got {max_bytes}).")
        return int(max_bytes)
    return current_limits().upload_bytes


def load_file_spec(kind: str, rest: str, *, max_bytes: int, seed: int, display: str | None = None) -> Dataset:
    """Load an npz/zip/folder spec; `display` names the file in messages (defaults to its file name)."""
    if not rest.strip():
        raise DatasetError(f"'{kind}:' needs a path after the colon, e.g. '{kind}:/home/me/data.{kind}'.")
    path = Path(rest.strip()).expanduser().absolute()
    shown = display or path.name or str(path)
    if not path.exists():
        if path.parent == uploads_dir():
            raise DatasetError(
                f"The uploaded file {shown} is no longer kept on the server (uploads are cleaned after "
                f"{current_limits().uploads_days:g} days or when space runs short): upload it again."
            )
        raise DatasetError(f"File not found: {path}. Check the path and its spelling.")
    return _load_path(kind, path, shown=shown, spec=f"{kind}:{path}", max_bytes=max_bytes, seed=seed)


def _load_path(kind: str, path: Path, *, shown: str, spec: str, max_bytes: int, seed: int) -> Dataset:
    """Load the file or folder at `path` as `kind`; the Dataset carries `spec` and `shown` as its title."""
    lim = current_limits()
    if kind == "folder":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder: use 'folder:' with a folder of class sub-folders.")
        return _images_to_dataset(_folder_entries(path, max_bytes, lim), shown, spec, lim, seed)
    if not path.is_file():
        raise DatasetError(f"{path} is a folder, not a .{kind} file: use 'folder:{path}' for a folder of images.")
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetError(f"{shown} is {_mb(size)}, over the {_mb(max_bytes)} limit: use a smaller file.")
    if kind == "npz":
        return _load_npz(path, shown, spec, max_bytes, lim, seed)
    with open(path, "rb") as fp:
        zf = _open_zip(fp, shown, lim)
        with zf:  # members are read in memory while decoding, so keep the zip open until then
            return _images_to_dataset(_zip_entries(zf, shown, max_bytes, lim), shown, spec, lim, seed)
