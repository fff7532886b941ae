"""The test split's metrics, then what the report shows about the trained model (each extra guarded).

`test_split` runs before the model is saved (the record needs its metrics and threshold);
`extras` after, so that a failing extra costs a note and never the trained weights.
"""

from __future__ import annotations

import traceback

import torch
from torch import nn

from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord
from dlpipe.data.dataset import Dataset
from dlpipe.engine import distributed
from dlpipe.engine.baselines import kind, run_baselines
from dlpipe.engine.distributed import Ranks, World
from dlpipe.engine.evaluate import predict, scores
from dlpipe.language.pipeline import Pipeline
from dlpipe.report.calibration import calibration
from dlpipe.report.classes import augmented
from dlpipe.report.html import Insights
from dlpipe.report.importance import importance
from dlpipe.report.insights import (class_report, forecast_view, learned_parameters, predicted_vs_true,
                                    regression_curve)
from dlpipe.report.threshold import settle
from dlpipe.report.words import words


def test_split(model: nn.Module, data: Dataset, loss_fn: nn.Module, pipeline: Pipeline, world: World | None,
               record: RunRecord) -> tuple[torch.Tensor, float | None]:
    """The test metrics (and the decision threshold) into the record; returns the test outputs and the threshold."""
    outputs = (Ranks(world).predict(model, data.test.x) if world else predict(model, data.test.x)).float()
    threshold = None
    if pipeline.threshold is not None and data.task == "classification" and len(data.classes) == 2:
        threshold, record.data["threshold"] = settle(model, data, pipeline, bool(record.data.get("imbalance")))
    test = scores(outputs, data.test, loss_fn, data.task, pipeline.scalar_metrics, data.target_scale, threshold)
    if world:
        record.environment["distributed"] = {"world_size": world.size, "backend": world.backend,
                                             "weights_identical_across_ranks": distributed.weights_agree(model)}
    record.test = {"loss": test.pop("loss"), **test}
    record.learned = learned_parameters(model, pipeline)
    return outputs, threshold


def extras(model: nn.Module, data: Dataset, loss_fn: nn.Module, pipeline: Pipeline, record: RunRecord,
           insights: Insights, outputs: torch.Tensor, threshold: float | None, progress: Progress) -> None:
    """What the report shows about the trained model, into record and insights; run after the model is saved.

    One that fails is a note (warned, its traceback in run.log) and the run completes without it.
    """
    def safely(name: str, make, default=None):
        try:
            return make()
        except Exception as exc:  # noqa: BLE001 - an extra of the report never costs the trained model
            note = f"the report's {name} could not be made ({type(exc).__name__}: {exc}); the model was saved"
            record.data.setdefault("notes", []).append(note)
            progress.warn(note)
            progress.log(traceback.format_exc().rstrip())
            return default

    insights.fit_curve = safely("fit curve", lambda: regression_curve(model, data))
    if not (insights.fit_curve or data.forecast):
        insights.predictions = safely("predicted against true", lambda: predicted_vs_true(model, data, outputs))
    insights.classes = safely("per-class figures", lambda: class_report(model, data, outputs, threshold))
    insights.words = safely("words", lambda: words(model, data, outputs))
    insights.charts = pipeline.report.charts
    config = getattr(pipeline.data, "augment", None)  # (image sources only)
    insights.augmented = safely("augmented samples", lambda: augmented(data, config, pipeline.seed))
    insights.augment = config.model_dump(exclude_defaults=True) if insights.augmented else None
    trained_s = (record.history.get("time") or [None])[-1]  # the baselines' budget (engine/trees.IMPORT_S)
    outcome = safely("baselines", lambda: run_baselines(data, loss_fn, pipeline.scalar_metrics, trained_s))
    if outcome is not None:  # the simple models, on the same splits
        record.baselines = outcome.metrics
        record.data["baselines"] = {"kind": kind(data), "notes": outcome.notes, "seconds": round(outcome.seconds, 4),
                                    "samples": len(data.test)}
    if data.task == "classification":
        record.calibration = safely("calibration", lambda: calibration(
            outputs.float().softmax(dim=1).cpu().numpy(), data.test.y.cpu().numpy()))
    record.importance = safely("importance", lambda: importance(model, data, loss_fn, pipeline.scalar_metrics))
    if data.forecast is not None:  # a series: the test period with its naive forecast
        insights.forecast = safely("forecast", lambda: forecast_view(outputs, data))
    if insights.classes is not None:
        record.classes, record.per_class = list(insights.classes.classes), insights.classes.per_class
        matrix = insights.classes.matrix  # beyond MAX_MATRIX classes: confusions.csv beside the report instead
        record.confusion_matrix = matrix.tolist() if matrix is not None else []
