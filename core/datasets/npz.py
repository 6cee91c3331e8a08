"""The user's .npz (or bare .npy) of arrays, read without trusting a byte of it.

Every member's zip entry is checked first (encrypted, unknown compression, zip-bomb ratio), then
its npy header: the dtype and the declared shape, checked against the member's real size and
the float32 budget of ``core.limits`` before numpy allocates a byte. Arrays are never unpickled.
The arrays an .npz may hold are x / y / x_test / y_test / classes / kind; ``kind="sequence"``
makes (N, T, F) signals a sequence dataset instead of an image stack.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from ..limits import Limits
from .arrays import _mb, dataset_from_arrays
from .base import Dataset, DatasetError
from .sequences import read_kind, sequences_from_arrays
from .zips import _RATIO_CHECK_MIN_BYTES, _open_zip

# The arrays an .npz may hold, and the dtype kinds each accepts (b bool, i/u integers, f floats, U/S text).
_NPZ_KEYS = {"x": "biuf", "x_test": "biuf", "y": "biuf", "y_test": "biuf", "classes": "biuUS", "kind": "US"}


def _load_npz(path: Path, shown: str, spec: str, max_bytes: int, lim: Limits, seed: int) -> Dataset:
    """Read x / y / x_test / y_test / classes from an .npz (or a bare .npy) after checking every header."""
    with open(path, "rb") as fp:
        if fp.read(6) == npy_format.MAGIC_PREFIX:  # a bare .npy: take it as the images
            fp.seek(0)
            arrays = {"x": _read_npy(fp, "x", f"{shown}", path.stat().st_size, lim)}
        else:
            fp.seek(0)
            if not zipfile.is_zipfile(fp):
                raise DatasetError(_not_npz(shown))
            fp.seek(0)
            zf = _open_zip(fp, shown, lim)
            with zf:
                arrays = _npz_arrays(zf, shown, max_bytes, lim)
    classes = arrays.get("classes")
    if classes is not None:
        if classes.ndim != 1:
            raise DatasetError(f"'classes' in {shown} must be a 1-D list of names (got shape {classes.shape}).")
        classes = [str(c) for c in classes.tolist()]
    if read_kind(arrays.get("kind"), shown) == "sequence":  # (N, T, F) signals, not an image stack
        return sequences_from_arrays(arrays["x"], arrays.get("y"), x_test=arrays.get("x_test"),
                                     y_test=arrays.get("y_test"), classes=classes, spec=spec, title=shown, seed=seed)
    return dataset_from_arrays(
        arrays["x"],
        arrays.get("y"),
        x_test=arrays.get("x_test"),
        y_test=arrays.get("y_test"),
        classes=classes,
        spec=spec,
        title=shown,
        seed=seed,
        max_bytes=lim.data_bytes,
    )


def _not_npz(shown: str) -> str:
    return (
        f"Could not read {shown} as a NumPy .npz file: it is damaged, not an .npz, or holds pickled Python "
        "objects (never loaded, for safety). Save plain arrays with numpy.savez(path, x=images, y=labels)."
    )


def _npz_arrays(zf: zipfile.ZipFile, shown: str, max_bytes: int, lim: Limits) -> dict[str, np.ndarray]:
    """The known arrays of an .npz, each read only after its zip entry and npy header pass the limits."""
    infos = zf.infolist()
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise DatasetError(
            f"{shown} holds {_mb(total)} of arrays once decompressed, over the {_mb(max_bytes)} limit: "
            "use fewer or smaller images."
        )
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key in _NPZ_KEYS:
            if not info.filename.endswith(".npy"):
                raise DatasetError(f"{info.filename!r} in {shown} is not a NumPy array (.npy): save arrays with "
                                   "numpy.savez(path, x=images, y=labels).")
            members[key] = info
    if "x" not in members:
        found = ", ".join(sorted(i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos)[:8])
        raise DatasetError(
            f"{shown} has no array named 'x' (found: {found or 'nothing'}). "
            "Save the images as x (and labels as y): numpy.savez(path, x=images, y=labels)."
        )
    arrays: dict[str, np.ndarray] = {}
    image_values = 0
    for key, info in members.items():
        what = f"'{key}' in {shown}"
        _check_member(info, what, lim)
        with _open_member(zf, info, what) as f:
            header = _npy_header(f, key, what, info.file_size, lim)
        if key in ("x", "x_test"):
            image_values += math.prod(header[0])
            if 4 * image_values > lim.data_bytes:
                raise DatasetError(
                    f"{shown} declares images of {_mb(4 * image_values)} as float32, over the "
                    f"{_mb(lim.data_bytes)} limit (LATENT_LAB_MAX_DATA_MB): use fewer or smaller images."
                )
    for key, info in members.items():
        what = f"'{key}' in {shown}"
        with _open_member(zf, info, what) as f:
            arrays[key] = _read_checked(f, what)
    return arrays


def _check_member(info: zipfile.ZipInfo, what: str, lim: Limits) -> None:
    """Refuse an encrypted member, one zipfile cannot inflate, or a bomb, from its directory entry."""
    if info.flag_bits & 0x1:
        raise DatasetError(f"{what} is encrypted (password-protected): save the arrays again without a password.")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        raise DatasetError(
            f"{what} uses a compression method ({info.compress_type}) that cannot be read: "
            "save it with numpy.savez or numpy.savez_compressed."
        )
    if info.file_size >= _RATIO_CHECK_MIN_BYTES and info.file_size > lim.zip_ratio * max(info.compress_size, 1):
        raise DatasetError(
            f"{what} looks like a zip bomb: it expands more than {lim.zip_ratio:g}x "
            f"({_mb(info.compress_size)} -> {_mb(info.file_size)}). Refused (LATENT_LAB_MAX_ZIP_RATIO)."
        )


def _open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> IO[bytes]:
    """zf.open(info), with zip trouble (encrypted, unknown method, damaged) as a DatasetError."""
    try:
        return zf.open(info)
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
        raise DatasetError(f"Could not read {what}: the file is damaged, encrypted or uses an unusual "
                           "compression. Save it again with numpy.savez.") from e


def _npy_header(f: IO[bytes], key: str, what: str, stored: int, lim: Limits) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an npy header, after checking the dtype and that shape x itemsize is what is stored."""
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(f)
        else:
            shape, _, dtype = npy_format._read_array_header(f, version)  # 3.0: utf-8 field names
        header_bytes = f.tell()
    except (ValueError, OSError, EOFError, SyntaxError, struct.error, zlib.error, zipfile.BadZipFile,
            TypeError) as e:
        raise DatasetError(f"{what} is not a NumPy array (its .npy header cannot be read): {_first_line(e)}.") from e
    if dtype.hasobject:
        raise DatasetError(
            f"{what} holds Python objects (pickled data), which are never loaded, for safety. Save plain "
            "numeric arrays, e.g. numpy.savez(path, x=images.astype('uint8'), y=labels.astype('int64'))."
        )
    if dtype.kind not in _NPZ_KEYS[key] or dtype.fields is not None or dtype.subdtype is not None:
        if key.startswith("y"):
            hint = "labels must be integers 0..K-1. Map names to numbers and store the names as `classes`."
        elif key == "classes":
            hint = "class names must be text (or numbers), one per class."
        elif key == "kind":
            hint = 'it must be the text "image" or "sequence" (e.g. numpy.savez(path, x=signals, kind="sequence")).'
        else:
            hint = "not numbers: images must be uint8 (0-255) or float (0-1) arrays."
        raise DatasetError(f"{what} has dtype {dtype}: {hint}")
    if any(d < 0 for d in shape):
        raise DatasetError(f"{what} declares the shape {shape}, which is not a valid array shape.")
    declared = math.prod(shape) * dtype.itemsize
    if header_bytes + declared != stored:
        raise DatasetError(
            f"{what} is damaged: its header declares shape {_short(shape)} ({_mb(declared)}) but "
            f"{_mb(max(stored - header_bytes, 0))} of data are stored."
        )
    return tuple(int(d) for d in shape), dtype


def _read_npy(fp: IO[bytes], key: str, what: str, stored: int, lim: Limits) -> np.ndarray:
    """A bare .npy file: check its header against the limits, then read it."""
    shape, _ = _npy_header(fp, key, what, stored, lim)
    if 4 * math.prod(shape) > lim.data_bytes:
        raise DatasetError(
            f"{what} declares images of {_mb(4 * math.prod(shape))} as float32, over the "
            f"{_mb(lim.data_bytes)} limit (LATENT_LAB_MAX_DATA_MB): use fewer or smaller images."
        )
    fp.seek(0)
    return _read_checked(fp, what)


def _read_checked(f: IO[bytes], what: str) -> np.ndarray:
    """Read an npy stream whose header already passed _npy_header (never unpickling)."""
    try:
        return npy_format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile, struct.error) as e:
        raise DatasetError(f"Could not read {what}: the data is damaged ({_first_line(e)}).") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:160]


def _short(shape: tuple[int, ...]) -> str:
    text = "x".join(str(d) for d in shape) or "()"
    return text if len(text) <= 60 else text[:57] + "..."
