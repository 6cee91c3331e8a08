"""How good a score is at telling anomalies apart: ROC AUC, the ROC curve, the counts at a threshold.

scikit-learn does the arithmetic; it is imported on use, so the app starts faster.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets import DatasetError

def roc_auc(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn); needs both normal and anomalous images."""
    if is_anomaly.all() or not is_anomaly.any():
        raise DatasetError("the scored images must include both normal and anomalous ones")
    from sklearn.metrics import roc_auc_score  # imported on use: the app starts faster

    return float(roc_auc_score(is_anomaly, scores))


def roc(is_anomaly: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds) of the ROC curve (scikit-learn)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(is_anomaly, scores)
    return fpr, tpr, thr


def at_threshold(is_anomaly: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Flag score >= threshold: precision, recall, false-positive rate and the confusion counts."""
    from sklearn.metrics import confusion_matrix

    pred = scores >= threshold
    (tn, fp), (fn, tp) = confusion_matrix(is_anomaly, pred, labels=[False, True]).tolist()
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "fpr": fp / (fp + tn) if fp + tn else 0.0, "flagged": tp + fp}
