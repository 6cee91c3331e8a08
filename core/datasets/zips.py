"""Opening the user's zip files: the member count from the end record, and the zip-bomb threshold.

A zip (of images, or an .npz, which is a zip of .npy files) is untrusted input, so its number of
members is read from the zip's end record and checked against ``core.limits`` before zipfile
builds its directory. Both readers (``npz`` and ``images``) refuse zip bombs from the directory
alone, checking the compression ratio of every member at least ``_RATIO_CHECK_MIN_BYTES`` big.
"""

from __future__ import annotations

import struct
import zipfile
from typing import IO

from ..limits import LimitError, Limits, check_zip_directory
from .base import DatasetError

MAX_COMPRESSION_RATIO = Limits.zip_ratio  # the default; the limit in force is current_limits().zip_ratio
# Only members this big are checked for their ratio: a legitimate tiny BMP of one flat colour
# can compress a few hundred times, but no image within the side limit gets near 1 MiB uncompressed.
_RATIO_CHECK_MIN_BYTES = 1 << 20


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
