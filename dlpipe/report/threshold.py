"""A two-class run's decision threshold (threshold: auto | t): settled on the validation split after training, said
in words and drawn (precision and recall of the positive class against the threshold, the chosen point marked)."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from dlpipe.data.dataset import Dataset
from dlpipe.data.preprocess import Preprocessing
from dlpipe.engine.evaluate import predict
from dlpipe.engine.metrics import METRIC_BUILDERS, ClassificationView
from dlpipe.engine.threshold import choose, positive_class
from dlpipe.language.metrics import AUC, PRAUC, BalancedAccuracy, headline, metric_class
from dlpipe.language.pipeline import Pipeline
from dlpipe.language.section import tags
from dlpipe.report.svg import Chart, Line

PRECISION, RECALL = "#1f77b4", "#d62728"


def settle(model: nn.Module, data: Dataset, pipeline: Pipeline, imbalanced: bool) -> tuple[tuple[int, float], dict]:
    """((positive class, threshold), what the record keeps): auto picks it on validation for the headline metric
    (balanced accuracy where the headline does not depend on it: ROC-AUC, PR-AUC, the loss)."""
    positive = positive_class(data.train.y)
    head = headline("classification", {m.key: 0.0 for m in pipeline.scalar_metrics}, imbalanced) or {}
    found = metric_class(head.get("name", ""))
    judge = found(type=tags(found)[0]) if found is not None and found not in (AUC, PRAUC) else \
        BalancedAccuracy(type="balanced_accuracy")
    judge = next((m for m in pipeline.scalar_metrics if type(m) is type(judge)), judge)
    logits, target = predict(model, data.validation.x).float().cpu(), data.validation.y.cpu()
    best, curve = choose(logits, target, positive, lambda predicted: METRIC_BUILDERS[type(judge)](
        _View(logits, target, predicted), judge))
    value = best if pipeline.threshold == "auto" else float(pipeline.threshold)
    return (positive, value), {"class": data.classes[positive], "value": value, "how": "auto" if
                               pipeline.threshold == "auto" else "given", "metric": judge.key, "curve": curve}


class _View(ClassificationView):
    """A view whose classes are already decided (one per threshold tried)."""

    def __init__(self, logits: torch.Tensor, target: torch.Tensor, predicted: torch.Tensor):
        self.logits, self.target, self.predicted = logits, target, predicted


def with_threshold(prep: Preprocessing | None, found: dict | None) -> Preprocessing | None:
    """The run's preprocessing with its threshold, as the model is saved (predict and evaluate read it there)."""
    if prep is None or not found:
        return prep
    return dataclasses.replace(prep, threshold=found["value"], positive=found["class"])


def sentence(found: dict) -> str:
    """The threshold, how it was set, and what it does, in words."""
    at = next(row for row in found["curve"] if abs(row["threshold"] - found["value"]) < 1e-9) \
        if any(abs(row["threshold"] - found["value"]) < 1e-9 for row in found["curve"]) else None
    how = (f"chosen on the validation split for {found['metric']}" if found["how"] == "auto" else "as given")
    there = (f": there, precision {at['precision']:.3f} and recall {at['recall']:.3f} of {found['class']!r} on "
             "validation" if at and at["precision"] is not None and at["recall"] is not None else "")
    return (f"{found['class']!r} is predicted from a probability of {found['value']:.2f} on ({how}){there}. A lower "
            "threshold finds more of that class and is wrong more often; the probabilities themselves do not change")


def chart(found: dict) -> str:
    """Precision and recall of the positive class against the threshold, on validation; the chosen one marked."""
    xs = [row["threshold"] for row in found["curve"]]
    return Chart(f"Precision and recall of {found['class']!r} (validation)", [
        Line("precision", PRECISION, xs, [_number(row["precision"]) for row in found["curve"]]),
        Line("recall", RECALL, xs, [_number(row["recall"]) for row in found["curve"]]),
        Line(f"threshold {found['value']:.2f}", "#2ca02c", [found["value"]] * 2, [0.0, 1.0], dash="6 4")],
        x_label="threshold (probability of the class)", y_label="share", ylim=(0.0, 1.02)).svg()


def _number(value) -> float:
    return float("nan") if value is None else value  # (a gap in the line: no row predicted at that threshold)
