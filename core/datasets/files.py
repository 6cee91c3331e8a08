"""The user's own data: an .npz of arrays, a zip or a folder of images (one sub-folder per class), or an upload.

Everything here is untrusted input, so it is guarded before it is read: a size limit on files
(``max_bytes``, else $LATENT_LAB_MAX_UPLOAD_MB, else 200 MB), zip-bomb and path-traversal checks
made from the zip's directory alone, .npz files read without ever unpickling, and a cap on the
decoded pixels. Images are decoded with Pillow and handed to :func:`dataset_from_arrays`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

from .arrays import _check_side, _mb, dataset_from_arrays
from .base import Dataset, DatasetError, data_dir
from .sequences import read_kind, sequences_from_arrays

__all__ = [
    "DEFAULT_MAX_MB",
    "FILE_KINDS",
    "IMAGE_EXTENSIONS",
    "MAX_COMPRESSION_RATIO",
    "dataset_from_upload",
    "load_file_spec",
    "resolve_max_bytes",
]

FILE_KINDS = ("npz", "zip", "folder")  # the "KIND:PATH" prefixes of a dataset spec
DEFAULT_MAX_MB = 200
MAX_COMPRESSION_RATIO = 200
# Only members this big are checked for their ratio: a legitimate tiny BMP of one flat colour
# can compress a few hundred times, but no image within MAX_SIDE gets near 1 MiB uncompressed.
_RATIO_CHECK_MIN_BYTES = 1 << 20
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# OS clutter that is not the user's data; skipped silently like hidden files.
_JUNK_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}


def dataset_from_upload(name: str, data: bytes, *, max_bytes: int | None = None) -> Dataset:
    """Store uploaded .npz/.zip bytes under data_dir()/uploads and load them through an npz:/zip: spec."""
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
    folder = data_dir() / "uploads"
    target = folder / f"{digest}_{safe}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            tmp = target.with_name(target.name + f".{os.getpid()}.part")
            tmp.write_bytes(data)
            os.replace(tmp, target)  # atomic: a concurrent reader never sees half a file
    except OSError as e:
        raise DatasetError(
            f"Could not save the upload to {folder} ({e.strerror or e}). "
            "Set the LATENT_LAB_DATA environment variable to a folder you can write to."
        ) from e
    return load_file_spec(kinds[ext], str(target), max_bytes=limit, seed=0, display=display)


def resolve_max_bytes(max_bytes: int | None) -> int:
    """The size limit for user files: the argument, else $LATENT_LAB_MAX_UPLOAD_MB, else 200 MB."""
    if max_bytes is not None:
        if max_bytes <= 0:
            raise DatasetError(f"max_bytes must be positive (got {max_bytes}).")
        return int(max_bytes)
    env = os.environ.get("LATENT_LAB_MAX_UPLOAD_MB", "").strip()
    if not env:
        return DEFAULT_MAX_MB * 1024 * 1024
    try:
        mb = float(env)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise DatasetError(f"LATENT_LAB_MAX_UPLOAD_MB must be a positive number of megabytes (got {env!r}).")
    return int(mb * 1024 * 1024)


def load_file_spec(kind: str, rest: str, *, max_bytes: int, seed: int, display: str | None = None) -> Dataset:
    """Load an npz/zip/folder spec; `display` names the file in messages (defaults to its file name)."""
    if not rest.strip():
        raise DatasetError(f"'{kind}:' needs a path after the colon, e.g. '{kind}:/home/me/data.{kind}'.")
    path = Path(rest.strip()).expanduser().absolute()
    shown = display or path.name or str(path)
    spec = f"{kind}:{path}"
    if not path.exists():
        raise DatasetError(f"File not found: {path}. Check the path and its spelling.")
    if kind == "folder":
        if not path.is_dir():
            raise DatasetError(f"{path} is not a folder: use 'folder:' with a folder of class sub-folders.")
        return _images_to_dataset(_folder_entries(path, max_bytes), shown, spec, max_bytes, seed)
    if not path.is_file():
        raise DatasetError(f"{path} is a folder, not a .{kind} file: use 'folder:{path}' for a folder of images.")
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetError(f"{shown} is {_mb(size)}, over the {_mb(max_bytes)} limit: use a smaller file.")
    if kind == "npz":
        return _load_npz(path, shown, spec, max_bytes, seed)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DatasetError(f"Could not open {shown} as a zip file: it is damaged or not a .zip. Zip it again.") from e
    with zf:  # members are read in memory while decoding, so keep the zip open until then
        return _images_to_dataset(_zip_entries(zf, shown, max_bytes), shown, spec, max_bytes, seed)


def _load_npz(path: Path, shown: str, spec: str, max_bytes: int, seed: int) -> Dataset:
    """Read x / y / x_test / y_test / classes from an .npz without ever unpickling."""
    not_npz = (
        f"Could not read {shown} as a NumPy .npz file: it is damaged, not an .npz, or holds pickled Python "
        "objects (never loaded, for safety). Save plain arrays with numpy.savez(path, x=images, y=labels)."
    )
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        # An .npz is a zip: check what it expands to before numpy inflates it into memory.
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError) as e:
            raise DatasetError(not_npz) from e
        if total > max_bytes:
            raise DatasetError(
                f"{shown} holds {_mb(total)} of arrays once decompressed, over the {_mb(max_bytes)} limit: "
                "use fewer or smaller images."
            )
    arrays: dict[str, np.ndarray] = {}
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a bare .npy: take it as the images
            arrays["x"] = loaded
            found = ["x"]
        else:
            with loaded:
                for key in ("x", "y", "x_test", "y_test", "classes", "kind"):
                    if key in loaded.files:
                        arrays[key] = loaded[key]
                found = list(loaded.files)
    except ValueError as e:
        # Inside a real .npz, a ValueError means an object array (pickled data); otherwise it is no .npz at all.
        if is_zip and "pickle" in str(e).lower():
            raise DatasetError(
                f"{shown} contains Python objects (pickled data), which are never loaded, for safety. "
                "Save plain numeric arrays, e.g. numpy.savez(path, x=images.astype('uint8'), y=labels.astype('int64'))."
            ) from e
        raise DatasetError(not_npz) from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, KeyError) as e:
        raise DatasetError(not_npz) from e
    else:
        if "x" not in arrays:
            raise DatasetError(
                f"{shown} has no array named 'x' (found: {', '.join(found) or 'nothing'}). "
                "Save the images as x (and labels as y): numpy.savez(path, x=images, y=labels)."
            )
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
    )


# (relative path parts, name to show, reader of the raw bytes)
_Entry = tuple[tuple[str, ...], str, Callable[[], bytes]]


def _is_skipped(parts: tuple[str, ...]) -> bool:
    """Hidden files/folders and OS clutter (__MACOSX, Thumbs.db, ...) are not the user's data."""
    return any(p.startswith(".") or p.lower() in _JUNK_NAMES for p in parts)


def _check_image_name(parts: tuple[str, ...], shown: str) -> None:
    """Refuse non-image files by extension, naming the file."""
    if os.path.splitext(parts[-1])[1].lower() not in IMAGE_EXTENSIONS:
        raise DatasetError(
            f"{shown!r} is not an image (allowed: {', '.join(IMAGE_EXTENSIONS)}). "
            "Remove it so that only images remain, one sub-folder per class."
        )


def _folder_entries(root: Path, max_bytes: int) -> list[_Entry]:
    """List the image files under `root`, checking names and the total size."""
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
    return entries


def _zip_entries(zf: zipfile.ZipFile, shown: str, max_bytes: int) -> list[_Entry]:
    """List a zip's images after checking every member's name, size and compression ratio (nothing is extracted)."""
    infos = zf.infolist()

    # All checks below use the zip's directory only, so a zip bomb is refused before inflating a byte.
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise DatasetError(
                f"{shown} contains an unsafe path {info.filename!r} (absolute or with '..'): refused. "
                "Zip the class folders themselves, with relative paths."
            )
        total += info.file_size
        if info.file_size >= _RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise DatasetError(
                f"{shown} looks like a zip bomb: {info.filename!r} expands more than {MAX_COMPRESSION_RATIO}x "
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
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        # RuntimeError: encrypted member; NotImplementedError: unsupported compression method.
        raise DatasetError(
            f"Could not read {info.filename!r} from {shown}: the zip is damaged, encrypted or uses an unusual "
            "compression. Zip the folders again with a standard tool, without a password."
        ) from e


def _images_to_dataset(entries: list[_Entry], shown: str, spec: str, max_bytes: int, seed: int) -> Dataset:
    """Decode images laid out as <class>/<image> (or all at the top level: unlabeled) into a Dataset."""
    from PIL import Image

    if not entries:
        raise DatasetError(
            f"No images found in {shown}. Put images ({', '.join(IMAGE_EXTENSIONS)}) in one sub-folder per class."
        )
    entries = sorted(entries, key=lambda e: e[0])
    # A zip of "mydata/" holds mydata/<class>/<image>: drop wrapper folders common to every file.
    while all(len(p) >= 3 for p, _, _ in entries) and len({p[0] for p, _, _ in entries}) == 1:
        entries = [(p[1:], s, r) for p, s, r in entries]
    depths = {len(p) for p, _, _ in entries}
    if depths != {1} and depths != {2}:
        odd = next(s for p, s, _ in entries if len(p) != 2)
        raise DatasetError(
            f"{odd!r} is not directly inside a class folder. Lay out the images as <class name>/<image>, "
            "e.g. cat/001.png and dog/001.png (or all images at the top level for unlabeled data)."
        )
    labeled = depths == {2}

    pictures: list[np.ndarray] = []  # (H, W) when grey, (H, W, 3) when colour
    first: tuple[str, tuple[int, int]] | None = None
    decoded = 0
    all_grey = True
    for _, name, read in entries:
        data = read()
        try:
            with Image.open(io.BytesIO(data)) as im:
                size = im.size  # (W, H), read from the header before decoding any pixels
                _check_side(size, f"The image {name!r}")
                if first is None:
                    first = (name, size)
                elif size != first[1]:
                    raise DatasetError(
                        f"{name!r} is {size[0]}x{size[1]} pixels but {first[0]!r} is {first[1][0]}x{first[1][1]}: "
                        "all images must have the same size. Resize them to one size first."
                    )
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        except DatasetError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError) as e:
            raise DatasetError(
                f"Could not read the image {name!r}: it is damaged or not really an image. Remove or re-save it."
            ) from e
        # Grey test on pixels, not the PIL mode: palette GIFs and RGB-saved scans of digits are grey too.
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        all_grey &= grey
        pic = rgb[..., 0] if grey else rgb
        decoded += pic.nbytes
        if decoded > max_bytes:
            raise DatasetError(
                f"The images in {shown} take more than {_mb(max_bytes)} once decoded: use fewer or smaller images."
            )
        pictures.append(pic)

    if all_grey:
        x = np.stack(pictures)[:, None]  # (N, 1, H, W)
    else:
        x = np.stack([p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pictures])
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)

    y = classes = None
    if labeled:
        classes = sorted({p[0] for p, _, _ in entries})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[p[0]] for p, _, _ in entries], dtype=np.int64)
    return dataset_from_arrays(x, y, classes=classes, spec=spec, title=shown, seed=seed)
