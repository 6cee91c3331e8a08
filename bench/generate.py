"""Server time of a Generate-page slider move: re-decode + make the grid image (+ PNG, as st.image does).

Target (issue 4): a traversal or interpolation slider move re-decodes and
redraws in <= 150 ms of server time on the CPU, for the default CAE and VAE
(default configs and training, mnist5k; trained once into runs/bench/).
Each measured action does what pages/generate.py does on that rerun (load
the cached test codes, decode, draw with ui.images.grid_image, PNG-encode).
Baseline in the same run: the naive strip (re-encode, decode every step on its
own, one picture per step).

    python bench/generate.py [--repeats 20] [--models cae,vae]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from common import ROOT, print_table

from core import latent as L
from core.codes import cached_codes
from core.datasets import load_dataset
from core.device import configure_threads, torch_threads
from core.pipeline import train_and_save
from core.pipeline import default_train_config
from core.store import load_run
from ui.images import grid_image, upscale_for

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


def actions(run, x: torch.Tensor) -> list[tuple[str, Callable[[], None], str]]:
    """The Generate page's work per slider move for one run, as (label, fn, target ms).

    Each action does what pages/generate.py does on that rerun: load the test
    codes (disk cache in the run folder), decode, draw with ui.images.grid_image
    at the page's scale, and PNG-encode every picture as st.image does.
    """
    model = run.model.eval()
    scale = upscale_for(x.shape[-1])
    codes = cached_codes(run.path, model, x, "test")[0]  # fills the cache once
    mean, std = L.dim_stats(codes)
    dims = L.top_variance_dims(codes, 6)
    rng = np.random.default_rng(0)

    def page_codes() -> np.ndarray:
        return cached_codes(run.path, model, x, "test")[0]

    def traversal_move() -> None:
        # one of the 6 sliders moved: decode the image's code with the sliders' values
        c = page_codes()
        values = {int(d): float(c[0, d]) for d in dims}
        d = int(rng.choice(dims))
        values[d] = float(mean[d] + rng.uniform(-3, 3) * std[d])
        png_bytes(grid_image(torch.stack([x[0], L.traverse(model, c[0], values)]), nrow=2, scale=3 * scale))

    def interp_move() -> None:
        # steps / path / images changed (the page caches the strip, so a scrub alone costs less):
        # encode A and B, decode the 8 steps, draw strip + step
        page_codes()
        strip = L.interpolate(model, x[0], x[1], 8, "slerp")
        png_bytes(grid_image(torch.cat([x[0][None], strip, x[1][None]]), nrow=10, scale=scale))
        t = int(rng.integers(8))
        png_bytes(grid_image(strip[t:t + 1], nrow=1, scale=4 * scale))

    def interp_naive() -> None:
        # the naive page: re-encode, decode each step alone, one st.image per step
        z = L.encode(model, torch.stack([x[0], x[1]])).cpu()
        for zi in L.slerp(z[0], z[1], 8):
            png_bytes(grid_image(L.decode(model, zi), nrow=1, scale=scale))

    def manifold() -> None:
        png_bytes(grid_image(L.manifold_grid(model, page_codes(), None, n=15), nrow=15, padding=0, scale=scale))

    def samples() -> None:
        page_codes()
        png_bytes(grid_image(L.sample(model, 36, 1.0, seed=int(rng.integers(1 << 30))), nrow=6, scale=scale))

    def arithmetic() -> None:
        c = page_codes()
        means = L.class_means(c, run_labels, 10)
        z = L.encode(model, x[0])[0].cpu()
        outs = L.decode(model, torch.stack([L.arithmetic_code(z, int(run_labels[0]), b, means) for b in range(10)]))
        png_bytes(grid_image(torch.cat([x[0][None], outs]), nrow=11, scale=scale))

    run_labels = load_dataset("mnist5k").y_test.numpy()
    return [
        ("traversal slider move", traversal_move, "<= 150"),
        ("interpolation slider move (8 steps)", interp_move, "<= 150"),
        ("  baseline: naive per-step decode + image", interp_naive, "(baseline)"),
        ("manifold grid 15 x 15", manifold, "(info)"),
        ("36 prior samples", samples, "(info)"),
        ("arithmetic, 10 classes", arithmetic, "(info)"),
    ]


def page_rerun_ms(run_path, repeats: int) -> list[list]:
    """Whole-script reruns of the Generate page (app.py + page) via AppTest, per slider move."""
    from tests.app.conftest import open_page

    at = open_page("pages/generate.py", run_path=run_path, dataset="mnist5k", timeout=120)

    def mover(key: str, values: list[float]) -> Callable[[], None]:
        count = iter(range(1 << 30))

        def move() -> None:
            at.slider(key=key).set_value(values[next(count) % len(values)]).run()
            assert not at.exception, at.exception
        return move

    rows = [["page", "whole rerun (app.py + page), interpolation scrub", "(info)",
             *summary(timed_ms(mover("gen_scrub", [2, 5, 3, 7, 1]), repeats))]]
    at.segmented_control(key="keep_gen_tool").set_value("Traverse").run()
    s = next(s for s in at.slider if s.key and s.key.startswith("gen_tr_"))
    values = [s.min + (s.max - s.min) * f for f in (0.1, 0.9, 0.3, 0.7, 0.5)]
    rows.append(["page", "whole rerun (app.py + page), traversal slider", "(info)",
                 *summary(timed_ms(mover(s.key, values), repeats))])
    return rows


def summary(res: tuple[float, list[float]]) -> list[float]:
    """[median, min, max] of a timed_ms result."""
    return [res[0], min(res[1]), max(res[1])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--models", default="cae,vae")
    ap.add_argument("--page-threads", type=int, default=1,
                    help="torch threads for the page's decodes (the page uses 1; try 2 to compare)")
    a = ap.parse_args()
    configure_threads()
    ds = load_dataset("mnist5k")
    x = ds.x_test
    rows = []
    for name in a.models.split(","):
        run = bench_run(name)
        for label, fn, target in actions(run, x):
            with torch_threads(a.page_threads):  # as pages/generate.py does
                ms, vals = timed_ms(fn, a.repeats)
            rows.append([name, label, target, ms, min(vals), max(vals)])
        if name == "cae":
            rows += [[name, *r[1:]] for r in page_rerun_ms(run.path, max(5, a.repeats // 2))]
    print_table(f"Generate page: server ms per slider move (median of {a.repeats}; "
                f"page decodes on {a.page_threads} torch thread(s); load average {os.getloadavg()[0]:.1f} "
                f"on {os.cpu_count()} CPUs)",
                ["model", "action", "target ms", "median ms", "min ms", "max ms"], rows)


if __name__ == "__main__":
    main()
