"""The run store: a trained model on disk, with everything needed to rebuild it.

A run is a folder ``<root>/<run id>/`` holding ``model.safetensors`` (weights
only: safetensors cannot carry code) and ``run.json`` (model name, config,
data shape, dataset spec, training config, metrics, history, timings,
versions). Loading rebuilds the model through the registry, like nanoGPT's
``GPT(GPTConfig(**model_args))``, and checks every tensor against it. A run is
written into a temporary sibling folder and renamed into place, so a crash
never leaves half a run; an existing folder is replaced only when the caller
says so, and only if it really is a run.

A run file is untrusted (runs are shared by upload), so everything about it is
checked against ``core.limits`` before memory is allocated: the zip's
directory, each member's declared size, run.json's size, depth and numbers,
every field's type and range (:func:`validate_meta`, a JSON Schema), and the
model's size (the registry's knob limits and a parameter count on the meta
device). An imported run's ``dataset`` is kept as a description of what it was
trained on; :func:`followable_dataset` refuses to treat it as a path.
A damaged run folder is listed with the reason (it never hides the others)
and can be deleted, as long as it holds nothing but run files.
"""
from __future__ import annotations

import functools
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .datasets.sequences import MAX_STEPS as SEQ_MAX_STEPS
from .limits import LimitError, Limits, check_zip_directory, limits, load_json
from .models import ConfigError, RegistryModel, build_model, get_spec, make_config_for

FORMAT = 1
WEIGHTS, META = "model.safetensors", "run.json"
MAX_RUN_BYTES = Limits.run_mb * 1024 * 1024  # the default; the limit in force is limits().run_bytes
_ID_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # always fullmatch: "$" would let "id\n" through
# What a run folder may hold besides run.json and the weights: the codes cache and our temp files.
_RUN_EXTRAS = ("latent-cache",)
_FILE_SPECS = ("npz:", "zip:", "folder:")


class RunError(ValueError):
    """A run that is missing, malformed, tampered with or does not fit its model."""


@dataclass
class Run:
    """A loaded run: its folder, its metadata and the rebuilt model (eval mode)."""

    path: Path
    meta: dict[str, Any]
    model: RegistryModel = field(repr=False)

    @property
    def id(self) -> str:
        """The folder name."""
        return self.path.name

    @property
    def dataset(self) -> str:
        """The dataset spec it was trained on."""
        return self.meta["dataset"]


def runs_root() -> Path:
    """$LATENT_LAB_HOME, default ./runs."""
    return Path(os.environ.get("LATENT_LAB_HOME", "runs"))


def new_run_id(model_name: str, dataset: str) -> str:
    """A readable, unique, filesystem-safe id like 'cae-mnist5k-20261123-181502-3f2a'."""
    ds = re.sub(r"[^A-Za-z0-9]+", "-", dataset.split(":")[-1].rsplit("/", 1)[-1])[:24].strip("-")
    return f"{model_name}-{ds or 'data'}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"


def _versions() -> dict[str, str]:
    """The library versions a run was saved with."""
    import platform

    import safetensors
    return {"torch": torch.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version(), "latent_lab": "0.1"}


def _weights_bytes(model: RegistryModel) -> bytes:
    """State dict as safetensors bytes (contiguous CPU copies; shared storage cloned)."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return st_save(state)


def _limits() -> Limits:
    """core.limits.limits(), with a badly set variable reported as a RunError."""
    try:
        return limits()
    except LimitError as e:
        raise RunError(str(e)) from None


def clean_run_id(text: Any) -> str | None:
    """A usable run id from ``text`` (surrounding whitespace, e.g. a trailing newline, dropped), else None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    return text if _ID_OK.fullmatch(text) else None


def save_run(model: RegistryModel, *, dataset: str, train_config: dict[str, Any] | None = None,
             result: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
             extra: dict[str, Any] | None = None, path: str | Path | None = None,
             root: str | Path | None = None, replace: bool = False) -> Path:
    """Write ``model`` and its metadata as a run folder atomically; returns the folder.

    An existing ``path`` is refused unless it is a run and ``replace`` is true.
    """
    result = dict(result or {})
    meta: dict[str, Any] = {
        "format": FORMAT,
        "model": model.name,
        "family": model.family,
        "config": model.config_dict(),
        "shape": list(model.shape),
        "n_classes": model.n_classes,
        "dataset": dataset,
        "train": dict(train_config or {}),
        "status": result.pop("status", "finished"),
        "reason": result.pop("reason", ""),
        "history": result.pop("history", {}),
        "timings": {"train_seconds": result.pop("seconds", None),
                    "images_per_sec": result.pop("images_per_sec", None),
                    "threads": result.pop("threads", None)},
        "result": result,
        "metrics": dict(metrics or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
    }
    meta.update(extra or {})
    meta["metrics"] = {k: v for k, v in _finite(meta["metrics"]).items() if v is not None}
    if "recon_mse" not in meta["metrics"]:
        meta["metrics"].pop("recon_bce", None)  # the two are shown together
    if path is None:
        path = Path(root or runs_root()) / new_run_id(model.name, dataset)
    path = Path(path)
    text = json.dumps(_finite(meta), indent=1, default=str, allow_nan=False)
    return _write_atomic(path, _weights_bytes(model), text, replace=replace)


def _finite(value: Any) -> Any:
    """A copy of JSON-able ``value`` with NaN and infinities as None, so run.json is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def update_meta(path: str | Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into a run's run.json (atomically); returns the new metadata."""
    path = Path(path)
    meta = read_meta(path)
    meta.update(changes)
    atomic_file(path / META, json.dumps(_finite(meta), indent=1, default=str, allow_nan=False).encode())
    return meta


def atomic_file(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _foreign_files(path: Path) -> list[str]:
    """Names in a run folder that a run does not consist of (what deleting it would lose)."""
    out = []
    for entry in os.scandir(path):
        name = entry.name
        if name in (META, WEIGHTS, "checkpoint.pt", "latent-watch.npz") or name.startswith(".tmp-"):
            if entry.is_file(follow_symlinks=False):
                continue
        elif name in _RUN_EXTRAS and entry.is_dir(follow_symlinks=False):
            inner = [e.name for e in os.scandir(entry.path)
                     if not (e.is_file(follow_symlinks=False) and (e.name.endswith(".npz") or e.name.startswith(".tmp-")))]
            out += [f"{name}/{n}" for n in inner]
            continue
        out.append(name)
    return sorted(out)


def check_out_path(path: str | Path, *, replace: bool = False) -> None:
    """Refuse to write a run at ``path`` if something is there, unless it is a run and ``replace`` is true.

    Never lets a write (or ``train --out``) delete a folder that is not a run, or files a run
    folder does not consist of.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        raise RunError(f"{path} already exists and is not a run folder: choose a new folder name")
    if not (path / META).is_file():
        raise RunError(f"{path} already exists and is not a run (no {META}): choose a new folder name; "
                       "nothing was changed")
    if not replace:
        raise RunError(f"{path} already holds a run: pass --force to replace it, or choose a new folder name")
    foreign = _foreign_files(path)
    if foreign:
        raise RunError(f"{path} holds files that are not part of a run ({', '.join(foreign[:3])}): "
                       "refusing to replace it")


def _write_atomic(path: Path, weights: bytes, meta_json: str, replace: bool = False) -> Path:
    """Build the run in a hidden sibling folder, then rename it into place."""
    check_out_path(path, replace=replace)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        (tmp / WEIGHTS).write_bytes(weights)
        (tmp / META).write_text(meta_json)
        if path.exists():  # replacing a run (checked above): move the old one aside first, drop it after
            check_out_path(path, replace=True)  # again, just before: it may have changed meanwhile
            old = path.with_name(f".{path.name}.old-{os.urandom(3).hex()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)  # not os.replace: never over something that appeared meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_meta(path: Path) -> dict[str, Any]:
    """A run folder's run.json, parsed within the JSON limits (not yet schema-checked)."""
    f = path / META
    shown = f"{path.name}/{META}"  # the folder's name, not the server's layout
    try:
        if not f.is_file():
            raise RunError(f"{path.name} is not a saved run (no {META} in it)")
        lim = _limits()
        size = f.stat().st_size
        if size > lim.json_bytes:
            raise RunError(f"{shown} is {size / 1024:,.0f} KB, over the {lim.json_kb:g} KB limit for {META} "
                           "(LATENT_LAB_MAX_JSON_KB); the run cannot be loaded")
        raw = f.read_bytes()
    except OSError as e:
        raise RunError(f"{shown} cannot be read ({e.strerror or e})") from None
    try:
        meta = load_json(raw, META, lim)
    except LimitError as e:
        raise RunError(f"{e}: the run is damaged") from None
    if not isinstance(meta, dict):
        raise RunError(f"{shown} is damaged (expected a JSON object)")
    return meta


_NUMBER = {"type": ["number", "null"]}
_SCALAR = {"type": ["number", "string", "boolean", "null"], "maxLength": 4000}
_SHORT = {"type": "string", "maxLength": 200}


@functools.lru_cache(maxsize=4)
def _validator(lim: Limits) -> jsonschema.protocols.Validator:
    """The run.json schema for these limits: every field's type and range."""
    # Images are CxHxW within the image limits; a sequence run is 1 x T steps x F features (core.datasets.sequences).
    side = {"type": "integer", "minimum": 1, "maximum": max(lim.image_side, SEQ_MAX_STEPS)}
    flat_object = {"type": "object", "maxProperties": 64, "additionalProperties": _SCALAR}
    schema = {
        "type": "object",
        "required": ["model", "config", "shape", "n_classes", "dataset"],
        "properties": {
            "format": {"type": "integer", "minimum": 1, "maximum": 1000},
            "model": {"type": "string", "minLength": 1, "maxLength": 64},
            "family": _SHORT,
            "config": {"type": "object", "maxProperties": 64, "additionalProperties": {"anyOf": [
                _SCALAR, {"type": "array", "maxItems": 64, "items": {"type": "number"}}]}},
            "shape": {"type": "array", "minItems": 3, "maxItems": 3,
                      "prefixItems": [{"type": "integer", "enum": [1, 3]}, side, side]},  # sizes: model limits
            "n_classes": {"type": "integer", "minimum": 0, "maximum": lim.classes},
            "dataset": {"type": "string", "maxLength": 1000},
            "train": flat_object,
            "status": _SHORT,
            "reason": {"type": "string", "maxLength": 4000},
            # Items are checked by _check_history: the same rule, a hundred times faster than the
            # validator walking thousands of numbers on every Runs page load.
            "history": {"type": "object", "maxProperties": 64,
                        "additionalProperties": {"type": "array", "maxItems": 100_000}},
            "timings": {"type": "object", "maxProperties": 64, "additionalProperties": _NUMBER},
            "result": {"type": "object"},
            "metrics": {"type": "object", "maxProperties": 64, "additionalProperties": _SCALAR,
                        "properties": {"accuracy": {"type": "number"}, "recon_bce": {"type": "number"},
                                       "recon_mse": {"type": "number"}, "approximate": {"type": "boolean"},
                                       "n": {"type": "integer", "minimum": 0}},
                        "dependentRequired": {"recon_bce": ["recon_mse"]}},
            "created": _SHORT,
            "started_at": _NUMBER,  # when a job of the server left the queue (epoch seconds)
            "versions": {"type": "object", "maxProperties": 64, "additionalProperties": _SHORT},
            "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z"},
            "title": _SHORT,
            "imported": {"type": "boolean"},
            "comparison": {"type": "object", "properties": {
                "id": _SHORT, "role": _SHORT, "seed": {"type": ["integer", "null"]},
                "seed_index": {"type": "integer", "minimum": 0, "maximum": 10_000},
                "accuracy": {"type": "number"}, "config": {"type": "object"}}},
        },
    }
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def validate_meta(meta: Any) -> None:
    """RunError unless ``meta`` is a run.json this version can load: the schema, then the registry's model name."""
    if not isinstance(meta, dict):
        raise RunError(f"{META} is damaged (expected a JSON object)")
    for key in ("error", "path"):  # what list_runs adds: a run.json must not fake a damaged run or a location
        if key in meta:
            raise RunError(f"{META} field {key!r} is invalid (a reserved name); the run file is damaged or not a "
                           "Latent Lab run")
    if isinstance(meta.get("format"), int) and not isinstance(meta["format"], bool) and meta["format"] > FORMAT:
        raise RunError("this run was saved by a newer Latent Lab; update to load it")
    error = jsonschema.exceptions.best_match(_validator(_limits()).iter_errors(meta))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "the top level"
        detail = " ".join(error.message.split())  # one line, whatever the value held
        if len(detail) > 160:
            detail = detail[:157] + "..."
        raise RunError(f"{META} field {where!r} is invalid ({detail}); the run file is damaged "
                       "or not a Latent Lab run")
    for key, values in (meta.get("history") or {}).items():
        if not all(v is None or type(v) in (int, float) for v in values):
            bad = next(v for v in values if not (v is None or type(v) in (int, float)))
            raise RunError(f"{META} field 'history.{str(key)[:40]}' is invalid (it holds {str(bad)[:40]!r}, not a "
                           "number); the run file is damaged or not a Latent Lab run")
    # JSON Schema counts 3.0 as an integer; the model is built from real ints.
    for key in ("shape", "n_classes"):
        value = meta[key]
        if any(isinstance(v, float) for v in (value if isinstance(value, list) else [value])):
            raise RunError(f"{META} field {key!r} must hold whole numbers, got {value!r}")
    try:
        spec = get_spec(meta["model"])
    except ConfigError as e:
        raise RunError(f"{META} names {e}") from None
    try:
        make_config_for(spec, meta["config"])  # the knobs' limits (sizes, encoder steps): cheap, no model built
    except ConfigError as e:
        raise RunError(f"run.json describes a model that cannot be built: {e}") from None


def followable_dataset(meta: dict[str, Any]) -> str:
    """The run's dataset spec, to load it by; RunError for an imported run's file path (only a description)."""
    spec = str(meta.get("dataset", ""))
    if meta.get("imported") and spec.strip().lower().startswith(_FILE_SPECS):
        raise RunError(f"this run was imported; it was trained on {spec.split('/')[-1][:80]!r}, a file that is "
                       "only described, never opened: give a dataset with --dataset")
    return spec


def _expected_bytes(model: RegistryModel) -> int:
    """What the model's tensors take in a safetensors file."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def model_from_bytes(meta: dict[str, Any], weights: bytes) -> RegistryModel:
    """Rebuild a model from run metadata and safetensors bytes, checking every tensor."""
    validate_meta(meta)
    try:
        # build_model checks the config against the knobs' limits and counts parameters on the
        # meta device before allocating anything.
        model = build_model(meta["model"], meta["config"], tuple(meta["shape"]), meta["n_classes"])
    except (ConfigError, ValueError, TypeError, RuntimeError) as e:
        raise RunError(f"run.json describes a model that cannot be built: {e}") from None
    # A header of JSON (at most a few KB per tensor) plus the tensors: anything far bigger is not these weights.
    slack = 1024 * 1024 + 1024 * len(model.state_dict())
    if len(weights) > _expected_bytes(model) + slack:
        raise RunError(f"the weights file ({len(weights) / 2**20:,.1f} MB) is far larger than a "
                       f"{meta['model']} of this size: the weights and run.json do not belong together")
    try:
        state = st_load(weights)
    except (SafetensorError, ValueError, OSError, RuntimeError, MemoryError) as e:
        detail = " ".join(str(e).split())[:160]
        raise RunError(f"the weights file is damaged or not a safetensors file ({detail}); "
                       "it was not loaded") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise RunError(f"the weights do not match a {meta['model']} model "
                       f"(missing: {missing[:3]}, unexpected: {[k[:40] for k in unexpected[:3]]})")
    for k, v in expected.items():
        if state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise RunError(f"weight {k!r} has shape {tuple(state[k].shape)}, the model needs "
                           f"{tuple(v.shape)}: the weights and run.json do not belong together")
    model.load_state_dict(state)
    return model.eval()


def load_run(path: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load a run folder (or a run id under the runs root); RunError if anything is off."""
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (runs_root() / path).exists():
        path = runs_root() / path
    if not path.is_dir():
        raise RunError(f"no run at {path}; `python -m core runs` lists the saved runs")
    meta = read_meta(path)
    validate_meta(meta)
    wfile = _check_weights_file(path)
    try:
        weights = wfile.read_bytes()
    except OSError as e:
        raise RunError(f"{wfile} cannot be read ({e.strerror or e})") from None
    model = model_from_bytes(meta, weights)
    return Run(path, meta, model.to(device))


def _check_weights_file(path: Path) -> Path:
    """The run's weights file, if it is there and within the size limit (from its size alone)."""
    wfile = path / WEIGHTS
    lim = _limits()
    try:
        if not wfile.is_file():
            raise RunError(f"{path.name} has no {WEIGHTS}: the run is incomplete")
        if wfile.stat().st_size > lim.run_bytes:
            raise RunError(f"{WEIGHTS} of {path.name} is larger than {lim.run_mb:g} MB (LATENT_LAB_MAX_RUN_MB); "
                           "refusing to load it")
    except OSError as e:
        raise RunError(f"{wfile} cannot be read ({e.strerror or e})") from None
    return wfile


def list_runs(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Metadata of every run under root, newest first; a damaged one is {"error": why, "id", "path"}.

    Every listed run passed validate_meta, so callers may rely on its fields' types; one
    damaged folder never hides the others.
    """
    root = Path(root or runs_root())
    out = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name) if root.is_dir() else []
    except OSError:
        return out
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.name.startswith("."):
                continue
            p = Path(entry.path)
            meta = read_meta(p)
            validate_meta(meta)
            if not (meta.get("status") == "running" and (p / "checkpoint.pt").is_file()):
                _check_weights_file(p)  # a training in flight has only its checkpoint so far (core.checkpoints)
            meta.pop("history", None)
        except RunError as e:
            meta = {"error": str(e)}
        except OSError as e:
            meta = {"error": f"cannot be read ({e.strerror or e})"}
        meta["id"], meta["path"] = entry.name, entry.path
        out.append(meta)
    out.sort(key=lambda m: (str(m.get("created", "")), m["id"]), reverse=True)
    return out


def delete_run(path: str | Path) -> None:
    """Remove a run folder, damaged or not, as long as it holds nothing but run files (never a user's own)."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        raise RunError(f"{path} is not a run folder")
    if not ((path / META).is_file() or (path / WEIGHTS).is_file()):
        raise RunError(f"{path} is not a run (no {META} or {WEIGHTS} in it); delete it by hand if you mean to")
    foreign = _foreign_files(path)
    if foreign:
        raise RunError(f"{path.name} holds files that are not part of a run ({', '.join(foreign[:3])}); "
                       "delete it by hand if you mean to")
    shutil.rmtree(path)


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


def model_summary(meta: dict[str, Any], dataset: bool = True) -> str:
    """One line: 'CAE, latent 32, mnist5k, 10 epochs' (without the dataset for a table that shows it)."""
    try:
        title = get_spec(meta["model"]).title
    except (ConfigError, KeyError):
        title = str(meta.get("model"))
    cfg = meta.get("config", {})
    bits = [title]
    if "latent_dim" in cfg:
        bits.append(f"latent {cfg['latent_dim']}")
    if cfg.get("prior") == "vamp":
        bits.append("VampPrior")
    if dataset:
        spec = str(meta.get("dataset", "?"))
        if spec.lower().startswith(_FILE_SPECS):  # a file: its name, not the server's folders
            spec = spec.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        bits.append(spec)
    if meta.get("train", {}).get("epochs"):
        bits.append(f"{meta['train']['epochs']} epochs")
    return ", ".join(bits)
