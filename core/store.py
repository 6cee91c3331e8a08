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
directory and each member's declared size (core.run_share), run.json's size,
depth and numbers, every field's type and range (core.run_schema, a JSON
Schema), and the model's size (the registry's knob limits and a parameter count on the meta
device). An imported run's ``dataset`` is kept as a description of what it was
trained on; :func:`followable_dataset` refuses to treat it as a path.
A damaged run folder is listed with the reason (it never hides the others)
and can be deleted, as long as it holds nothing but run files.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .limits import LimitError, Limits, load_json
from .models import ConfigError, RegistryModel, build_model, get_spec
from .run_schema import FORMAT, META, RunError, _limits, validate_meta

WEIGHTS = "model.safetensors"
MAX_RUN_BYTES = Limits.run_mb * 1024 * 1024  # the default; the limit in force is limits().run_bytes
_ID_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # always fullmatch: "$" would let "id\n" through
# What a run folder may hold besides run.json and the weights: the codes cache and our temp files.
_RUN_EXTRAS = ("latent-cache",)
_FILE_SPECS = ("npz:", "zip:", "folder:")


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
                    "threads": result.pop("threads", None),
                    "loop_started_at": result.pop("started_at", None)},
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


_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _disk_full(e: OSError) -> RunError:
    return RunError("the server's disk is full, so the run was not saved (every saved run is unchanged): "
                    "ask the server's owner to make room")


def _write_atomic(path: Path, weights: bytes, meta_json: str, replace: bool = False) -> Path:
    """Build the run in a hidden sibling folder, then rename it into place (a full disk: RunError, nothing left)."""
    check_out_path(path, replace=replace)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    except OSError as e:
        if e.errno in _DISK_FULL:
            raise _disk_full(e) from None
        raise
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
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in _DISK_FULL:
            raise _disk_full(e) from None
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
