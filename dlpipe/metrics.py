"""Metrics computed in torch over a whole split; scalars come back as plain floats."""

from __future__ import annotations

import math
import re

import numpy as np
import torch

SCALAR_CLASSIFICATION = ("accuracy", "precision", "recall", "f1")


def regression_metrics(pred: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict[str, float]:
    """mse, rmse, mae and r2 (coefficient of determination) of `pred` against `target`, over every element.

    Only the named ones are computed, in float64 numpy: this runs after every epoch, and for the
    small validation splits of the synthetic regressions numpy takes a third of torch's time
    (9 us against 26 us for 150 points); for 100,000 points both take about 1 ms.
    """
    p = pred.detach().to("cpu", torch.float64).numpy().ravel()
    t = target.detach().to("cpu", torch.float64).numpy().ravel()
    error = p - t
    sse = float(error @ error)
    values: dict[str, float] = {}
    for name in names:
        if name == "mse":
            values[name] = sse / error.size
        elif name == "rmse":
            values[name] = math.sqrt(sse / error.size)
        elif name == "mae":
            values[name] = float(np.abs(error).mean())
        elif name == "r2":
            spread = t - t.mean()
            values[name] = 1 - sse / float(spread @ spread)
    return values


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """Counts, rows = true class, columns = predicted class."""
    flat = target.long() * classes + predicted.long()
    return torch.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def per_class(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall, F1 and support per class; 0 where a ratio is undefined (no predictions)."""
    m = matrix.double()
    hits, predicted, actual = m.diagonal(), m.sum(0), m.sum(1)
    precision = torch.where(predicted > 0, hits / predicted.clamp(min=1), torch.zeros_like(hits))
    recall = torch.where(actual > 0, hits / actual.clamp(min=1), torch.zeros_like(hits))
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp(min=1e-12), torch.zeros_like(hits))
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def top_k_accuracy(logits: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Fraction of samples whose true class is among the k highest scores."""
    k = min(k, logits.shape[1])
    return float((logits.topk(k, dim=1).indices == target[:, None]).any(dim=1).double().mean())


def classification_metrics(logits: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict[str, float]:
    """accuracy, topK_accuracy, and macro precision, recall and f1 (confusion_matrix is not a scalar)."""
    classes = logits.shape[1]
    predicted = logits.argmax(dim=1)
    scores = per_class(confusion_matrix(predicted, target, classes))
    values: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            values[name] = float((predicted == target).double().mean())
        elif name in SCALAR_CLASSIFICATION:
            values[name] = float(scores[name].mean())
        elif match := re.fullmatch(r"top(\d+)_accuracy", name):
            values[name] = top_k_accuracy(logits, target, int(match.group(1)))
    return values


def compute_metrics(task: str, pred: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict[str, float]:
    """The scalar metrics in `names` for the task's kind of prediction."""
    match task:
        case "regression":
            return regression_metrics(pred, target, names)
        case "classification":
            return classification_metrics(pred, target, names)
    raise ValueError(f"no metrics for task {task!r}")
