"""Several trainings one after the other as one job: what-if sweeps and one-click contrasts.

A ``Member`` is one training (family, config, a label for the plot or table,
and a tag saved in its run.json so a contrast can find it again). A
``SeriesJob`` trains the members in order in one queue slot, with progress
(which member, its step) and a row per finished member (knob value, run
folder, test metrics, seconds). ``sweep_members`` makes the members of a
one-knob sweep, checking every value against the registry's limits first;
``CONTRASTS`` are the two side-by-side comparisons a teacher reaches for.
``compression_rows`` turns a latent-size sweep into the compression curve.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import Dataset
from .engine import Event, TrainConfig
from .jobs import Job, JobSlots, portable
from .models import ConfigError, get_spec, make_config
from .pipeline import default_train_config, train_and_save
from .store import list_runs, runs_root

MAX_MEMBERS = 8


@dataclass(frozen=True)
class Member:
    """One training of a series."""

    label: str
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    value: Any = None  # the swept knob's value (None in a contrast)
    tag: str | None = None  # saved in run.json as "tag" so the run can be found again


@dataclass(frozen=True)
class Contrast:
    """A one-click side-by-side comparison: the runs it needs."""

    key: str
    title: str
    blurb: str
    members: tuple[Member, ...]


CONTRASTS: dict[str, Contrast] = {c.key: c for c in (
    Contrast("ae-vs-vae", "AE vs VAE",
             "Both with a 2-D code: the AE's map has gaps and odd shapes; the VAE's KL term packs it into "
             "a smooth round cloud you can sample from.",
             (Member("CAE, latent 2", "cae", {"latent_dim": 2}, tag="contrast:ae-vs-vae:cae"),
              Member("VAE, latent 2", "vae", {"latent_dim": 2}, tag="contrast:ae-vs-vae:vae"))),
    Contrast("latent-2-vs-32", "Latent 2 vs 32",
             "The same CAE with 2 or 32 numbers per image: 2 keeps the gist (blurry digits), 32 the details.",
             (Member("CAE, latent 2", "cae", {"latent_dim": 2}, tag="contrast:latent-2-vs-32:2"),
              Member("CAE, latent 32", "cae", {"latent_dim": 32}, tag="contrast:latent-2-vs-32:32"))),
)}


def find_tagged(tag: str, dataset: str, root: str | Path | None = None) -> dict[str, Any] | None:
    """The newest finished run with this tag on this dataset (list_runs metadata), or None."""
    for m in list_runs(root):  # newest first
        if m.get("tag") == tag and m.get("dataset") == dataset and m.get("status") == "finished":
            return m
    return None


def sweepable_knobs(model: str) -> list[tuple[str, str]]:
    """(field, label) of a family's numeric knobs: what a sweep can vary."""
    return [(f, k.label) for f, k, d in get_spec(model).knobs()
            if isinstance(d, (int, float)) and not isinstance(d, bool)]


def parse_values(text: str) -> list[float]:
    """'2, 8, 32' -> [2.0, 8.0, 32.0]; ValueError with a one-line message otherwise."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if len(parts) < 2:
        raise ValueError("give at least two values, separated by commas (e.g. 2, 8, 32)")
    if len(parts) > MAX_MEMBERS:
        raise ValueError(f"at most {MAX_MEMBERS} values per sweep (each is one training)")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"values must be numbers separated by commas, got {text!r}") from None
    if len(set(vals)) != len(vals):
        raise ValueError("each value only once, please")
    return vals


def sweep_members(model: str, knob: str, values: list[float], base: dict[str, Any] | None = None) -> list[Member]:
    """One Member per value of ``knob`` (others at ``base`` or default); ConfigError for a bad value."""
    fields = dict(sweepable_knobs(model))
    if knob not in fields:
        raise ConfigError(f"{model} has no numeric knob {knob!r}; choose one of: {', '.join(fields) or 'none'}")
    default = next(d for f, _, d in get_spec(model).knobs() if f == knob)
    out = []
    for v in values:
        val: Any = int(v) if isinstance(default, int) else float(v)
        if isinstance(default, int) and float(v) != int(v):
            raise ConfigError(f"{fields[knob]} takes whole numbers, got {v:g}")
        cfg = {**(base or {}), knob: val}
        make_config(model, cfg)  # raises ConfigError with the knob's limits
        out.append(Member(f"{fields[knob]} = {val:g}", model, cfg, value=val))
    return out


def config_for(m: Member, train: dict[str, Any]) -> TrainConfig:
    """The family's defaults with the series' changes (epochs, ...)."""
    return replace(default_train_config(m.model), preview_every=0, **train)


def series_task(send: Any, stop: Any, members: list[Member], dataset: Any, train: dict[str, Any],
                root: str) -> list[dict[str, Any]]:
    """Runs in a job's worker (core.worker_tasks): each member trained in turn, a row sent as each finishes."""
    rows: list[dict[str, Any]] = []
    for i, m in enumerate(members):
        if stop.is_set():
            break
        send(("member", i), force=True)
        extra = {"tag": m.tag} if m.tag else None

        def on_event(e: Event) -> None:
            if e.kind in ("step", "start", "end") and type(e) is Event:  # progress only: no images, no map frames
                send(replace(e, preview=None), force=e.kind != "step")

        run, _, result, metrics = train_and_save(m.model, m.config, dataset, config_for(m, train),
                                                 on_event=on_event, stop=stop, root=root, extra=extra, watch=True)
        row = {"label": m.label, "value": m.value, "model": m.model, "config": dict(m.config), "run_path": str(run),
               "metrics": dict(metrics), "status": result.status, "seconds": result.seconds}
        rows.append(row)
        send(("row", row), force=True)
        if result.status != "finished":
            break
    return rows


class SeriesJob(Job):
    """Train ``members`` one after the other (one queue slot); rows of results as they finish."""

    task = "series"

    def __init__(self, members: list[Member], dataset: str | Dataset, train: dict[str, Any] | None = None,
                 title: str = "Training a series", root: str | Path | None = None,
                 slots: JobSlots | None = None, knob: str | None = None):
        if not members:
            raise ValueError("a series needs at least one training")
        super().__init__(slots)
        self.title, self.members, self.dataset, self.knob = title, list(members), dataset, knob
        self.train, self.root = dict(train or {}), root
        self.rows: list[dict[str, Any]] = []
        self._index, self._last = 0, None

    def arguments(self) -> dict[str, Any]:
        return {"members": self.members, "dataset": portable(self.dataset), "train": self.train,
                "root": str(Path(self.root or runs_root()).absolute())}

    def spares_a_core(self) -> bool:
        return self.browser_here and all(get_spec(m.model).spare_core for m in self.members)

    def apply(self, item: Any) -> None:
        if isinstance(item, tuple) and item[0] == "member":
            i = item[1]
            self._index, self._last = i, None
            self.message = f"{self.members[i].label} ({i + 1} of {len(self.members)})"
        elif isinstance(item, tuple) and item[0] == "row":
            self.rows.append(item[1])
        else:
            self._last = item

    def finish(self, rows: list[dict[str, Any]]) -> tuple[str, str]:
        done = sum(r["status"] == "finished" for r in self.rows)
        state = "finished" if done == len(self.members) else "stopped"
        return state, f"{done} of {len(self.members)} trainings done"

    def progress(self) -> dict[str, Any]:
        e, n = self._last, len(self.members)
        inner = e.progress if e is not None else 0.0
        return {"index": self._index, "n": n, "label": self.members[self._index].label,
                "step": e.step if e else 0, "total_steps": e.total_steps if e else 0,
                "fraction": min(1.0, (len(self.rows) + (inner if self.active else 0.0)) / n),
                "rows": [dict(r) for r in self.rows], "knob": self.knob}


def png_bytes(x: Any) -> float:
    """Mean size in bytes of images (N, C, H, W) in [0, 1] saved as 8-bit PNGs (what the eye sees)."""
    from PIL import Image

    arr = (np.asarray(x, np.float32).clip(0, 1) * 255 + 0.5).astype(np.uint8)
    sizes = []
    for img in arr:
        buf = io.BytesIO()
        Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(buf, format="PNG", optimize=True)
        sizes.append(buf.tell())
    return float(np.mean(sizes))


def compression_rows(rows: list[dict[str, Any]], image_png_bytes: float, raw_bytes: int) -> list[dict[str, Any]]:
    """A latent-size sweep as the compression curve: code bytes (float32) and error, against the image's bytes."""
    out = []
    for r in sorted(rows, key=lambda r: r["value"]):
        code = int(r["value"]) * 4
        out.append({"latent size": int(r["value"]), "code bytes": code, "PNG bytes": round(image_png_bytes),
                    "raw bytes": raw_bytes, "ratio vs PNG": image_png_bytes / code,
                    "test BCE": r["metrics"].get("recon_bce"), "test MSE": r["metrics"].get("recon_mse")})
    return out
