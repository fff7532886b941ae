"""The decision threshold of a two-class classifier: the probability of the positive class (the rarer one in
training) from which it is predicted. `threshold: auto` chooses it on the validation split for the run's headline
metric; the run's metrics, predict, evaluate and the Python API apply it through decide(); the probabilities
themselves never change (ROC-AUC and PR-AUC, which rank them, neither).
"""

from __future__ import annotations

from typing import Callable

import torch

GRID = [round(0.01 * i, 2) for i in range(1, 100)]  # the thresholds tried, and drawn in the report


def decide(logits: torch.Tensor, threshold: tuple[int, float] | None) -> torch.Tensor:
    """Each row's class: the highest score, or with a threshold (positive class, t) the positive class wherever its
    probability is at least t (two classes)."""
    if threshold is None:
        return logits.argmax(dim=1)
    positive, t = threshold
    chance = logits.double().softmax(dim=1)[:, positive]
    return torch.where(chance >= t, torch.tensor(positive), torch.tensor(1 - positive))


def choose(logits: torch.Tensor, target: torch.Tensor, positive: int,
           score: Callable[[torch.Tensor], float]) -> tuple[float, list[dict]]:
    """(the threshold of GRID whose decisions score highest on these rows, closest to 0.5 among ties; each
    threshold's precision and recall of the positive class and score). score(predicted) -> higher is better."""
    curve, best = [], None
    for t in GRID:
        predicted = decide(logits, (positive, t))
        hits = int(((predicted == positive) & (target == positive)).sum())
        said, actual = int((predicted == positive).sum()), int((target == positive).sum())
        row = {"threshold": t, "precision": hits / said if said else None,  # (None: JSON, where NaN is not)
               "recall": hits / actual if actual else None, "score": score(predicted)}
        curve.append(row)
        if best is None or (row["score"], -abs(t - 0.5)) > (best["score"], -abs(best["threshold"] - 0.5)):
            best = row
    return best["threshold"], curve


def positive_class(labels: torch.Tensor) -> int:
    """The class a threshold is about: the rarer of two in the training split (class 1 when they are even)."""
    counts = torch.bincount(labels.long().cpu(), minlength=2)
    return 0 if counts[0] < counts[1] else 1


def of(prep, classes: tuple[str, ...]) -> tuple[int, float] | None:
    """A saved model's threshold as decide() takes it: (its positive class's index, t), or None."""
    if prep is None or prep.threshold is None or prep.positive not in classes:
        return None
    return classes.index(prep.positive), prep.threshold
