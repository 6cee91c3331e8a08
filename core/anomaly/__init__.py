"""Anomaly detection with autoencoders: train on normal images only, flag what they rebuild badly.

An autoencoder trained on one kind of image (the normal class or classes)
learns to rebuild that kind well and anything else worse, so a per-image
error is an anomaly score. ``run_anomaly`` trains any registry family that
encodes and reconstructs (AE, CAE, VAE, and families added later) on the
normal training images, scores every evaluation image several ways and
measures each score with scikit-learn's ROC AUC. ``run_benchmark`` is the
one-class protocol of Ruff et al. (2018, Deep SVDD): each class in turn is
normal, the rest of the test split anomalous, and the AUCs are averaged.

One room per job:

- ``config``     AnomalyConfig (one experiment's settings and its engine
                 settings), SCORES, the defaults and MAX_STEPS, anomaly_families.
- ``data``       which images train and which are scored: parse_normal,
                 normal_train, eval_set and its EvalSet (SUSPECT, NORMAL_UNLABELED).
- ``scores``     per-image scores (recon_scores for any reconstruction,
                 score_images for a model), and which score works best, measured.
- ``roc``        how good a score is: roc_auc, the ROC curve, at_threshold.
- ``experiment`` one detector: run_anomaly, its AnomalyResult and Progress reports.
- ``benchmark``  the one-class protocol: run_benchmark, BenchmarkResult, the
                 published Deep SVDD numbers for MNIST.

The page prose lives with the page, the figures in ui.figures, the command in
core.cli and the background job in core.jobs; this package never imports the UI.
"""
from __future__ import annotations

from .benchmark import DEEP_SVDD_MNIST, DEEP_SVDD_MNIST_MEAN, BenchmarkResult, run_benchmark
from .config import (DEFAULT_EPOCHS, DEFAULT_MODEL, DEFAULT_SCORE, MAX_STEPS, SCORES, AnomalyConfig,
                     anomaly_families)
from .data import NORMAL_UNLABELED, SUSPECT, EvalSet, eval_set, normal_train, parse_normal, spec_of
from .experiment import EXAMPLES, AnomalyResult, Progress, ProgressFn, run_anomaly
from .roc import at_threshold, roc, roc_auc
from .scores import ELBO_SAMPLES, RECON_SCORES, available_scores, blur_sigma, recon_scores, score_images

__all__ = ["AnomalyConfig", "SCORES", "DEFAULT_SCORE", "DEFAULT_MODEL", "DEFAULT_EPOCHS", "MAX_STEPS",
           "anomaly_families", "SUSPECT", "NORMAL_UNLABELED", "EvalSet", "parse_normal", "normal_train",
           "eval_set", "spec_of", "RECON_SCORES", "ELBO_SAMPLES", "blur_sigma", "available_scores",
           "recon_scores", "score_images", "roc_auc", "roc", "at_threshold", "EXAMPLES", "Progress",
           "ProgressFn", "AnomalyResult", "run_anomaly", "DEEP_SVDD_MNIST", "DEEP_SVDD_MNIST_MEAN",
           "BenchmarkResult", "run_benchmark"]
