"""Evaluation metrics from predictions: numpy only, the same definitions as scikit-learn's.

- classification: accuracy, macro precision / recall / F1 over every class of the dataset (a
  class never predicted has precision 0, as ``zero_division=0``), one-vs-rest ROC AUC (the
  Mann-Whitney statistic, ties counting one half; macro over the classes present with both
  positives and negatives), a per-class table and the confusion matrix (rows: true, columns:
  predicted);
- segmentation (per pixel): pixel accuracy, macro Dice (= F1) and IoU (= Jaccard);
- regression: MSE, MAE, R².

>>> import numpy as np
>>> r = classification_report(np.array([0, 1, 1]), np.array([[.9, .1], [.4, .6], [.7, .3]]), ("a", "b"))
>>> r.metrics["accuracy"], r.metrics["auc_ovr"], r.confusion.tolist()
(0.6666666666666666, 1.0, [[1, 0], [1, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Report:
    """Scalar metrics, a per-class table (one dict per class) and the confusion matrix."""

    metrics: dict[str, float]
    per_class: list[dict] = field(default_factory=list)
    confusion: np.ndarray | None = None


def confusion_matrix(y_true, y_pred, n: int) -> np.ndarray:
    """(n, n) counts; rows are the true class, columns the predicted one."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    return np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num), dtype=float), where=den > 0)


def _per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(0).astype(float), cm.sum(1).astype(float)
    precision, recall = _ratio(tp, predicted), _ratio(tp, actual)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * tp, predicted + actual),
        "iou": _ratio(tp, predicted + actual - tp),
        "support": actual.astype(int),
    }


def roc_auc(positive, scores) -> float:
    """Area under the ROC curve of binary labels ``positive`` against ``scores`` (NaN without
    both classes)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(xs[1:] != xs[:-1]) + 1]
    ends = np.r_[starts[1:], len(xs)]
    mean_rank = (starts + ends + 1) / 2  # ranks start..end-1 (0-based) → mean of start+1..end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def classification_report(y_true, probs, classes) -> Report:
    """``probs``: (N, C) class probabilities (or any scores whose argmax is the prediction)."""
    y_true, probs = np.asarray(y_true).astype(int), np.asarray(probs, dtype=float)
    n = len(classes)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, n)
    pc = _per_class(cm)
    aucs = np.array([roc_auc(y_true == c, probs[:, c]) for c in range(n)])
    defined = aucs[~np.isnan(aucs)]
    metrics = {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "precision_macro": float(pc["precision"].mean()),
        "recall_macro": float(pc["recall"].mean()),
        "f1_macro": float(pc["f1"].mean()),
        "auc_ovr": float(defined.mean()) if len(defined) else float("nan"),
    }
    rows = [
        {
            "class": str(name),
            "precision": float(pc["precision"][c]),
            "recall": float(pc["recall"][c]),
            "f1": float(pc["f1"][c]),
            "auc": float(aucs[c]),
            "support": int(pc["support"][c]),
        }
        for c, name in enumerate(classes)
    ]
    return Report(metrics, rows, cm)


def segmentation_report(y_true, y_pred, classes) -> Report:
    """Per-pixel labels ``y_true`` and ``y_pred`` of the same shape."""
    n = len(classes)
    cm = confusion_matrix(np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int), n)
    pc = _per_class(cm)
    metrics = {
        "pixel_accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "dice": float(pc["f1"].mean()),
        "iou": float(pc["iou"].mean()),
    }
    rows = [
        {
            "class": str(name),
            "dice": float(pc["f1"][c]),
            "iou": float(pc["iou"][c]),
            "pixels": int(pc["support"][c]),
        }
        for c, name in enumerate(classes)
    ]
    return Report(metrics, rows, cm)


def regression_report(y_true, y_pred) -> Report:
    y_true, y_pred = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    err = y_pred - y_true
    total = ((y_true - y_true.mean()) ** 2).sum()
    r2 = 1 - (err**2).sum() / total if total > 0 else (1.0 if not err.any() else 0.0)
    return Report({"mse": float((err**2).mean()), "mae": float(np.abs(err).mean()), "r2": float(r2)})
