"""Numbers and states as the pages write them: durations, progress lines, metrics, mean ± std."""
from __future__ import annotations

import math
from typing import Any


def fmt_seconds(s: float | None) -> str:
    """12 -> '0:12', 3725 -> '1:02:05'; None -> '...'."""
    if s is None or not math.isfinite(s):
        return "..."
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def progress_text(snap: dict[str, Any]) -> str:
    """'Epoch 3/12 · step 190/750 · 2,950 img/s · ETA 0:19'."""
    ep = min(int(snap["epoch"]) + 1, int(snap["epochs"]))
    return (f"Epoch {ep}/{snap['epochs']} · step {snap['step']:,}/{snap['total_steps']:,} · "
            f"{snap['images_per_sec']:,.0f} img/s · ETA {fmt_seconds(snap['eta'])}")


def metrics_text(metrics: dict[str, Any]) -> str:
    """One friendly line for a run's test metrics."""
    if "accuracy" in metrics:
        return f"test accuracy **{metrics['accuracy']:.1%}** on {metrics.get('n', 0):,} images"
    if "recon_bce" in metrics:
        approx = " (approximate encoder)" if metrics.get("approximate") else ""
        return (f"test reconstruction BCE **{metrics['recon_bce']:.4f}**/pixel, "
                f"MSE {metrics['recon_mse']:.4f}{approx} on {metrics.get('n', 0):,} images")
    return ""


def short_metric(metrics: dict[str, Any]) -> str:
    """The headline number of a run: 'accuracy 97.2%' or 'BCE 0.0831'."""
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.1%}"
    if "recon_bce" in metrics:
        return f"BCE {metrics['recon_bce']:.4f}" + (" (approx.)" if metrics.get("approximate") else "")
    return ""


def mean_pm(mean: float, std: float, n: int) -> str:
    """'91.2% ± 1.3%' over several seeds; just '91.2%' for one (a spread of one value means nothing)."""
    return f"{mean:.1%} ± {std:.1%}" if n > 1 else f"{mean:.1%}"


def job_line(snap: dict[str, Any]) -> str:
    """The sidebar's line for a job: 'Training a variational autoencoder: 42% (ETA 0:31)'."""
    if snap["state"] == "queued":
        return f"{snap['title']}: waiting in the queue (number {max(1, snap['queue_position'])})"
    frac = snap.get("progress", snap.get("fraction", 0.0))
    eta = f" (ETA {fmt_seconds(snap['eta'])})" if snap.get("eta") is not None else ""
    return f"{snap['title']}: {frac:.0%}{eta}"
