"""The user's own data: an .npz of arrays, a zip or a folder of images (one sub-folder per class), or an upload.

Everything here is untrusted input, so it is checked against ``core.limits`` before it is
read: the file size (``max_bytes``, else $LATENT_LAB_MAX_UPLOAD_MB), the number of zip
members (from the zip's end record, before zipfile builds its directory), zip-bomb ratios and
path traversal (from the directory alone), every .npz member's npy header (dtype and declared
shape, checked against the member's real size and the float32 budget before numpy allocates
a byte; never unpickled), and every image's size (from its header, before decoding).

Images are decoded the way Pillow and torchvision users expect: EXIF orientation applied,
16-bit greys scaled by 65535 (not clipped), palette and CMYK converted by Pillow, and
transparency composited onto white, as a browser shows it.

Uploads are stored content-addressed under data_dir()/uploads; a refused upload is removed
at once, and the folder is kept within an age and a total size (:func:`clean_uploads`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from ..limits import LimitError, Limits, check_zip_directory
from .arrays import _check_side, _mb, current_limits, dataset_from_arrays
from .base import Dataset, DatasetError, data_dir
from .sequences import read_kind, sequences_from_arrays

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
MAX_COMPRESSION_RATIO = Limits.zip_ratio  # the default; the limit in force is current_limits().zip_ratio
# Only members this big are checked for their ratio: a legitimate tiny BMP of one flat colour
# can compress a few hundred times, but no image within the side limit gets near 1 MiB uncompressed.
_RATIO_CHECK_MIN_BYTES = 1 << 20
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# OS clutter that is not the user's data; skipped silently like hidden files.
_JUNK_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
# The arrays an .npz may hold, and the dtype kinds each accepts (b bool, i/u integers, f floats, U/S text).
_NPZ_KEYS = {"x": "biuf", "x_test": "biuf", "y": "biuf", "y_test": "biuf", "classes": "biuUS", "kind": "US"}
_PART_MAX_AGE_S = 3600  # a half-written upload older than this belongs to a crashed process


def uploads_dir() -> Path:
    """Where uploaded dataset files are kept: data_dir()/uploads."""
    return data_dir() / "uploads"


def dataset_from_upload(name: str, data: bytes, *, max_bytes: int | None = None) -> Dataset:
    """Check uploaded .npz/.zip bytes, keep them under uploads_dir() if they load, and return the Dataset.

    The bytes are written to a temporary file first and loaded from there; only a dataset that
    loads is renamed to its content-addressed name, so a refused upload never stays on disk.
    """
    display = PurePosixPath(str(name).replace("\\", "/")).name or "upload"
    ext = os.path.splitext(display)[1].lower()
    kinds = {".npz": "npz", ".zip": "zip"}
    if ext not in kinds:
        raise DatasetError(
            f"Can't use {display!r}: upload a .npz file (arrays x and optional y) "
            "or a .zip of images in one folder per class."
        )
    limit = resolve_max_bytes(max_bytes)
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
        ds = _load_path(kinds[ext], tmp, shown=display, spec=f"{kinds[ext]}:{target}", max_bytes=limit, seed=0)
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


def _open_zip(fp: IO[bytes], shown: str, lim: Limits) -> zipfile.ZipFile:
    """A ZipFile over `fp`, after counting its members from the end record (DatasetError otherwise)."""
    try:
        check_zip_directory(fp, shown, lim.zip_members)
        fp.seek(0)
        return zipfile.ZipFile(fp)
    except LimitError as e:
        raise DatasetError(f"{e}.") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as e:
        raise DatasetError(f"Could not open {shown} as a zip file: it is damaged or not a .zip. Zip it again.") from e


# --------------------------------------------------------------------------- .npz


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


# --------------------------------------------------------------------------- images in a zip or a folder


# (relative path parts, name to show, reader of the raw bytes)
_Entry = tuple[tuple[str, ...], str, Callable[[], bytes]]


def _is_skipped(parts: tuple[str, ...]) -> bool:
    """Hidden files/folders and OS clutter (__MACOSX, Thumbs.db, ...) are not the user's data."""
    return any(p.startswith(".") or p.lower() in _JUNK_NAMES for p in parts)


def _check_image_name(parts: tuple[str, ...], shown: str) -> None:
    """Refuse non-image files by extension, naming the file."""
    if os.path.splitext(parts[-1])[1].lower() not in IMAGE_EXTENSIONS:
        raise DatasetError(
            f"{shown[:120]!r} is not an image (allowed: {', '.join(IMAGE_EXTENSIONS)}). "
            "Remove it so that only images remain, one sub-folder per class."
        )


def _folder_entries(root: Path, max_bytes: int, lim: Limits) -> list[_Entry]:
    """List the image files under `root`, checking names, their number and the total size."""
    entries: list[_Entry] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _is_skipped((d,)))
        rel_dir = Path(dirpath).relative_to(root).parts
        for fname in sorted(filenames):
            parts = (*rel_dir, fname)
            if _is_skipped(parts):
                continue
            shown = "/".join(parts)
            _check_image_name(parts, shown)
            full = Path(dirpath) / fname
            total += full.stat().st_size
            if total > max_bytes:
                raise DatasetError(
                    f"The images in {root} add up to more than the {_mb(max_bytes)} limit: use fewer images."
                )
            entries.append((parts, shown, full.read_bytes))
            if len(entries) > lim.zip_members:
                raise DatasetError(f"{root} holds more than {lim.zip_members:,} images, the limit "
                                   "(LATENT_LAB_MAX_ZIP_MEMBERS): use fewer images.")
    return entries


def _zip_entries(zf: zipfile.ZipFile, shown: str, max_bytes: int, lim: Limits) -> list[_Entry]:
    """List a zip's images after checking every member's name, size and compression ratio (nothing is extracted)."""
    infos = zf.infolist()

    # All checks below use the zip's directory only, so a zip bomb is refused before inflating a byte.
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise DatasetError(
                f"{shown} contains an unsafe path {info.filename[:120]!r} (absolute or with '..'): refused. "
                "Zip the class folders themselves, with relative paths."
            )
        total += info.file_size
        if info.file_size >= _RATIO_CHECK_MIN_BYTES and info.file_size > lim.zip_ratio * max(
            info.compress_size, 1
        ):
            raise DatasetError(
                f"{shown} looks like a zip bomb: {info.filename[:120]!r} expands more than {lim.zip_ratio:g}x "
                f"({_mb(info.compress_size)} -> {_mb(info.file_size)}). Refused; images never compress that much."
            )
    if total > max_bytes:
        raise DatasetError(
            f"{shown} expands to {_mb(total)}, over the {_mb(max_bytes)} limit (possibly a zip bomb): "
            "use fewer or smaller images."
        )

    entries: list[_Entry] = []
    for info in infos:
        if info.is_dir():
            continue
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        if not parts or _is_skipped(parts):
            continue
        _check_image_name(parts, "/".join(parts))
        entries.append((parts, "/".join(parts), functools.partial(_read_member, zf, info, shown)))
    return entries


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str) -> bytes:
    """Read one zip member into memory, turning zip errors into DatasetError."""
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
        # RuntimeError: encrypted member; NotImplementedError: unsupported compression method.
        raise DatasetError(
            f"Could not read {info.filename[:120]!r} from {shown}: the zip is damaged, encrypted or uses an unusual "
            "compression. Zip the folders again with a standard tool, without a password."
        ) from e


_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def _decode(data: bytes, name: str) -> np.ndarray:
    """One image file -> (H, W) grey or (H, W, 3) colour: uint8 for 8-bit images, float32 in [0, 1] for 16-bit.

    The size is checked from the header before any pixel is decoded.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_side(im.size, f"The image {name[:120]!r}")  # (W, H) from the header; symmetric in W and H
            im = ImageOps.exif_transpose(im)  # camera photos: pixels as the viewer shows them
            if im.mode in _SIXTEEN_BIT:
                # Pillow's convert("RGB") clips 16-bit values at 255 (all white): scale instead.
                return (np.asarray(im, dtype=np.float64) / 65535.0).clip(0.0, 1.0).astype(np.float32)
            if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info) \
                    or (im.mode in ("L", "RGB") and "transparency" in im.info):
                # Transparent pixels have no meaningful colour: composite onto white, as a browser shows them.
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(white, rgba).convert("RGB")
            else:
                rgb = im.convert("RGB")  # palette, CMYK (Pillow handles Adobe's inverted JPEGs), 1-bit, grey
            pixels = np.asarray(rgb, dtype=np.uint8)  # (H, W, 3)
    except DatasetError:
        raise
    except Image.DecompressionBombError as e:  # Pillow refuses it at open, before our size check
        side = current_limits().image_side
        raise DatasetError(f"The image {name[:120]!r} is too large: its header declares more pixels than can be "
                           f"decoded safely, and images may be at most {side}x{side}. Refused.") from e
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error, MemoryError) as e:
        raise DatasetError(
            f"Could not read the image {name[:120]!r}: it is damaged or not really an image. Remove or re-save it."
        ) from e
    # Grey test on pixels, not the PIL mode: palette GIFs and RGB-saved scans of digits are grey too.
    if (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all():
        return np.ascontiguousarray(pixels[..., 0])
    return pixels


def _images_to_dataset(entries: list[_Entry], shown: str, spec: str, lim: Limits, seed: int) -> Dataset:
    """Decode images laid out as <class>/<image> (or all at the top level: unlabeled) into a Dataset."""
    if not entries:
        raise DatasetError(
            f"No images found in {shown}. Put images ({', '.join(IMAGE_EXTENSIONS)}) in one sub-folder per class."
        )
    if len(entries) > lim.zip_members:
        raise DatasetError(f"{shown} holds {len(entries):,} images, more than the limit of {lim.zip_members:,} "
                           "(LATENT_LAB_MAX_ZIP_MEMBERS): use fewer images.")
    entries = sorted(entries, key=lambda e: e[0])
    # A zip of "mydata/" holds mydata/<class>/<image>: drop wrapper folders common to every file.
    while all(len(p) >= 3 for p, _, _ in entries) and len({p[0] for p, _, _ in entries}) == 1:
        entries = [(p[1:], s, r) for p, s, r in entries]
    depths = {len(p) for p, _, _ in entries}
    if depths != {1} and depths != {2}:
        odd = next(s for p, s, _ in entries if len(p) != 2)
        raise DatasetError(
            f"{odd[:120]!r} is not directly inside a class folder. Lay out the images as <class name>/<image>, "
            "e.g. cat/001.png and dog/001.png (or all images at the top level for unlabeled data)."
        )
    labeled = depths == {2}
    if labeled and len({p[0] for p, _, _ in entries}) > lim.classes:
        raise DatasetError(
            f"{shown} has {len({p[0] for p, _, _ in entries}):,} class folders, more than the limit of "
            f"{lim.classes} (LATENT_LAB_MAX_CLASSES): group the images into fewer classes."
        )

    pictures: list[np.ndarray] = []  # (H, W) when grey, (H, W, 3) when colour; uint8, or float32 if 16-bit
    first: tuple[str, tuple[int, ...]] | None = None
    as_float32 = 0  # bytes the pictures will take as float32 (the budget the limit is about)
    for _, name, read in entries:
        pic = _decode(read(), name)
        size = pic.shape[:2]
        if first is None:
            first = (name, size)
        elif size != first[1]:
            raise DatasetError(
                f"{name[:120]!r} is {size[1]}x{size[0]} pixels but {first[0][:120]!r} is "
                f"{first[1][1]}x{first[1][0]}: all images must have the same size. Resize them to one size first."
            )
        as_float32 += 4 * pic.size
        if as_float32 > lim.data_bytes:
            raise DatasetError(
                f"The images in {shown} take more than {_mb(lim.data_bytes)} as float32 once decoded, the limit "
                "(LATENT_LAB_MAX_DATA_MB): use fewer or smaller images."
            )
        pictures.append(pic)

    colour = any(p.ndim == 3 for p in pictures)
    sixteen = any(p.dtype == np.float32 for p in pictures)
    h, w = first[1] if first else (0, 0)
    x = np.empty((len(pictures), 3 if colour else 1, h, w), np.float32 if sixteen else np.uint8)
    for i, p in enumerate(pictures):
        if sixteen and p.dtype == np.uint8:
            p = p.astype(np.float32) / 255.0  # one scale for all when some images are 16-bit
        x[i] = p.transpose(2, 0, 1) if p.ndim == 3 else p  # a grey picture fills every channel
        pictures[i] = None  # type: ignore[call-overload]  # free as we go: x holds it now

    y = classes = None
    if labeled:
        classes = sorted({p[0] for p, _, _ in entries})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[p[0]] for p, _, _ in entries], dtype=np.int64)
    return dataset_from_arrays(x, y, classes=classes, spec=spec, title=shown, seed=seed, max_bytes=lim.data_bytes)
