"""Sharing runs: one run as a zip file to download, and an uploaded zip checked (the zip's directory, each
member's declared size, run.json's schema, the model rebuilt from its weights) before it is saved as an
imported run.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from .limits import LimitError, Limits, check_zip_directory, load_json
from .run_schema import META, RunError, _limits, validate_meta
from .store import WEIGHTS, _write_atomic, clean_run_id, model_from_bytes, new_run_id, read_meta, runs_root


def export_run(path: str | Path) -> bytes:
    """A run as one zip file (run.json + model.safetensors), for download."""
    path = Path(path)
    validate_meta(read_meta(path))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path / META, META)
        z.write(path / WEIGHTS, WEIGHTS)
    return buf.getvalue()


def _read_run_zip(data: bytes, lim: Limits) -> tuple[bytes, bytes]:
    """(run.json bytes, weights bytes) from an uploaded run zip, every size checked from its directory first."""
    fp = io.BytesIO(data)
    try:
        check_zip_directory(fp, "the run file", 16)
        fp.seek(0)
        with zipfile.ZipFile(fp) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
            if names != {META, WEIGHTS} or len(infos) != 2:
                shown = sorted(n[:60] for n in names)[:5]
                raise RunError(f"a run file is a zip holding exactly {META} and {WEIGHTS}; this one holds {shown}")
            for info in infos:
                if info.flag_bits & 0x1:
                    raise RunError(f"{info.filename} in the run file is encrypted; refusing it")
                cap = lim.json_bytes if info.filename == META else lim.run_bytes
                if info.file_size > cap:
                    raise RunError(f"{info.filename} in the run file unpacks to {info.file_size / 2**20:,.1f} MB, "
                                   f"over the {cap / 2**20:,.1f} MB limit; refusing it")
                if info.file_size > 2**20 and info.file_size > lim.zip_ratio * max(info.compress_size, 1):
                    raise RunError(f"{info.filename} in the run file expands more than {lim.zip_ratio:g}x "
                                   "(a zip bomb?); refusing it")
            # zipfile stops at each member's declared size and checks its CRC, so these reads are bounded.
            return z.read(META), z.read(WEIGHTS)
    except LimitError as e:
        raise RunError(str(e)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError,
            ValueError) as e:
        if isinstance(e, RunError):
            raise
        detail = " ".join(str(e).split())[:120]
        raise RunError(f"not a Latent Lab run file (a .zip downloaded from the Runs page): {detail}") from None


def import_run(data: bytes, root: str | Path | None = None, name: str | None = None) -> Path:
    """Validate an uploaded run zip, rebuild its model to prove it loads, then save it (marked imported)."""
    lim = _limits()
    if len(data) > lim.run_bytes:
        raise RunError(f"the file is larger than {lim.run_mb:g} MB (LATENT_LAB_MAX_RUN_MB)")
    meta_raw, weights = _read_run_zip(data, lim)
    try:
        meta = load_json(meta_raw, f"{META} in the upload", lim)
    except LimitError as e:
        raise RunError(str(e)) from None
    if not isinstance(meta, dict):
        raise RunError(f"{META} in the upload is not a JSON object")
    model_from_bytes(meta, weights)  # validates the schema; raises RunError on any mismatch
    # Its dataset spec stays as the description of what it was trained on; "imported" keeps it from
    # ever being followed as a path on this server (see followable_dataset).
    meta["imported"] = True
    # A comparison is a group of runs made on this server; one imported member would show up as a
    # broken comparison on everyone's Hybrid vs CNN page, so an import is a plain run.
    meta.pop("comparison", None)
    base = clean_run_id(name) or clean_run_id(meta.pop("id", None)) or new_run_id(meta["model"], meta["dataset"])
    root = Path(root or runs_root())
    target = root / base
    if os.path.lexists(target):
        target = root / f"{base[:90]}-{os.urandom(2).hex()}"
    return _write_atomic(target, weights, json.dumps(meta, indent=1))
