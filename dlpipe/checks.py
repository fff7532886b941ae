"""Static checks before any data is loaded: shapes layer by layer, loss and metrics against the task.

Every problem found is reported at once, each pointing at its line in the YAML.
"""

from __future__ import annotations

from dlpipe.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, Pipeline, TopKAccuracy
from dlpipe.config_optim import CrossEntropyLoss
from dlpipe.data import sample_shape, target_size
from dlpipe.errors import Problem
from dlpipe.loader import Loaded
from dlpipe.model import ShapeError, Summary, build_model, check_output

REGRESSION_LOSSES = "mse, l1 or huber"


def check_pipeline(loaded: Loaded) -> Summary:
    """Build the model on the data's sample shape; raise PipelineError listing every problem."""
    pipeline = loaded.pipeline
    problems = [*_task_problems(pipeline), *_softmax_problems(pipeline), *_monitor_problems(pipeline)]
    summary = None
    try:
        _, summary = build_model(pipeline.model, sample_shape(pipeline.data))
        check_output(summary, target_size(pipeline.data), pipeline.task)
    except ShapeError as exc:
        problems.append(Problem(("model", "layers", exc.index), str(exc)))
    if problems:
        raise loaded.errors(problems)
    return summary


def _task_problems(pipeline: Pipeline):
    """Loss and metrics that do not fit a regression or a classification."""
    source = f"data source '{pipeline.data.type}' is a {pipeline.task}"
    if pipeline.task == "regression" and isinstance(pipeline.loss, CrossEntropyLoss):
        yield Problem(("loss",), f"cross_entropy is for classification, but {source}; use {REGRESSION_LOSSES}")
    if pipeline.task == "classification" and not isinstance(pipeline.loss, CrossEntropyLoss):
        yield Problem(("loss",), f"{pipeline.loss.type} is a regression loss, but {source}; use cross_entropy")
    allowed = REGRESSION_METRICS if pipeline.task == "regression" else CLASSIFICATION_METRICS
    for index, metric in enumerate(pipeline.metrics):
        name = metric.type if isinstance(metric, TopKAccuracy) else metric
        if name not in allowed:
            yield Problem(("metrics", index), f"{name} does not apply: {source} (its metrics: {', '.join(allowed)})")


def _softmax_problems(pipeline: Pipeline):
    """A softmax feeding cross_entropy squashes the logits twice."""
    if not isinstance(pipeline.loss, CrossEntropyLoss):
        return
    index = len(pipeline.model.layers) - 1
    last = pipeline.model.layers[index]
    if last.type == "softmax" or getattr(last, "activation", None) == "softmax":
        yield Problem(("model", "layers", index),
                      "softmax before cross_entropy: the loss applies log-softmax to the raw scores itself, so "
                      "a softmax here applies it twice and training stalls; remove it (the report still shows "
                      "the predicted probabilities)")


def recorded_keys(pipeline: Pipeline) -> list[str]:
    """The per-epoch history values a schedule may watch."""
    scalars = [key for key in pipeline.metric_keys if key != "confusion_matrix"]
    train = ["train_loss", "train_accuracy"] if pipeline.task == "classification" else ["train_loss"]
    return train + ["val_loss"] + [f"val_{key}" for key in scalars]


def _monitor_problems(pipeline: Pipeline):
    monitor = getattr(pipeline.scheduler, "monitor", None)
    if monitor is not None and monitor not in recorded_keys(pipeline):
        yield Problem(("scheduler", "monitor"), f"'{monitor}' is not recorded by this pipeline "
                                                f"(recorded: {', '.join(recorded_keys(pipeline))})")
