"""Codes as features: linear and k-NN probes on the default SAE's and CAE's codes vs raw pixels and PCA.

Trains the default supervised AE (sae) and the default CAE on mnist5k (the same
TrainConfig the UI and CLI use), then runs core.probe on each: logistic
regression and k-NN on the codes of the labeled training images, scored on the
test images, against the same classifiers on raw pixels and on PCA with as
many components as the code (the baselines, measured in the same run).
Targets (issue 10): the SAE's codes reach >= 0.96 linear-probe accuracy, and
the default CAE's codes beat PCA of the same size (linear probe).

The issue asks for the SAE's accuracy "on a full MNIST test set": offline there
is no full MNIST here, so the default scores on mnist5k's own test split (1,000
images the models never saw). With MNIST's files in the data folder, pass
``--eval-dataset mnist`` to score on all 70,000 MNIST images instead (mnist5k's
digits are drawn from MNIST, so a few may be among them).

    python bench/probe.py [--seeds 1] [--draws 3] [--eval-dataset mnist]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from common import print_table
from core.datasets import load_dataset
from core.device import configure_threads
from core.pipeline import default_train_config, train_and_save
from core.probe import probe

KEYS = ("linear", "knn", "pixels_linear", "pixels_knn", "pca_linear", "pca_knn")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="sae,cae")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per model (medians are reported)")
    p.add_argument("--draws", type=int, default=3, help="label draws per level below all")
    p.add_argument("--eval-dataset", help="score on all of this dataset (e.g. mnist) instead of the test split")
    p.add_argument("--root", default="/tmp/latent-lab-bench-runs")
    a = p.parse_args()
    threads = configure_threads()
    ds = load_dataset("mnist5k")
    results: dict[str, list[dict]] = {}
    train_s: dict[str, list[float]] = {}
    for name in a.models.split(","):
        for seed in range(a.seeds):
            _, model, res, _ = train_and_save(name, None, ds, default_train_config(name, seed=seed), root=a.root)
            train_s.setdefault(name, []).append(res.seconds)
            results.setdefault(name, []).append(probe(model, ds, a.eval_dataset, draws=a.draws, seed=seed))
    med = {n: {k: statistics.median(r[k] for r in rs) for k in KEYS} for n, rs in results.items()}
    some = next(iter(results.values()))[0]
    where = some["eval"]
    rows = [[n, results[n][0]["dim"], m["linear"], m["knn"], m["pixels_linear"], m["pixels_knn"],
             m["pca_linear"], m["pca_knn"], statistics.median(train_s[n])] for n, m in med.items()]
    print_table(f"probe accuracy with all {some['n_train']:,} training labels, scored on {some['n_eval']:,} "
                f"images ({where}), median of {a.seeds} seed(s), {threads} CPU threads",
                ["model", "code size", "codes linear", "codes k-NN", "pixels linear", "pixels k-NN",
                 "PCA linear", "PCA k-NN", "train s"], rows)
    levels = list(some["by_labels"])
    curve = []
    for n, rs in results.items():
        curve.append([f"{n} codes, linear", *[statistics.median(r["by_labels"][lv]["linear"] for r in rs)
                                              for lv in levels]])
    curve.append(["pixels, linear", *[some["by_labels"][lv]["pixels_linear"] for lv in levels]])
    for n, rs in results.items():
        curve.append([f"PCA-{rs[0]['dim']} ({n}'s size), linear",
                      *[statistics.median(r["by_labels"][lv]["pca_linear"] for r in rs) for lv in levels]])
    print_table(f"linear probe by labeled training images per class (mean of {a.draws} draws below all)",
                ["representation", *levels], curve)
    if "sae" in med:
        acc = med["sae"]["linear"]
        print(f"\ntarget: sae codes linear probe >= 0.96 on {where} -> {'PASS' if acc >= 0.96 else 'FAIL'} "
              f"({acc:.4f})" + ("" if a.eval_dataset else "; the issue asks for the full MNIST test set, "
                                "not available offline: this is mnist5k's test split"))
    if "cae" in med:
        c, pca = med["cae"]["linear"], med["cae"]["pca_linear"]
        print(f"target: cae codes beat PCA of the same size (linear probe) -> {'PASS' if c > pca else 'FAIL'} "
              f"({c:.4f} vs {pca:.4f})")
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
