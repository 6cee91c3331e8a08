"""Projection speed and quality: core.projection vs plain umap-learn defaults, same run, same codes.

Targets (issue 4), each printed beside the baseline `umap.UMAP()` (defaults):
  - fresh Python process, first UMAP of 5,000 x 16 codes <= 15 s
  - the same in a warm process <= 2 s
  - 70,000 codes <= 90 s, with progress reported
  - PCA of 70,000 codes <= 1 s
  - the start-up warm-up slows a training that runs meanwhile by <= 10 %,
    and leaves the process warm (first UMAP fast). Measured as the training's
    step rate inside the warm-up window / outside it, in the same process, for
    the warm-up deferred while a training runs (what the app does), started
    beside the training, and none (a 6 s control window: the noise level)
  - in the app (AppTest, whole rerun): PCA -> UMAP click on 4,000 codes <= 5 s
Quality: trustworthiness (k=15, sklearn) of each layout, and the accuracy of a
10-NN classifier on the 2-D layout (5-fold), beside the baseline's.

Codes: a default-config VAE with a 16-d latent trained on mnist5k (cached in
runs/bench/); 5,000 = its train + test images; 70,000 = those plus 13 copies
shifted by up to 2 px with pixel noise, through the same encoder (no network
here for the real 70k MNIST). Cold numbers run in a fresh subprocess each,
medians over --repeats. "empty numba cache" is the very first run after an
install (NUMBA_CACHE_DIR pointed at an empty folder, for ours and baseline).

    python bench/projection.py [--repeats 3] [--quick] [--skip SECTION ...]
    sections: cold, nocache, warm, big, pca, warmup, app
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, print_table

BENCH_DIR = ROOT / "runs" / "bench"
CODES = BENCH_DIR / "codes-vae16.npz"
HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------- data


def prepare() -> Path:
    """Train (once) the 16-d VAE and write the 5k / 70k codes file; returns its path."""
    if CODES.is_file():
        return CODES
    import torch

    from core.datasets import load_dataset
    from core.pipeline import train_and_save
    from core.codes import encode_split
    from core.pipeline import default_train_config
    from core.store import load_run

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = BENCH_DIR / "vae-default-mnist5k"  # shared with bench/generate.py
    if not (run_dir / "run.json").is_file():
        print("training the bench VAE (default config: latent 16) ...", file=sys.stderr)
        train_and_save("vae", None, "mnist5k", default_train_config("vae", preview_every=0),
                       path=run_dir)
    model = load_run(run_dir).model
    ds = load_dataset("mnist5k")
    x = torch.cat([ds.x_train, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_test]).numpy()
    gen = torch.Generator().manual_seed(0)
    zs = [encode_split(model, x)]
    for _ in range(13):
        dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
        xx = torch.roll(x, (dx, dy), (2, 3))
        xx = (xx + 0.1 * torch.randn(xx.shape, generator=gen)).clamp(0, 1)
        zs.append(encode_split(model, xx))
    z = np.concatenate(zs)
    np.savez(CODES, z=z, y=np.tile(y, 14))
    return CODES


def load_codes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n codes and labels (5,000 = the real images)."""
    f = np.load(CODES)
    return f["z"][:n].astype(np.float32), f["y"][:n]


# --------------------------------------------------------------------------- workers (fresh processes)


def worker(kind: str, n: int, out: str) -> None:
    """Run one measurement in this (fresh) process; print a JSON line."""
    t0 = time.perf_counter()
    z, _ = load_codes(n)
    t_load = time.perf_counter() - t0
    events: list[tuple[float, str, float]] = []
    res: dict = {}
    t1 = time.perf_counter()
    if kind == "ours":
        from core.projection import Projector

        def progress(stage: str, frac: float) -> None:
            events.append((round(time.perf_counter() - t1, 2), stage, round(frac, 3)))

        p = Projector("umap", random_state=0).fit(z, progress=progress)
        emb, res = p.embedding_, p.info_
    elif kind == "baseline":
        import umap

        emb = umap.UMAP().fit_transform(z)
    else:
        raise SystemExit(f"unknown worker {kind}")
    seconds = time.perf_counter() - t1
    np.save(out, emb)
    # thin the progress log: first event of each stage and every ~10 % of the layout
    thin, last = [], (None, -1.0)
    for t, s, f in events:
        if s != last[0] or f - last[1] >= 0.1 or s == "done":
            thin.append((t, s, f))
            last = (s, f)
    print(json.dumps({"seconds": seconds, "load_s": t_load, "info": res, "progress": thin}))


def run_worker(kind: str, n: int, env: dict | None = None) -> tuple[float, np.ndarray, dict]:
    """Start a fresh interpreter for one measurement; (seconds, embedding, result)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "emb.npy")
        proc = subprocess.run([sys.executable, str(HERE), "--worker", kind, "--n", str(n), "--out", out],
                              capture_output=True, text=True, env={**os.environ, **(env or {})},
                              timeout=1800, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"worker {kind} failed:\n{proc.stderr[-2000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        return res["seconds"], np.load(out), res


# --------------------------------------------------------------------------- quality


def quality(z: np.ndarray, y: np.ndarray, emb: np.ndarray, sample: int = 5000) -> tuple[float, float]:
    """(trustworthiness k=15, 10-NN accuracy) of a layout, on a fixed subsample of <= sample points."""
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    if len(z) > sample:
        idx = np.random.default_rng(0).choice(len(z), sample, replace=False)
        z, y, emb = z[idx], y[idx], emb[idx]
    tw = trustworthiness(z, emb, n_neighbors=15)
    acc = cross_val_score(KNeighborsClassifier(10), emb, y, cv=5).mean()
    return float(tw), float(acc)


def med(vals: list[float]) -> float:
    return statistics.median(vals)


def fmt_all(vals: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in vals)


# --------------------------------------------------------------------------- sections


def empty_numba_cache() -> dict:
    """Environment for a worker whose numba on-disk cache is a new, empty folder."""
    return {"NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="numba-empty-")}


def bench_cold(repeats: int, rows: list, empty_cache: bool = False, label: str = "fresh process",
               base_repeats: int | None = None) -> None:
    z, y = load_codes(5000)
    env = empty_numba_cache if empty_cache else dict
    ours = [run_worker("ours", 5000, env()) for _ in range(repeats)]
    base = [run_worker("baseline", 5000, env()) for _ in range(base_repeats or repeats)]
    qo, qb = quality(z, y, ours[0][1]), quality(z, y, base[0][1])
    rows.append([f"first UMAP 5k x 16, {label}", "(info)" if empty_cache else "<= 15 s",
                 med([s for s, _, _ in ours]), med([s for s, _, _ in base]),
                 f"{qo[0]:.4f} / {qb[0]:.4f}", f"{qo[1]:.4f} / {qb[1]:.4f}",
                 f"ours {fmt_all([s for s, _, _ in ours])}; base {fmt_all([s for s, _, _ in base])}"])


def bench_warm(repeats: int, rows: list) -> None:
    import umap

    from core.projection import Projector

    z, y = load_codes(5000)
    Projector("umap").fit(z)
    umap.UMAP().fit_transform(z)  # compile the baseline's paths (pynndescent: ~40 s)
    ours, base = [], []
    for _ in range(repeats):  # alternate, so load changes hit both alike
        t = time.perf_counter()
        e_ours = Projector("umap", random_state=0).fit_transform(z)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        e_base = umap.UMAP().fit_transform(z)
        base.append(time.perf_counter() - t)
    seeded = []
    for _ in range(max(1, repeats // 2)):
        t = time.perf_counter()
        umap.UMAP(random_state=0).fit_transform(z)
        seeded.append(time.perf_counter() - t)
    qo, qb = quality(z, y, e_ours), quality(z, y, e_base)
    rows.append(["UMAP 5k x 16, warm process", "<= 2 s", med(ours), med(base),
                 f"{qo[0]:.4f} / {qb[0]:.4f}", f"{qo[1]:.4f} / {qb[1]:.4f}",
                 (f"ours {fmt_all(ours)}; base {fmt_all(base)}; base seeded "
                  f"(1 thread, reproducible) {fmt_all(seeded)}")])


def bench_big(repeats: int, rows: list, with_baseline: bool) -> None:
    z, y = load_codes(70000)
    ours = [run_worker("ours", 70000) for _ in range(repeats)]
    qo = quality(z, y, ours[0][1])
    base_s, qb, note = float("nan"), (float("nan"), float("nan")), "baseline skipped"
    if with_baseline:
        s, emb, _ = run_worker("baseline", 70000)
        base_s, qb, note = s, quality(z, y, emb), "baseline: 1 run"
    info = ours[0][2]["info"]
    rows.append(["first UMAP 70k x 16, fresh process", "<= 90 s", med([s for s, _, _ in ours]), base_s,
                 f"{qo[0]:.4f} / {qb[0]:.4f}", f"{qo[1]:.4f} / {qb[1]:.4f}",
                 (f"ours {fmt_all([s for s, _, _ in ours])}; {note}; k-NN {info['knn_s']:.1f} s, "
                  f"graph {info['graph_s']:.1f} s, layout {info['layout_s']:.1f} s "
                  f"({info['n_epochs']} epochs, {info['init']} init)")])
    print("\nprogress reported during the first 70k run (seconds since fit start, stage, fraction):")
    for t, s, f in ours[0][2]["progress"]:
        print(f"  {t:7.2f}  {s:<18} {f:.2f}")


def bench_pca(repeats: int, rows: list) -> None:
    from sklearn.decomposition import PCA

    from core.projection import Projector

    z, _ = load_codes(70000)
    ours, base = [], []
    Projector("pca").fit(z)
    for _ in range(max(5, repeats)):
        t = time.perf_counter()
        Projector("pca").fit(z)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        PCA(2).fit_transform(z)
        base.append(time.perf_counter() - t)
    rows.append(["PCA 70k x 16", "<= 1 s", med(ours), med(base), "", "",
                 "baseline: sklearn PCA(2) defaults"])


def train_worker(mode: str) -> None:
    """Train the default CAE in a thread while UMAP warms up beside it, deferred, or not at all.

    Records the time of every training step, so the step rate during a window
    (the warm-up, or 6 s for the other modes) can be compared with the rate
    outside it in the same run: the load from others drifts too much between runs.
    """
    import threading

    import torch

    from core import warmup
    from core.datasets import load_dataset
    from core.engine import TrainConfig, train
    from core.models import build_model
    from core.projection import Projector

    ds = load_dataset("mnist5k")
    torch.manual_seed(0)
    model = build_model("cae", None, ds.shape)
    stamps: list[float] = []

    def on_event(e) -> None:
        if e.kind == "step":
            stamps.append(time.perf_counter())

    th = threading.Thread(target=lambda: train(model, ds, TrainConfig(epochs=6, preview_every=50), on_event))
    th.start()
    while len(stamps) < 30:  # let training settle
        time.sleep(0.05)
    w0 = time.perf_counter()
    warm = None
    if mode == "beside":
        warmup.start_warm_up().join()
    else:
        if mode == "deferred":  # what the app does: wait while a training runs
            warm = warmup.start_warm_up(wait_while=th.is_alive, poll_s=0.5)
        time.sleep(6.0)
    w1 = time.perf_counter()
    th.join()
    t_end = time.perf_counter()
    if warm is not None:
        warm.join()
    ready_after = time.perf_counter() - t_end
    ts = np.array(stamps)
    span = ts[-1] - ts[0]
    inside = ((ts >= w0) & (ts < w1)).sum() / (w1 - w0)
    outside = ((ts < w0) | (ts >= w1)).sum() / max(1e-9, span - (w1 - w0))
    z, _ = load_codes(5000)
    t = time.perf_counter()
    Projector("umap").fit(z)
    print(json.dumps({"window_s": w1 - w0, "rate_ratio": inside / outside, "train_s": span,
                      "warm_ready_after_training_s": ready_after, "first_umap_s": time.perf_counter() - t}))


def bench_warmup(repeats: int, rows: list) -> None:
    from core.warmup import prime_disk_cache

    prime_disk_cache()  # the usual case: the disk cache was filled once, at the first start
    res: dict[str, list[dict]] = {"none": [], "beside": [], "deferred": []}
    for _ in range(repeats):
        for mode, results in res.items():  # interleaved, so drifts in the machine's load hit every mode
            proc = subprocess.run([sys.executable, str(HERE), "--train-worker", mode],
                                  capture_output=True, text=True, timeout=1800, check=False)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for mode, label in [("deferred", "deferred while training (what the app does)"),
                        ("beside", "beside the training (short GIL slices)"),
                        ("none", "no warm-up (6 s control window)")]:
        r = res[mode]
        ratio = med([x["rate_ratio"] for x in r])
        window = med([x["window_s"] for x in r])
        train_s = med([x["train_s"] for x in r])
        # Extra time for the whole training: the steps lost in the window, at the pace outside it.
        extra = (1 - ratio) * window / train_s
        ready = ("; warm " + fmt_all([x["warm_ready_after_training_s"] for x in r]) + " s after training ended"
                 if mode == "deferred" else "")
        rows.append([f"training step rate, UMAP warm-up {label}", "<= 10 % slower" if mode == "deferred" else "",
                     window, "", "", "",
                     (f"rate in window / outside: {fmt_all([x['rate_ratio'] for x in r])} (median {ratio:.2f}); "
                      f"=> {100 * extra:+.1f} % on a {train_s:.0f} s training; "
                      f"windows {fmt_all([x['window_s'] for x in r])}{ready}")])
    rows.append(["first UMAP 5k after the training (deferred warm-up vs none)", "(warm)",
                 med([x["first_umap_s"] for x in res["deferred"]]), med([x["first_umap_s"] for x in res["none"]]),
                 "", "", "baseline column: the same process without warm-up (cold in-process)"])


def app_worker() -> None:
    """In a fresh 'server': warm up as app start-up does, open Latent space on mnist5k, click UMAP."""
    from core.warmup import start_warm_up
    from tests.app.conftest import open_page

    run_dir = BENCH_DIR / "cae-default-mnist5k"  # bench/generate.py trains it
    t = time.perf_counter()
    start_warm_up().join()  # the server started >= 60 s before the click
    warm_s = time.perf_counter() - t
    t = time.perf_counter()
    at = open_page("pages/latent_space.py", run_path=run_dir, dataset="mnist5k", timeout=300)
    at.radio(key="keep_ls_split").set_value("train").run()  # 4,000 images (PCA)
    open_s = time.perf_counter() - t
    t = time.perf_counter()
    at.radio(key="keep_ls_method").set_value("umap").run()
    click_s = time.perf_counter() - t
    assert not at.exception, at.exception
    shown = [c.value for c in at.caption if "UMAP in" in c.value]
    print(json.dumps({"warm_up_s": warm_s, "open_s": open_s, "umap_click_s": click_s, "caption": shown[0]}))


def bench_app(repeats: int, rows: list) -> None:
    if not (BENCH_DIR / "cae-default-mnist5k" / "run.json").is_file():
        subprocess.run([sys.executable, str(HERE.parent / "generate.py"), "--repeats", "1", "--models", "cae"],
                       check=True, capture_output=True)
    res = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, str(HERE), "--app-worker"], capture_output=True, text=True,
                              timeout=1800, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        res.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rows.append(["app: click PCA -> UMAP, 4,000 mnist5k codes (whole rerun, AppTest)", "<= 5 s",
                 med([r["umap_click_s"] for r in res]), "", "", "",
                 (f"all {fmt_all([r['umap_click_s'] for r in res])}; after a start-up warm-up of "
                  f"{fmt_all([r['warm_up_s'] for r in res])} s; page: {res[0]['caption'][:40]}")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 repeat and no 70k baseline")
    ap.add_argument("--skip", nargs="*", default=[], help="sections to skip")
    ap.add_argument("--worker")
    ap.add_argument("--train-worker")
    ap.add_argument("--app-worker", action="store_true")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.n, a.out)
    if a.train_worker:
        return train_worker(a.train_worker)
    if a.app_worker:
        return app_worker()
    prepare()
    reps = 1 if a.quick else a.repeats
    rows: list = []
    t = time.perf_counter()
    header = ["measure", "target", "ours (s, median)", "baseline (s, median)", "trust ours / base",
              "10-NN acc ours / base", "notes (all runs, s)"]
    sections = {
        "cold": lambda: bench_cold(reps, rows, base_repeats=max(1, min(reps, 2))),
        "nocache": lambda: bench_cold(1, rows, True, "fresh process, empty numba cache"),
        "warm": lambda: bench_warm(reps, rows),
        "big": lambda: bench_big(1, rows, with_baseline=not a.quick),
        "pca": lambda: bench_pca(reps, rows),
        "warmup": lambda: bench_warmup(reps, rows),
        "app": lambda: bench_app(reps, rows),
    }
    for name, fn in sections.items():
        if name in a.skip:
            continue
        s = time.perf_counter()
        fn()
        print(f"[{name} done in {time.perf_counter() - s:.0f} s]", file=sys.stderr, flush=True)
    print_table(f"Projection (load average at the end: {os.getloadavg()[0]:.1f} on "
                f"{os.cpu_count()} CPUs; bench took {time.perf_counter() - t:.0f} s)", header, rows)


if __name__ == "__main__":
    main()
