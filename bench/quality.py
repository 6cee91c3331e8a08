"""Quality of the default presets on mnist5k: reconstruction, a VAE's likelihood, the sequence AE.

Trains each default preset (the same TrainConfig the UI and CLI use) and
scores its test split: BCE and MSE per pixel and training seconds; for the
VAEs also what papers report: the negative ELBO in nats per image, its two
parts (reconstruction, KL) and the IWAE bound on -log p(x) (k importance
samples). "vae" is the registry's default VAE (convolutions of 16 and 32 channels, a
256-wide hidden layer around the code, SiLU, a VampPrior of 32 learned pseudo-images, half
of each batch shifted by up to 1 pixel, 40 epochs of Adam (beta2 0.99) at lr 5e-3 with a
cosine schedule);
"vae-normal" the same with the N(0, I) prior; "vae-noshift" the same without the shifts;
"vae-v1" the previous default (convolutions of 32 and 64, LeakyReLU, N(0, I), no shifts,
20 epochs at lr 3e-3; today's optimiser: Adam fused, beta2 0.99), the baseline measured in
the same run; "vae-mlp" the default with arch=mlp.
Offline there is no full MNIST test set: every number is on mnist5k's own
test split (1,000 images), trained on its 4,000 training images.

Reference rows, measured in the same run: the mean training image as an
independent-pixel Bernoulli model (its -log p(x) is its BCE summed over the
pixels; KL 0), and the pixel-entropy floor (no model can score below it on
grey-level pixels with this Bernoulli likelihood).

Targets: default CAE BCE/pixel <= 0.095 with <= 30 s of training (issue 2);
default sequence AE (seqae) BCE/pixel <= 0.10 with <= 60 s, shown side by side
with the CAE (issue 10); default VAE neg_elbo <= 100 nats with <= 30 s of
training (issue 13; the issue asks for it on a full MNIST test set, see
above). Timings are medians over seeds; on a shared machine they depend on its
load, printed with the table.

    python bench/quality.py [--models cae,vae,vae-normal,vae-noshift,vae-v1,vae-mlp,ae,seqae] [--seeds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics

import torch
import torch.nn.functional as F

from common import print_table, variant
from core.datasets import load_dataset
from core.device import configure_threads
from core.pipeline import default_train_config, train_and_save

LIKELIHOOD = ("neg_elbo", "recon_nats", "kl_nats", "nll_iw")


def mean_image(ds) -> tuple[float, float, float]:
    """BCE and MSE per pixel, and nats per image, of always predicting the mean training image."""
    m = ds.x_train.mean(0, keepdim=True).clamp(1e-6, 1 - 1e-6).expand_as(ds.x_test)
    nats = float(F.binary_cross_entropy(m, ds.x_test, reduction="none").flatten(1).sum(1).mean())
    return float(F.binary_cross_entropy(m, ds.x_test)), float(F.mse_loss(m, ds.x_test)), nats


def pixel_entropy(ds) -> float:
    """Sum over pixels of the Bernoulli entropy of each grey level, per test image: the metric's floor."""
    x = ds.x_test.clamp(1e-7, 1 - 1e-7)
    return float(-(x * x.log() + (1 - x) * (1 - x).log()).flatten(1).sum(1).mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="cae,vae,vae-normal,vae-noshift,vae-v1,vae-mlp,ae,seqae")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--root", default="/tmp/latent-lab-bench-runs")
    a = p.parse_args()
    threads = configure_threads()
    ds = load_dataset("mnist5k")
    rows, by_name = [], {}
    names = a.models.split(",")
    # Seeds outside, models inside: this machine's speed drifts by up to a third within minutes, and
    # interleaving gives every model the same share of its fast and slow spells.
    by_run: dict[str, list[dict]] = {name: [] for name in names}
    for seed in range(a.seeds):
        for name in names:
            family, changes, train_changes = variant(name)
            cfg = default_train_config(family, seed=seed, **train_changes)
            _, _, res, met = train_and_save(family, changes, ds, cfg, root=a.root)
            by_run[name].append({**met, "seconds": res.seconds})
    for name in names:
        family, changes, train_changes = variant(name)
        cfg = default_train_config(family, **train_changes)
        runs = by_run[name]

        def med(key: str) -> float | str:
            vals = [r[key] for r in runs if key in r]
            return statistics.median(vals) if vals else "-"

        row = [name, cfg.epochs, med("recon_bce"), med("recon_mse"), *(med(k) for k in LIKELIHOOD),
               med("seconds"), " ".join(f"{r['neg_elbo']:.1f}" for r in runs) if "neg_elbo" in runs[0] else "-"]
        rows.append(row)
        by_name[name] = row
    bce0, mse0, nats0 = mean_image(ds)
    rows.append(["mean image (reference)", "-", bce0, mse0, nats0, nats0, 0.0, nats0, 0.0, "-"])
    floor = pixel_entropy(ds)
    rows.append(["pixel-entropy floor", "-", "-", "-", floor, floor, 0.0, floor, 0.0, "-"])
    load = os.getloadavg()[0]
    print_table(f"default presets on the mnist5k test split (1,000 images; NOT the full MNIST test set), "
                f"{threads} CPU threads, load average {load:.1f}, median of {a.seeds} seed(s); "
                f"likelihoods in nats per image, IWAE with k=16",
                ["model", "epochs", "BCE/pixel", "MSE/pixel", "-ELBO", "recon", "KL", "IWAE NLL", "train s",
                 "-ELBO per seed"], rows)
    cae = by_name.get("cae")
    if cae:
        ok = cae[2] <= 0.095 and cae[8] <= 30
        print(f"\ntarget: default cae BCE <= 0.095 in <= 30 s -> {'PASS' if ok else 'FAIL'}"
              f" (BCE {cae[2]:.4f}, {cae[8]:.1f} s)")
    base = by_name.get("vae-v1")
    for name in ("vae", "vae-normal", "vae-noshift", "vae-v1", "vae-mlp"):
        r = by_name.get(name)
        if r:
            ok = r[4] <= 100 and r[8] <= 30
            vs = f"; {r[4] - base[4]:+.1f} nats vs vae-v1 in this run" if base and r is not base else ""
            print(f"target: {name} neg_elbo <= 100 nats in <= 30 s -> {'PASS' if ok else 'FAIL'}"
                  f" ({r[4]:.1f} nats, {r[8]:.1f} s; mnist5k test split{vs})"
                  + ("" if name == "vae" else "  [reported; the issue's target is for the default preset]"))
    seq = next((r for r in rows if r[0] == "seqae"), None)
    if seq:
        if cae:
            print_table("sequence AE beside the CAE (issue 10)", ["model", "epochs", "BCE/pixel", "train s"],
                        [[r[0], r[1], r[2], r[8]] for r in (cae, seq)])
        ok = seq[2] <= 0.10 and seq[8] <= 60
        print(f"\ntarget: default seqae BCE <= 0.10 in <= 60 s -> {'PASS' if ok else 'FAIL'}"
              f" (BCE {seq[2]:.4f}, {seq[8]:.1f} s)")
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
