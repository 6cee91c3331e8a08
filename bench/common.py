"""Small helpers shared by the benchmarks: timing medians and a plain table."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# Bench model names beyond the registry's families: name -> (family, config changes, training changes).
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "vae-normal": ("vae", {"prior": "normal"}, {}),
    "vae-noshift": ("vae", {"shift": 0}, {}),
    "vae-v1": ("vae", {"widths": (32, 64), "prior": "normal", "shift": 0, "activation": "leaky_relu"},
               {"epochs": 20, "lr": 3e-3}),
    "vae-mlp": ("vae", {"arch": "mlp", "fc": 0}, {}),
    # The default CAE before issue 23 (12 epochs at lr 2e-3), and the first preset's (5 epochs).
    "cae-v1": ("cae", {}, {"epochs": 12, "lr": 2e-3}),
    "cae-preset": ("cae", {}, {"epochs": 5}),
    # The default GAN before depth, averaging and the 2x discriminator step (stop 19's).
    "gan-v1": ("gan", {"depth": 1, "ema": 0.0, "d_lr": 1.0}, {}),
    # Width 24 (issue 23's screen, not kept: FD no worse but 0.84x the time a step; oneDNN blocks channels by 16).
    "gan-w24": ("gan", {"width": 24}, {}),
    # Issue 23's screens of 2026-12-07 16:00 (not kept; numbers in the README): a VampPrior of 16
    # pseudo-images, 32 epochs (and at lr 7e-3), and a GAN of 15 epochs with a cosine schedule.
    "vae-k16": ("vae", {"components": 16}, {}),
    "vae-e32": ("vae", {}, {"epochs": 32}),
    "vae-e32-lr7": ("vae", {}, {"epochs": 32, "lr": 7e-3}),
    "gan-e15-cos": ("gan", {}, {"epochs": 15, "lr_schedule": "cosine"}),
    # Issue 23: the Home page's GAN preset (12 epochs), and 14 (screened, not kept).
    "gan-preset": ("gan", {}, {"epochs": 12}),
    "gan-e14": ("gan", {}, {"epochs": 14}),
    # Issue 23 (2026-12-08): the sequence AE row by row (the default before two rows a step), four rows a
    # step, and row by row at twice the batch and a higher rate (screened, not kept).
    "seqae-k1": ("seqae", {"rows_per_step": 1}, {}),
    "seqae-k4": ("seqae", {"rows_per_step": 4}, {}),
    "seqae-k1-b128": ("seqae", {"rows_per_step": 1}, {"batch_size": 128, "lr": 1.4e-2}),
}


def variant(name: str) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """(family, config changes or None, training changes) for a bench model name (a family or a VARIANTS key)."""
    return VARIANTS.get(name, (name, None, {}))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median_of(fn: Callable[[], float], repeats: int) -> tuple[float, list[float]]:
    """Median and all values of ``repeats`` calls of fn (which returns a number)."""
    vals = [fn() for _ in range(repeats)]
    return statistics.median(vals), vals


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Print a fixed-width table with a title line."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def report_ratio(title: str, base_label: str, base: list[float], label: str, vals: list[float],
                 target: float, unit: str = "img/s") -> float:
    """Table of two medians (baseline first) and their ratio, then a PASS/FAIL line for ``target``."""
    mb, mv = statistics.median(base), statistics.median(vals)
    print_table(title, ["path", f"{unit} (median)", "all rounds", "ratio vs baseline"],
                [[base_label, mb, " ".join(f"{v:.0f}" for v in base), 1.0],
                 [label, mv, " ".join(f"{v:.0f}" for v in vals), mv / mb]])
    ok = mv / mb >= target
    print(f"\ntarget: {label} >= {target} x {base_label} -> {'PASS' if ok else 'FAIL'} ({mv / mb:.3f})")
    return mv / mb
