"""Static checks before any data is loaded: shapes layer by layer, loss and metrics against the task.

Every problem found is reported at once, each pointing at its line in the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlpipe.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, ImageData, Pipeline, TopKAccuracy
from dlpipe.config_optim import CrossEntropyLoss, OneCycleSchedule
from dlpipe.data import sample_shape, target_size, true_function
from dlpipe.errors import Problem
from dlpipe.loader import Loaded
from dlpipe.model import ShapeError, Summary, build_model, check_output

REGRESSION_LOSSES = "mse, l1 or huber"
# Output range of each activation, for the regression range check.
ACTIVATION_RANGE = {"relu": (0.0, np.inf), "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softmax": (0.0, 1.0),
                    "elu": (-1.0, np.inf), "gelu": (-0.17, np.inf)}
# Learning rates people use with each optimizer; a value 10x outside gets a warning.
USUAL_LR = {"sgd": (1.0e-3, 1.0), "adam": (1.0e-5, 3.0e-3), "adamw": (1.0e-5, 3.0e-3), "rmsprop": (1.0e-5, 3.0e-3)}


@dataclass(frozen=True)
class Checked:
    """A pipeline that passed: its model summary and any warnings (already rendered)."""

    summary: Summary
    warnings: str


def check_pipeline(loaded: Loaded) -> Checked:
    """Build the model on the data's sample shape; raise PipelineError listing every problem."""
    pipeline = loaded.pipeline
    problems = [*_task_problems(pipeline), *_softmax_problems(pipeline), *_monitor_problems(pipeline)]
    summary = None
    try:
        with torch.device("meta"):  # shapes and parameter counts without allocating any weights
            _, summary = build_model(pipeline.model, sample_shape(pipeline.data))
        check_output(summary, target_size(pipeline.data), pipeline.task)
    except ShapeError as exc:
        problems.append(Problem(("model", "layers", exc.index), str(exc)))
    if problems:
        raise loaded.errors(problems)
    return Checked(summary, loaded.render([*_range_warnings(pipeline), *_lr_warnings(pipeline)]))


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
    """A schedule or early stopping that watches a value the run does not record."""
    watched = [(("scheduler", "monitor"), getattr(pipeline.scheduler, "monitor", None)),
               (("training", "early_stopping", "monitor"), getattr(pipeline.training.early_stopping, "monitor", None))]
    for path, monitor in watched:
        if monitor is not None and monitor not in recorded_keys(pipeline):
            yield Problem(path, f"'{monitor}' is not recorded by this pipeline "
                                f"(recorded: {', '.join(recorded_keys(pipeline))})")


def _range_warnings(pipeline: Pipeline):
    """An output activation that cannot reach the targets of a regression."""
    if isinstance(pipeline.data, ImageData):
        return
    index = len(pipeline.model.layers) - 1
    last = pipeline.model.layers[index]
    name = getattr(last, "activation", None) or last.type
    if name not in ACTIVATION_RANGE:
        return
    low, high = ACTIVATION_RANGE[name]
    grid = np.linspace(*pipeline.data.x_range, 1001)
    values = np.asarray(true_function(pipeline.data)(grid))
    if values.min() < low or values.max() > high:
        yield Problem(("model", "layers", index), f"{name} outputs only values in [{low:g}, {high:g}] but the "
                      f"targets span [{values.min():.3g}, {values.max():.3g}]; the model cannot fit them. "
                      "End with a plain {type: linear, units: 1}", warning=True)


def _lr_warnings(pipeline: Pipeline):
    """A learning rate far outside what is usual for its optimizer."""
    low, high = USUAL_LR[pipeline.optimizer.type]
    rates = [(("optimizer", "lr"), pipeline.optimizer.lr)]
    if isinstance(pipeline.scheduler, OneCycleSchedule) and pipeline.scheduler.max_lr:
        rates.append((("scheduler", "max_lr"), pipeline.scheduler.max_lr))
    for path, lr in rates:
        if lr < low / 10 or lr > high * 10:
            effect = "training will barely move" if lr < low / 10 else "training will likely diverge"
            yield Problem(path, f"{lr:g} is far outside the usual range for {pipeline.optimizer.type} "
                                f"({low:g} to {high:g}): {effect}", warning=True)
