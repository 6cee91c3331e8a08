"""The user's images: a folder or a zip of them, one sub-folder per class, decoded into a Dataset.

A zip is checked from its directory alone before a byte is inflated: path traversal (absolute
paths, '..'), every member's compression ratio and the total size; a folder by its file names,
their number and total size. Every image's size is checked from its header before decoding.

Images are decoded the way Pillow and torchvision users expect: EXIF orientation applied,
16-bit greys scaled by 65535 (not clipped), palette and CMYK converted by Pillow, and
transparency composited onto white, as a browser shows it.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..limits import Limits
from .arrays import _check_side, _mb, current_limits, dataset_from_arrays
from .base import Dataset, DatasetError
from .zips import _RATIO_CHECK_MIN_BYTES

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# OS clutter that is not the user's data; skipped silently like hidden files.
_JUNK_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}


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
