"""Numbers and states as the pages write them: durations, progress lines, metrics, mean ± std."""
from __future__ import annotations

import math
import numbers
import re
import unicodedata
from typing import Any

import numpy as np

# Text from a file a user supplied is shown, never read as markup. Checked in headless Chromium with the
# pinned Streamlit (tests/e2e/test_server_safety_e2e.py): a backslash stops Markdown's emphasis, code, links,
# images, headings, HTML, LaTeX ($) and :red[...] directives, but GFM's bare autolinks (http://x, www.x,
# a@b.c) and Streamlit's :material/icon: and :emoji: are found in the text after escapes are resolved, so
# an invisible word joiner (U+2060) breaks each of those patterns instead.
_MARKUP = re.compile(r"([\\`*{}\[\]<>#|~$&])")
# An underscore between two letters or digits never starts or ends emphasis (CommonMark's flanking rules), so
# run ids and setting names (LATENT_LAB_JOB_MAX_MINUTES) stay as written; any other one is escaped.
_UNDERSCORES = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])")
_LINE_START = re.compile(r"^([-+=]|\d+(?=[.)]))")  # a list item or a rule, at the start of the text
_JOIN = re.compile(r"(?i)(?<=:)(?=\S)|(?<=ww)(?=w\.)|(?<=@)")
WORD_JOINER = "\u2060"


def plain(text: Any, limit: int = 300) -> str:
    """Text from a file a user supplied (a run.json, a dataset's file or class names, an error quoting them),
    safe to put in Markdown: one line of at most ``limit`` characters, shown exactly as written."""
    one_line = " ".join(str(text).split())
    # Control and format characters (bidi overrides, zero-width marks) could make text read other than it is.
    one_line = "".join(ch for ch in one_line if unicodedata.category(ch) not in ("Cc", "Cf"))
    if len(one_line) > limit:
        one_line = one_line[:limit - 1] + "…"
    out = _MARKUP.sub(r"\\\1", one_line)
    out = _UNDERSCORES.sub(lambda m: "\\_" * len(m.group()), out)
    out = _LINE_START.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1), out)
    return _JOIN.sub(WORD_JOINER, out)


def finite_metrics(metrics: Any) -> dict[str, Any]:
    """The metrics a page can format: finite numbers (and the "approximate" flag); anything else left out."""
    if not isinstance(metrics, dict):
        return {}
    out = {k: v for k, v in metrics.items() if _finite(v)}
    if metrics.get("approximate") is True:
        out["approximate"] = True
    return out


def _finite(v: Any) -> bool:
    """A real, finite number (numpy's too); not a bool, a string or NaN."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _has(m: dict[str, Any], *keys: str) -> bool:
    return all(k in m for k in keys)


def fmt_seconds(s: float | None) -> str:
    """12 -> '0:12', 3725 -> '1:02:05'; None (or anything but a finite number) -> '...'."""
    if not _finite(s):
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
    """One friendly line for a run's test metrics (only its finite numbers: a damaged value is left out)."""
    m = finite_metrics(metrics)
    n = int(m.get("n", 0))
    if "accuracy" in m:
        return f"test accuracy **{m['accuracy']:.1%}** on {n:,} images"
    if _has(m, "recon_bce", "recon_mse"):
        approx = " (approximate encoder)" if m.get("approximate") else ""
        text = f"test reconstruction BCE **{m['recon_bce']:.4f}**/pixel, MSE {m['recon_mse']:.4f}{approx} on {n:,} images"
        if _has(m, "neg_elbo", "recon_nats", "kl_nats", "iw_samples", "nll_iw"):
            text += f"; {likelihood_text(m)}"
        if _has(m, "fd", "precision", "recall", "class_coverage"):
            text += f"; {quality_text(m)}"
        return text
    return ""


def likelihood_text(m: dict[str, Any]) -> str:
    """'−ELBO **98.3** nats/image (recon 75.1 + KL 23.2), IWAE bound (k=16) 93.9'."""
    return (f"−ELBO **{m['neg_elbo']:.1f}** nats/image (recon {m['recon_nats']:.1f} + KL {m['kl_nats']:.1f}), "
            f"IWAE bound (k={int(m['iw_samples'])}) {m['nll_iw']:.1f}")


def quality_text(m: dict[str, Any]) -> str:
    """'samples: FD **35.2** (1,000 samples), precision 0.81, recall 0.77, 100% of the classes'."""
    return (f"samples: FD **{m['fd']:.1f}** ({int(m.get('fd_samples', 0)):,} samples), precision "
            f"{m['precision']:.2f}, recall {m['recall']:.2f}, {m['class_coverage']:.0%} of the classes")


def short_metric(metrics: dict[str, Any]) -> str:
    """The headline number of a run: 'accuracy 97.2%', '−ELBO 98.3 nats' or 'BCE 0.0831'."""
    m = finite_metrics(metrics)
    if "accuracy" in m:
        return f"accuracy {m['accuracy']:.1%}"
    if "neg_elbo" in m:
        return f"−ELBO {m['neg_elbo']:.1f} nats"
    if "recon_bce" in m:
        return f"BCE {m['recon_bce']:.4f}" + (" (approx.)" if m.get("approximate") else "")
    return ""


def samples_metric(metrics: dict[str, Any]) -> str:
    """A run's sample quality in a few characters: 'FD 35.2 · P 0.81 · R 0.77 · 100%'; '' if unscored."""
    m = finite_metrics(metrics)
    if not _has(m, "fd", "precision", "recall", "class_coverage"):
        return ""
    return f"FD {m['fd']:.1f} · P {m['precision']:.2f} · R {m['recall']:.2f} · {m['class_coverage']:.0%}"


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
