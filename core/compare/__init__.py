"""Hybrid (AE+CNN) vs plain CNN: does an autoencoder help a classifier, and when?

One room per job:

- ``config``     CompareConfig (the settings of one comparison and the two model
                 configs derived from them), VARIANTS, LABEL_LEVELS, ROLES, the
                 limits MAX_SEEDS / MAX_STEPS, and parse_level ('10' / 'all').
- ``experiment`` the experiment itself: labeled subsets, the shared mixed
                 batches, the evaluation split, training each model through
                 core.engine, run_comparison, run_sweep and their Progress reports.
- ``results``    ModelRuns / ComparisonResult / SweepResult (whose summary() and
                 rows() are the JSON of ``python -m core compare``), confusion
                 matrices, saving each model as a run, list_comparisons,
                 load_comparison and new_comparison_id.

The page prose lives with the page, the figures in ui.figures, the command in
core.cli and the background job in core.jobs; this package never imports the UI.
"""
from __future__ import annotations

from .config import LABEL_LEVELS, MAX_SEEDS, MAX_STEPS, ROLES, VARIANTS, CompareConfig, parse_level
from .experiment import (Progress, ProgressFn, eval_split, labeled_subset, mixed_batches, run_comparison,
                         run_sweep, semi_supervised_targets, steps_per_epoch)
from .results import (ComparisonResult, ModelRuns, SweepResult, confusion, list_comparisons,
                      load_comparison, new_comparison_id)

__all__ = ["CompareConfig", "VARIANTS", "LABEL_LEVELS", "ROLES", "MAX_SEEDS", "MAX_STEPS", "parse_level",
           "labeled_subset", "semi_supervised_targets", "mixed_batches", "steps_per_epoch", "eval_split",
           "confusion", "ModelRuns", "ComparisonResult", "SweepResult", "Progress", "ProgressFn",
           "run_comparison", "run_sweep", "list_comparisons", "load_comparison", "new_comparison_id"]
