"""Sharing runs: one run as a zip file to download, and an uploaded zip checked (the zip's directory, each
member's declared size, run.json's schema, the model rebuilt from its weights) before it is saved as an
imported run.

An uploaded run.json is someone else's words. Of it, an import keeps only what describes the model and
how it was trained (``SHARED_FIELDS``); every field this server makes about its own runs (who owns it,
when it was made, its status and timings, the side-by-side tag, the preset it came from, ...) is dropped
and made anew here, so an upload cannot pin itself to the top of every Runs list, stand in for
Side by side's one-click runs, or rewrite the Home page's measured times. An export carries no owner.
Identical imports land once (by content); the runs folder's quotas (core.quota.check_room) apply.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path

from .limits import LimitError, Limits, check_zip_directory, load_json
from .run_schema import META, RunError, _limits, validate_meta
from .quota import check_room
from .store import (WEIGHTS, _write_atomic, clean_run_id, list_runs, model_from_bytes, new_run_id,
                    read_meta, runs_root)

# What an imported run keeps of its run.json: the model, its data and how it was trained (and what that gave).
SHARED_FIELDS = ("format", "model", "family", "config", "shape", "n_classes", "dataset", "train", "history",
                 "result", "metrics", "versions", "id")
# What a run's file may say only on the server that made it: never in a download.
PRIVATE_FIELDS = ("owner",)


def export_run(path: str | Path, *, private: bool = False) -> bytes:
    """A run as one zip file (run.json + model.safetensors), for download; without its owner unless ``private``
    (a cluster worker sending a run home to its own server)."""
    path = Path(path)
    meta = read_meta(path)
    validate_meta(meta)
    if not private:
        meta = {k: v for k, v in meta.items() if k not in PRIVATE_FIELDS}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(META, json.dumps(meta, indent=1))
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


def _unpack(data: bytes) -> tuple[dict, bytes]:
    """(run.json, weights) of a run zip, every size and field checked and the model rebuilt once to prove it loads."""
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
    return meta, weights


def content_id(meta: dict, weights: bytes) -> str:
    """What makes two imports the same run: the weights and the kept run.json, however the zip was packed."""
    h = hashlib.sha256(weights)
    h.update(json.dumps({k: v for k, v in meta.items() if k != "id"}, sort_keys=True).encode())
    return h.hexdigest()


def import_run(data: bytes, root: str | Path | None = None, name: str | None = None,
               owner: str | None = None) -> Path:
    """Validate an uploaded run zip, rebuild its model to prove it loads, then save it (marked imported).

    The run is ``owner``'s (the importing tab's). The same run imported again, by anyone, is not stored
    twice: the existing folder is returned.
    """
    meta, weights = _unpack(data)
    meta = {k: v for k, v in meta.items() if k in SHARED_FIELDS}
    root = Path(root or runs_root())
    digest = content_id(meta, weights)
    same = next((m for m in list_runs(root) if m.get("content_id") == digest and "error" not in m), None)
    if same is not None:
        return Path(same["path"])
    # Its dataset spec stays as the description of what it was trained on; "imported" keeps it from
    # ever being followed as a path on this server (see followable_dataset). A comparison (a group of
    # runs made here) and everything else this server says about its own runs was dropped above.
    meta.update({"imported": True, "status": "imported", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "content_id": digest, **({"owner": owner} if owner else {})})
    text = json.dumps(meta, indent=1)
    check_room(root, len(weights) + len(text), owner)
    base = clean_run_id(name) or clean_run_id(meta.pop("id", None)) or new_run_id(meta["model"], meta["dataset"])
    meta.pop("id", None)
    target = root / base
    if os.path.lexists(target):
        target = root / f"{base[:90]}-{os.urandom(2).hex()}"
    return _write_atomic(target, weights, json.dumps(meta, indent=1))


def bring_home(data: bytes, root: str | Path, name: str) -> Path:
    """A run this server's own cluster worker trained (``export_run(private=True)``), saved as it was made."""
    meta, weights = _unpack(data)
    target = Path(root) / (clean_run_id(name) or new_run_id(meta["model"], meta["dataset"]))
    if os.path.lexists(target):
        target = target.with_name(f"{target.name[:90]}-{os.urandom(2).hex()}")
    return _write_atomic(target, weights, json.dumps(meta, indent=1))
