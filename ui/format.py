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


# One line each, shown next to the numbers (Train's result, Runs' table).
LIKELIHOOD_NOTE = ("−ELBO: reconstruction (Bernoulli log-loss summed over the pixels) + KL, in nats per test "
                   "image, as pytorch/examples' VAE logs it; the IWAE bound with k samples is a tighter "
                   "estimate of −log p(x). Lower is better for both.")
QUALITY_NOTE = ("Samples: FD = Fréchet distance to the training images in the features of a small classifier "
                "trained here on the same data (lower is better; compare only at the same sample count); "
                "precision = share of samples that look like real images, recall = share of the real "
                "variety they reach; classes = how many digits (classes) the samples cover.")


def metrics_text(metrics: dict[str, Any]) -> str:
    """One friendly line for a run's test metrics."""
    if "accuracy" in metrics:
        return f"test accuracy **{metrics['accuracy']:.1%}** on {metrics.get('n', 0):,} images"
    if "recon_bce" in metrics:
        approx = " (approximate encoder)" if metrics.get("approximate") else ""
        text = (f"test reconstruction BCE **{metrics['recon_bce']:.4f}**/pixel, "
                f"MSE {metrics['recon_mse']:.4f}{approx} on {metrics.get('n', 0):,} images")
        if "neg_elbo" in metrics:
            text += f"; {likelihood_text(metrics)}"
        if "fd" in metrics:
            text += f"; {quality_text(metrics)}"
        return text
    return ""


def likelihood_text(m: dict[str, Any]) -> str:
    """'−ELBO **98.3** nats/image (recon 75.1 + KL 23.2), IWAE bound (k=16) 93.9'."""
    return (f"−ELBO **{m['neg_elbo']:.1f}** nats/image (recon {m['recon_nats']:.1f} + KL {m['kl_nats']:.1f}), "
            f"IWAE bound (k={m['iw_samples']}) {m['nll_iw']:.1f}")


def quality_text(m: dict[str, Any]) -> str:
    """'samples: FD **35.2** (1,000 samples), precision 0.81, recall 0.77, 100% of the classes'."""
    return (f"samples: FD **{m['fd']:.1f}** ({m.get('fd_samples', 0):,} samples), precision "
            f"{m['precision']:.2f}, recall {m['recall']:.2f}, {m['class_coverage']:.0%} of the classes")


def short_metric(metrics: dict[str, Any]) -> str:
    """The headline number of a run: 'accuracy 97.2%', '−ELBO 98.3 nats' or 'BCE 0.0831'."""
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.1%}"
    if "neg_elbo" in metrics:
        return f"−ELBO {metrics['neg_elbo']:.1f} nats"
    if "recon_bce" in metrics:
        return f"BCE {metrics['recon_bce']:.4f}" + (" (approx.)" if metrics.get("approximate") else "")
    return ""


def samples_metric(metrics: dict[str, Any]) -> str:
    """A run's sample quality in a few characters: 'FD 35.2 · P 0.81 · R 0.77 · 100%'; '' if unscored."""
    if "fd" not in metrics:
        return ""
    return (f"FD {metrics['fd']:.1f} · P {metrics['precision']:.2f} · R {metrics['recall']:.2f} · "
            f"{metrics['class_coverage']:.0%}")


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
