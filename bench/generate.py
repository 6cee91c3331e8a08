"""Server time of a Generate-page slider move: re-decode + make the grid image (+ PNG, as st.image does).

Target (issue 4): a traversal or interpolation slider move re-decodes and
redraws in <= 150 ms of server time on the CPU, for the default CAE and VAE
(default configs and training, mnist5k; trained once into runs/bench/).
Baseline in the same run: the same decode through a plain per-image Python
loop (one decode call per image), the naive way to fill a strip.

    python bench/generate.py [--repeats 20] [--models cae,vae]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

from common import ROOT, print_table  # noqa: F401  (sets sys.path)
from core import latent as L
from core.data import load_dataset
from core.engine import configure_threads
from core.jobs import train_and_save
from core.presets import default_train_config
from core.store import load_run

BENCH_DIR = ROOT / "runs" / "bench"


def bench_run(model_name: str):
    """The default model trained with its default TrainConfig on mnist5k (cached)."""
    path = BENCH_DIR / f"{model_name}-default-mnist5k"
    if not (path / "run.json").is_file():
        print(f"training the default {model_name} on mnist5k ...", file=sys.stderr)
        train_and_save(model_name, None, "mnist5k", default_train_config(model_name, preview_every=0),
                       path=path)
    return load_run(path)


def png_bytes(img: np.ndarray) -> int:
    """Encode as PNG like st.image does for numpy arrays; returns the size."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.tell()


def timed_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """Median milliseconds of fn over repeats (after 3 unmeasured calls)."""
    for _ in range(3):
        fn()
    vals = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        vals.append(1000 * (time.perf_counter() - t))
    return statistics.median(vals), vals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--models", default="cae,vae")
    a = ap.parse_args()
    configure_threads()
    ds = load_dataset("mnist5k")
    x = ds.x_test
    rows = []
    for name in a.models.split(","):
        run = bench_run(name)
        model = run.model.eval()
        codes = L.encode_split(model, x)
        mean, std = L.dim_stats(codes)
        dims = L.top_variance_dims(codes, 8)
        base = codes[0]
        x0, x1 = x[0], x[1]
        z01 = L.encode(model, torch.stack([x0, x1]))
        rng = np.random.default_rng(0)

        def traversal_move() -> None:
            # one slider moved: decode the base code with the new value, draw it
            d = int(rng.choice(dims))
            img = L.traverse(model, base, {d: float(mean[d] + rng.uniform(-3, 3) * std[d])})
            png_bytes(L.image_grid(img.unsqueeze(0), nrow=1))

        def traversal_strips() -> None:
            # the 8 sliders' strips (9 images each) redrawn as one grid
            imgs = torch.cat([L.traversal_strip(model, base, int(d), mean[d] - 3 * std[d],
                                                mean[d] + 3 * std[d], 9) for d in dims])
            png_bytes(L.image_grid(imgs, nrow=9))

        def interp_move() -> None:
            # the scrub slider moved: decode the code at t, draw it beside the ends
            t = float(rng.uniform())
            z = L.slerp(z01[0].cpu(), z01[1].cpu(), 11)[int(round(t * 10))]
            png_bytes(L.image_grid(L.decode(model, torch.stack([z01[0].cpu(), z, z01[1].cpu()])), nrow=3))

        def interp_strip() -> None:
            # steps / method changed: encode both ends, decode the 10-step strip, draw it
            png_bytes(L.image_grid(L.interpolate(model, x0, x1, 10, "slerp"), nrow=10))

        def interp_strip_naive() -> None:
            z = L.slerp(z01[0].cpu(), z01[1].cpu(), 10)
            imgs = torch.cat([L.decode(model, z[i]) for i in range(10)])
            png_bytes(L.image_grid(imgs, nrow=10))

        def manifold() -> None:
            png_bytes(L.image_grid(L.manifold_grid(model, codes, None, n=15), nrow=15))

        def samples() -> None:
            png_bytes(L.image_grid(L.sample(model, 64, 1.0, seed=int(rng.integers(1 << 30))), nrow=8))

        for label, fn, target in [
            ("traversal slider move (1 image)", traversal_move, "<= 150"),
            ("traversal strips, 8 dims x 9", traversal_strips, "(info)"),
            ("interpolation scrub (decode at t)", interp_move, "<= 150"),
            ("interpolation strip, 10 steps", interp_strip, "<= 150"),
            ("  same, naive per-image decode", interp_strip_naive, "(baseline)"),
            ("manifold grid 15 x 15", manifold, "(info)"),
            ("64 prior samples", samples, "(info)"),
        ]:
            ms, vals = timed_ms(fn, a.repeats)
            rows.append([name, label, target, ms, min(vals), max(vals)])
    print_table(f"Generate page: server ms per slider move (median of {a.repeats}; "
                f"torch {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f} "
                f"on {os.cpu_count()} CPUs)",
                ["model", "action", "target ms", "median ms", "min ms", "max ms"], rows)


if __name__ == "__main__":
    main()
