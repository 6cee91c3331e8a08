"""Every limit on what a user can hand in, in one place, and how the server's owner raises them.

Latent Lab runs on one server for a whole class, so anything a user can hand in (a dataset
file, an image zip, a run zip, a run folder, a CLI argument) is checked against these limits
*before* memory is allocated or a model is built: a small file must not be able to declare
its way to gigabytes. Each limit has a default chosen for a classroom server (a process
stays well under 1 GB for anything refused) and an environment variable that overrides it;
:func:`limits` reads them on every call, so a changed variable applies without a restart of
the code that asks. The README's "Limits" section lists them.

Limits on a model's shape (layers, widths, latent size, encoder steps) are the registry's
knob limits in ``core/models`` (each config field declares them); the total parameter count
set here bounds every family at once.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, fields
from typing import IO, Any

__all__ = ["ENV", "LimitError", "Limits", "MB", "MIN_SIDE", "check_zip_directory", "json_depth", "limits",
           "load_json"]

MB = 1024 * 1024
# Not a knob: two stride-2 layers need at least 8 pixels a side to leave a 2x2 map.
MIN_SIDE = 8


class LimitError(ValueError):
    """Input over a limit, or a limit's environment variable set wrongly; the message is for the user."""


@dataclass(frozen=True)
class Limits:
    """The limits in force (defaults here; see ENV for the variable that overrides each)."""

    upload_mb: float = 200  # largest dataset file (npz / zip), or a folder's images in total
    data_mb: float = 256  # a user dataset's images once converted to float32 (the memory it takes)
    zip_ratio: float = 200  # largest compression ratio of a zip / npz member of 1 MB or more
    zip_members: int = 100_000  # most members in a zip or npz (images in an image zip)
    image_side: int = 64  # largest image width / height, in pixels
    classes: int = 100  # most classes in a labeled dataset or a classifier run
    run_mb: float = 128  # largest run file (zip upload, or a run folder's weights)
    json_kb: float = 4096  # largest run.json
    json_depth: int = 16  # deepest nesting of lists / objects in a run.json
    model_params: int = 25_000_000  # most parameters a model may have (25M floats = 100 MB)
    uploads_mb: float = 2048  # stored dataset uploads, all tabs together; oldest are removed first
    uploads_days: float = 7  # stored dataset uploads older than this are removed
    runs_mb: float = 4096  # the runs folder, everyone's runs together: a save or import over it is refused
    runs_tab_mb: float = 512  # the runs one browser tab trained or imported
    disk_free_mb: float = 256  # free disk space a save or import must leave on the runs folder's disk

    @property
    def upload_bytes(self) -> int:
        """upload_mb in bytes."""
        return int(self.upload_mb * MB)

    @property
    def data_bytes(self) -> int:
        """data_mb in bytes."""
        return int(self.data_mb * MB)

    @property
    def run_bytes(self) -> int:
        """run_mb in bytes."""
        return int(self.run_mb * MB)

    @property
    def json_bytes(self) -> int:
        """json_kb in bytes."""
        return int(self.json_kb * 1024)

    @property
    def uploads_bytes(self) -> int:
        """uploads_mb in bytes."""
        return int(self.uploads_mb * MB)

    @property
    def runs_bytes(self) -> int:
        """runs_mb in bytes."""
        return int(self.runs_mb * MB)

    @property
    def runs_tab_bytes(self) -> int:
        """runs_tab_mb in bytes."""
        return int(self.runs_tab_mb * MB)


# Field -> the environment variable that overrides it (LATENT_LAB_MAX_UPLOAD_MB predates this module).
ENV: dict[str, str] = {
    "upload_mb": "LATENT_LAB_MAX_UPLOAD_MB",
    "data_mb": "LATENT_LAB_MAX_DATA_MB",
    "zip_ratio": "LATENT_LAB_MAX_ZIP_RATIO",
    "zip_members": "LATENT_LAB_MAX_ZIP_MEMBERS",
    "image_side": "LATENT_LAB_MAX_IMAGE_SIDE",
    "classes": "LATENT_LAB_MAX_CLASSES",
    "run_mb": "LATENT_LAB_MAX_RUN_MB",
    "json_kb": "LATENT_LAB_MAX_JSON_KB",
    "json_depth": "LATENT_LAB_MAX_JSON_DEPTH",
    "model_params": "LATENT_LAB_MAX_MODEL_PARAMS",
    "uploads_mb": "LATENT_LAB_UPLOADS_MAX_MB",
    "uploads_days": "LATENT_LAB_UPLOADS_MAX_DAYS",
    "runs_mb": "LATENT_LAB_RUNS_MAX_MB",
    "runs_tab_mb": "LATENT_LAB_RUNS_TAB_MAX_MB",
    "disk_free_mb": "LATENT_LAB_DISK_FREE_MB",
}


def limits() -> Limits:
    """The limits in force: each default, unless its environment variable (see ENV) says otherwise."""
    values: dict[str, float | int] = {}
    for f in fields(Limits):
        raw = os.environ.get(ENV[f.name], "").strip()
        if not raw:
            continue
        try:
            number = float(raw.replace("_", ""))
        except ValueError:
            number = -1.0
        if not (number > 0 and number < float("inf")):
            raise LimitError(f"{ENV[f.name]} must be a positive number (got {raw!r}); unset it for the "
                             f"default, {getattr(Limits, f.name):g}")
        values[f.name] = int(number) if f.type in (int, "int") else number
        if values[f.name] == 0:
            raise LimitError(f"{ENV[f.name]} must be at least 1 (got {raw!r})")
    return Limits(**values)


# ---------------------------------------------------------------------------- checks every room shares


def check_zip_directory(fp: IO[bytes], shown: str, max_members: int) -> None:
    """Refuse a zip whose directory declares more than ``max_members`` members, from its end record alone.

    zipfile.ZipFile builds one object per directory entry before anyone can count them, so a
    200 MB zip of empty entries would cost gigabytes; the end-of-directory record says how many
    entries and how many directory bytes there are, in a few bytes at the end of the file.
    zipfile's own reader of that record (``_EndRecData``, stable since Python 2) also handles
    zip64; a file without one is left to ZipFile to refuse.
    """
    try:
        end = zipfile._EndRecData(fp)  # type: ignore[attr-defined]
    except (OSError, EOFError, ValueError) as e:
        raise LimitError(f"{shown} is damaged: its zip directory cannot be read ({e})") from None
    if not end:
        return
    members, directory = int(end[zipfile._ECD_ENTRIES_TOTAL]), int(end[zipfile._ECD_SIZE])  # type: ignore
    # A directory entry is 46 bytes plus its name; 1 KB each is generous for real files.
    if members > max_members or directory > max_members * 1024:
        raise LimitError(f"{shown} declares {max(members, directory // 46):,} members, more than the limit of "
                         f"{max_members:,} (LATENT_LAB_MAX_ZIP_MEMBERS)")


def _no_value(name: str) -> None:
    # NaN / Infinity are not JSON, but Python's json writes them: read them as "no value" (null).
    return None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise LimitError(f"holds the number {text[:40]}, out of range")
    return value


def _small_int(text: str) -> int:
    # Python refuses to parse ints over 4,300 digits with a bare ValueError; nothing here needs 20.
    if len(text.lstrip("-")) > 20:
        raise LimitError(f"holds a {len(text)}-digit integer, out of range")
    return int(text)


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(raw: bytes, shown: str, lim: Limits) -> Any:
    """Parse untrusted JSON within the size and depth limits; 1e400 and huge integers are refused, NaN is null."""
    if len(raw) > lim.json_bytes:
        raise LimitError(f"{shown} is {len(raw) / 1024:,.0f} KB, over the {lim.json_kb:g} KB limit "
                         "(LATENT_LAB_MAX_JSON_KB)")
    try:
        value = json.loads(raw, parse_constant=_no_value, parse_float=_finite_float,
                           parse_int=_small_int)
    except LimitError as e:
        raise LimitError(f"{shown} {e}") from None
    except RecursionError:
        raise LimitError(f"{shown} nests lists or objects too deeply (the limit is {lim.json_depth}, "
                         "LATENT_LAB_MAX_JSON_DEPTH)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LimitError(f"{shown} is not valid JSON ({str(e).splitlines()[0][:120]})") from None
    if json_depth(value) > lim.json_depth:
        raise LimitError(f"{shown} nests lists or objects more than {lim.json_depth} deep "
                         "(LATENT_LAB_MAX_JSON_DEPTH)")
    return value
