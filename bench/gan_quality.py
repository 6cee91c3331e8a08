"""Sample quality of the default GAN on one scale with the other models, and the GAN encoder's speed.

Table 1 (issue 13, item 2). 1,000 samples per model scored by core.quality in
the feature space of a small classifier trained on mnist5k's 4,000 training
images (FD against those images' features; precision/recall against 1,000 of
them; class coverage by the classifier's predictions). Reference rows in the
same run: held-out real images (mnist5k's 1,000 test images: the floor) and
uniform noise (the ceiling). Each model is its default preset, trained the way
the Train page trains it (the GAN with its live quality curve on, every 100
steps), median over seeds. Target: the default GAN covers every class
(class_coverage 1.0 in every seed), scores a lower median FD than the default
VAE's samples, and trains in <= 90 s.

Table 2 (item 3). Encoding the 1,000 test images of the GAN (what the Latent
space page waits for: codes and per-image errors, then PCA): the encoder
network alone and with a few refinement steps; with --legacy also today's
GAN before this change (width 64, lr 2e-4, 20 epochs, no encoder network:
200 optimisation steps per batch), trained here. Target: <= 5 s, with
reconstruction BCE/pixel no worse than the legacy GAN's.

"gan-v1" is the previous default GAN (one convolution per scale, no averaging, one learning
rate), for a baseline in the same run.

"vae-normal" is the default VAE with the classic N(0, I) prior instead of its VampPrior
(reported beside it: the VampPrior's samples come from pseudo-images that started as
training images, and score far lower FDs).

    python bench/gan_quality.py [--seeds 3] [--models gan,vae,vae-normal,gan-v1,cae] [--legacy]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from common import print_table, variant
from core.codes import encode_split
from core.datasets import load_dataset
from core.device import configure_threads
from core.pipeline import default_train_config, train_and_save
from core.projection import Projector
from core.quality import SCORE_SAMPLES, SampleScorer

QUALITY_EVERY = 100  # as pages/train.py
LEGACY = ({"width": 64, "encoder": "optimise", "refine_steps": 200, "refine_lr": 0.05,
           "depth": 1, "ema": 0.0, "d_lr": 1.0},
          {"epochs": 20, "batch_size": 64, "lr": 2e-4})


def encode_row(label: str, model, x: torch.Tensor, refine: int | None = None) -> list:
    """Seconds to encode x with per-image errors and project with PCA, and the mean BCE/pixel."""
    if refine is not None:
        model.config.refine_steps = refine
    t = time.perf_counter()
    codes, errors = encode_split(model, x, with_errors=True)
    Projector("pca").fit(codes)
    return [label, time.perf_counter() - t, float(errors.mean())]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--models", default="gan,vae,vae-normal,gan-v1,cae")
    p.add_argument("--legacy", action="store_true", help="also train and encode with the pre-issue-13 GAN")
    p.add_argument("--root", default="/tmp/latent-lab-bench-runs")
    a = p.parse_args()
    threads = configure_threads()
    ds = load_dataset("mnist5k")
    t = time.perf_counter()
    scorer = SampleScorer(ds)
    net_s = time.perf_counter() - t
    rows, per_model, gans = [], {}, []
    floor = scorer.score_images(ds.x_test)
    rows.append(["held-out real images (floor)", floor["fd"], floor["precision"], floor["recall"],
                 floor["class_coverage"], "-", "-"])
    for name in a.models.split(","):
        scores, secs = [], []
        for seed in range(a.seeds):
            family, changes, train_changes = variant(name)
            cfg = default_train_config(family, seed=seed, **train_changes)
            _, model, res, met = train_and_save(family, changes, ds, cfg, root=a.root, on_event=lambda e: None,
                                                quality_every=QUALITY_EVERY if family == "gan" else 0)
            scores.append(met)
            secs.append(res.seconds)
            if name == "gan":
                gans.append(model)
        med = {k: statistics.median(s[k] for s in scores) for k in ("fd", "precision", "recall", "class_coverage")}
        per_model[name] = {**med, "seconds": statistics.median(secs),
                           "min_coverage": min(s["class_coverage"] for s in scores)}
        rows.append([f"default {name} samples", med["fd"], med["precision"], med["recall"], med["class_coverage"],
                     statistics.median(secs), " ".join(f"{s['fd']:.1f}" for s in scores)])
    noise = scorer.score_images(torch.rand(SCORE_SAMPLES, *ds.shape, generator=torch.Generator().manual_seed(0)))
    rows.append(["uniform noise (ceiling)", noise["fd"], noise["precision"], noise["recall"],
                 noise["class_coverage"], "-", "-"])
    load = os.getloadavg()[0]
    print_table(f"sample quality on mnist5k: {SCORE_SAMPLES:,} samples vs the 4,000 training images, in the "
                f"features of a classifier trained here ({scorer.space.accuracy:.1%} test accuracy, "
                f"{net_s:.1f} s to train or load); {threads} CPU threads, load average {load:.1f}, "
                f"median of {a.seeds} seed(s)",
                ["samples", "FD", "precision", "recall", "class coverage", "train s", "FD per seed"], rows)
    gan, vae = per_model.get("gan"), per_model.get("vae")
    if gan and vae:
        ok = gan["min_coverage"] == 1.0 and gan["fd"] < vae["fd"] and gan["seconds"] <= 90
        print(f"\ntarget: default gan covers all classes, FD < default vae's, <= 90 s -> {'PASS' if ok else 'FAIL'} "
              f"(coverage {gan['min_coverage']:.0%} in the worst seed, FD {gan['fd']:.1f} vs {vae['fd']:.1f}, "
              f"{gan['seconds']:.1f} s)")
    normal = per_model.get("vae-normal")
    if gan and normal:
        print(f"reported: gan FD {gan['fd']:.1f} vs the N(0, I) VAE's {normal['fd']:.1f} -> "
              f"{'gan lower' if gan['fd'] < normal['fd'] else 'gan not lower'}")
    v1 = per_model.get("gan-v1")
    if gan and v1:
        print(f"reported: gan vs the previous default (gan-v1): FD {gan['fd']:.1f} vs {v1['fd']:.1f} "
              f"(x{gan['fd'] / v1['fd']:.2f}), {gan['seconds']:.1f} s vs {v1['seconds']:.1f} s "
              f"(x{gan['seconds'] / v1['seconds']:.2f})")

    if not gans:
        return
    x = ds.x_test
    model = gans[0]
    enc = [encode_row("gan: encoder network", model, x, 0),
           encode_row("gan: encoder + 10 refinement steps", model, x, 10)]
    model.config.refine_steps = 0
    if len(gans) > 1:  # the codes' error moves with each seed's generator: its median over them too
        per_seed = [encode_row("", m, x, 0)[2] for m in gans]
        enc.append([f"gan: encoder network, median of {len(gans)} seeds ("
                    + " / ".join(f"{b:.4f}" for b in per_seed) + ")", "-", statistics.median(per_seed)])
    if a.legacy:
        torch.manual_seed(0)
        cfg = default_train_config("gan", seed=0, **LEGACY[1])
        _, old, res, _ = train_and_save("gan", LEGACY[0], ds, cfg, root=a.root)
        enc.append(encode_row(f"legacy gan (trained {res.seconds:.0f} s): 200 optimisation steps", old, x))
    print_table(f"GAN codes for the {len(x):,} mnist5k test images (encode + per-image error + PCA), "
                f"load average {os.getloadavg()[0]:.1f}", ["encoder", "seconds", "recon BCE/pixel"], enc)
    ok = enc[0][1] <= 5 and (not a.legacy or enc[0][2] <= enc[-1][2])  # the legacy row is last
    print("\ntarget: encoder network <= 5 s" + (", BCE <= legacy's" if a.legacy else "")
          + f" -> {'PASS' if ok else 'FAIL'} ({enc[0][1]:.2f} s, BCE {enc[0][2]:.4f}"
          + (f" vs {enc[-1][2]:.4f}" if a.legacy else "") + ")")


if __name__ == "__main__":
    main()
