"""The run store: a trained model on disk, with everything needed to rebuild it.

A run is a folder ``<root>/<run id>/`` holding ``model.safetensors`` (weights
only: safetensors cannot carry code) and ``run.json`` (model name, config,
data shape, dataset spec, training config, metrics, history, timings,
versions). Loading rebuilds the model through the registry, like nanoGPT's
``GPT(GPTConfig(**model_args))``, and checks every tensor against it. A run is
written into a temporary sibling folder and renamed into place, so a crash
never leaves half a run.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .models import ConfigError, RegistryModel, build_model, get_spec

FORMAT = 1
WEIGHTS, META = "model.safetensors", "run.json"
MAX_RUN_BYTES = 512 * 1024 * 1024  # refuse run files larger than this
_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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
    import platform

    import safetensors
    return {"torch": torch.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version(), "latent_lab": "0.1"}


def _weights_bytes(model: RegistryModel) -> bytes:
    """State dict as safetensors bytes (contiguous CPU copies; shared storage cloned)."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return st_save(state)


def save_run(model: RegistryModel, *, dataset: str, train_config: dict[str, Any] | None = None,
             result: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
             extra: dict[str, Any] | None = None, path: str | Path | None = None,
             root: str | Path | None = None) -> Path:
    """Write ``model`` and its metadata as a run folder atomically; returns the folder."""
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
                    "images_per_sec": result.pop("images_per_sec", None)},
        "result": result,
        "metrics": dict(metrics or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
    }
    meta.update(extra or {})
    if path is None:
        path = Path(root or runs_root()) / new_run_id(model.name, dataset)
    path = Path(path)
    return _write_atomic(path, _weights_bytes(model), json.dumps(meta, indent=1, default=str))


def update_meta(path: str | Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into a run's run.json (atomically); returns the new metadata."""
    path = Path(path)
    meta = read_meta(path)
    meta.update(changes)
    atomic_file(path / META, json.dumps(meta, indent=1, default=str).encode())
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


def _write_atomic(path: Path, weights: bytes, meta_json: str) -> Path:
    """Build the run in a hidden sibling folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        (tmp / WEIGHTS).write_bytes(weights)
        (tmp / META).write_text(meta_json)
        if path.exists():  # replacing: move the old one aside first, drop it after
            old = path.with_name(f".{path.name}.old-{os.urandom(3).hex()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_meta(path: Path) -> dict[str, Any]:
    f = path / META
    if not f.is_file():
        raise RunError(f"{path} is not a saved run (no {META} in it)")
    try:
        meta = json.loads(f.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{f} is damaged (not valid JSON: {e}); the run cannot be loaded") from None
    if not isinstance(meta, dict):
        raise RunError(f"{f} is damaged (expected a JSON object)")
    return meta


def _check_meta(meta: dict[str, Any]) -> None:
    need = {"model": str, "config": dict, "shape": list, "n_classes": int, "dataset": str}
    for k, t in need.items():
        if not isinstance(meta.get(k), t):
            raise RunError(f"run.json has no valid {k!r} field; the run file is damaged or not a Latent Lab run")
    if meta.get("format", FORMAT) > FORMAT:
        raise RunError("this run was saved by a newer Latent Lab; update to load it")
    shape = meta["shape"]
    if len(shape) != 3 or not all(isinstance(s, int) and 1 <= s <= 4096 for s in shape):
        raise RunError(f"run.json has an invalid image shape {shape!r}")


def model_from_bytes(meta: dict[str, Any], weights: bytes) -> RegistryModel:
    """Rebuild a model from run metadata and safetensors bytes, checking every tensor."""
    _check_meta(meta)
    try:
        model = build_model(meta["model"], meta["config"], tuple(meta["shape"]), meta["n_classes"])
    except (ConfigError, ValueError, TypeError) as e:
        raise RunError(f"run.json describes a model that cannot be built: {e}") from None
    try:
        state = st_load(weights)
    except (SafetensorError, ValueError, OSError, RuntimeError) as e:
        raise RunError(f"the weights file is damaged or not a safetensors file ({e}); "
                       "it was not loaded") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise RunError(f"the weights do not match a {meta['model']} model "
                       f"(missing: {missing[:3]}, unexpected: {unexpected[:3]})")
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
    wfile = path / WEIGHTS
    if not wfile.is_file():
        raise RunError(f"{path} has no {WEIGHTS}: the run is incomplete")
    if wfile.stat().st_size > MAX_RUN_BYTES:
        raise RunError(f"{wfile} is larger than {MAX_RUN_BYTES >> 20} MB; refusing to load it")
    model = model_from_bytes(meta, wfile.read_bytes())
    return Run(path, meta, model.to(device))


def list_runs(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Metadata of every readable run under root, newest first (damaged ones are flagged)."""
    root = Path(root or runs_root())
    out = []
    if not root.is_dir():
        return out
    for p in root.iterdir():
        if not p.is_dir() or p.name.startswith("."):
            continue
        try:
            meta = read_meta(p)
            meta.pop("history", None)
        except RunError as e:
            meta = {"error": str(e)}
        meta["id"], meta["path"] = p.name, str(p)
        out.append(meta)
    out.sort(key=lambda m: (m.get("created", ""), m["id"]), reverse=True)
    return out


def delete_run(path: str | Path) -> None:
    """Remove a run folder (only if it really is a run)."""
    path = Path(path)
    read_meta(path)
    shutil.rmtree(path)


def export_run(path: str | Path) -> bytes:
    """A run as one zip file (run.json + model.safetensors), for download."""
    path = Path(path)
    read_meta(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path / META, META)
        z.write(path / WEIGHTS, WEIGHTS)
    return buf.getvalue()


def import_run(data: bytes, root: str | Path | None = None, name: str | None = None) -> Path:
    """Validate an uploaded run zip, rebuild its model to prove it loads, then save it."""
    if len(data) > MAX_RUN_BYTES:
        raise RunError(f"the file is larger than {MAX_RUN_BYTES >> 20} MB")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = set(z.namelist())
        if names != {META, WEIGHTS}:
            raise RunError(f"a run file is a zip holding exactly {META} and {WEIGHTS}; "
                           f"this one holds {sorted(names)[:5]}")
        total = sum(i.file_size for i in z.infolist())
        if total > MAX_RUN_BYTES:
            raise RunError("the run file unpacks to more than "
                           f"{MAX_RUN_BYTES >> 20} MB; refusing it")
        meta_raw, weights = z.read(META), z.read(WEIGHTS)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
        raise RunError(f"not a Latent Lab run file (a .zip downloaded from the Runs page): {e}") from None
    try:
        meta = json.loads(meta_raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RunError(f"{META} in the upload is not valid JSON") from None
    if not isinstance(meta, dict):
        raise RunError(f"{META} in the upload is not a JSON object")
    model_from_bytes(meta, weights)  # raises RunError on any mismatch
    base = name or meta.get("id") or new_run_id(meta["model"], meta["dataset"])
    base = base if _ID_OK.match(str(base)) else new_run_id(meta["model"], meta["dataset"])
    root = Path(root or runs_root())
    target = root / base
    if target.exists():
        target = root / f"{base}-{os.urandom(2).hex()}"
    return _write_atomic(target, weights, json.dumps(meta, indent=1))


def model_summary(meta: dict[str, Any]) -> str:
    """One line: 'CAE, latent 32, mnist5k, 10 epochs'."""
    try:
        title = get_spec(meta["model"]).title
    except (ConfigError, KeyError):
        title = str(meta.get("model"))
    cfg = meta.get("config", {})
    bits = [title]
    if "latent_dim" in cfg:
        bits.append(f"latent {cfg['latent_dim']}")
    bits.append(str(meta.get("dataset", "?")))
    if meta.get("train", {}).get("epochs"):
        bits.append(f"{meta['train']['epochs']} epochs")
    return ", ".join(bits)
