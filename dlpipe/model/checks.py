"""Static checks before any data is loaded: shapes layer by layer, loss and metrics against the task.

Every problem found is reported at once, each pointing at its line in the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlpipe.data.memory import check_fits
from dlpipe.data.sources import describe
from dlpipe.language import metrics, optim
from dlpipe.language.errors import InvalidValue, Problem
from dlpipe.language.activations import ACTIVATIONS
from dlpipe.language.loader import Loaded
from dlpipe.language.metrics import history_columns
from dlpipe.language.pipeline import Pipeline
from dlpipe.language.section import tags
from dlpipe.model.layers import Facts
from dlpipe.model.network import Summary, build_model, check_output


@dataclass(frozen=True)
class Checked:
    """A pipeline that passed: its model summary and any warnings (already rendered)."""

    summary: Summary
    warnings: str
    classes: tuple[str, ...] = ()  # where the source names them without reading the samples (image sources)


def check_pipeline(loaded: Loaded) -> Checked:
    """Build the model on the data's sample shape; raise PipelineError listing every problem."""
    pipeline = loaded.pipeline
    try:
        info = describe(pipeline.data, pipeline.seed)
    except InvalidValue as exc:
        raise loaded.invalid(exc) from None
    problems = [*_task_problems(pipeline, info.task), *_softmax_problems(pipeline),
                *_monitor_problems(pipeline, info.task), *_balance_problems(pipeline, info.task, info.classes),
                *_report_problems(pipeline)]
    summary = None
    try:
        with torch.device("meta"):  # shapes and parameter counts without allocating any weights
            _, summary = build_model(pipeline.model, info.sample_shape, Facts(info.vocabulary))
        check_output(summary, info.target_size, info.task)
        # weights, their gradients and up to two optimizer states (Adam's), 4 bytes each: before any is allocated
        check_fits(summary.total_params * 4 * 4, f"the model's {summary.total_params:,} parameters (weights, "
                                                 "gradients and the optimizer's state)", ("model", "layers"),
                   fix="use fewer or narrower layers")
    except InvalidValue as exc:
        problems += exc.problems
    if problems:
        raise loaded.errors(problems)
    return Checked(summary, loaded.render([*_range_warnings(pipeline, info), *_lr_warnings(pipeline),
                                                   *_augment_warnings(pipeline)]), info.classes)


def _task_problems(pipeline: Pipeline, task: str):
    """Loss and metrics that do not fit a regression or a classification."""
    source = f"data source '{pipeline.data.type}' is a {task}"
    if pipeline.loss.TASK != task:
        fitting = _either([tags(cls)[0] for cls in optim.LOSSES if cls.TASK == task])
        kind = f"a {pipeline.loss.TASK} loss" if task == "classification" else f"for {pipeline.loss.TASK}"
        yield Problem(("loss",), f"{pipeline.loss.type} is {kind}, but {source}; use {fitting}")
    allowed = [tags(cls)[0] for cls in metrics.METRICS if cls.TASK == task]
    for index, metric in enumerate(pipeline.metrics):
        if metric.TASK != task:
            yield Problem(("metrics", index), f"{metric.type} does not apply: {source} "
                                              f"(its metrics: {', '.join(allowed)})")


def _balance_problems(pipeline: Pipeline, task: str, classes):
    """Class weights naming a class the data does not hold; balanced sampling of a regression."""
    weights = getattr(pipeline.loss, "class_weights", None)
    if isinstance(weights, dict) and classes:
        for name in weights:
            if name not in classes:
                yield Problem(("loss", "class_weights", name), f"no class {name!r} in the data (its classes: "
                                                               f"{', '.join(map(str, classes[:20]))})")
    recorded = [m.key for m in pipeline.scalar_metrics]
    if pipeline.headline is not None and pipeline.headline not in recorded:
        yield Problem(("headline",), f"{pipeline.headline!r} is not one of this pipeline's metrics "
                                     f"({', '.join(recorded) or 'none'}): add it to metrics:, or name one of them")
    if pipeline.threshold is not None and (task != "classification" or (classes and len(classes) != 2)):
        what = f"{len(classes)} classes" if task == "classification" and classes else f"a {task}"
        yield Problem(("threshold",), f"a decision threshold is for two classes (the probability of the rarer one); "
                                      f"data source '{pipeline.data.type}' gives {what}: remove threshold:")
    if pipeline.training.sampling == "balanced" and task != "classification":
        yield Problem(("training", "sampling"), f"balanced sampling draws each class as often as the others, but "
                                                f"data source '{pipeline.data.type}' is a {task}; remove sampling:")


def _either(names: list[str]) -> str:
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _softmax_problems(pipeline: Pipeline):
    """A softmax feeding a loss that applies its own squashes the scores twice."""
    if not pipeline.loss.SOFTMAX_INSIDE:
        return
    index = len(pipeline.model.layers) - 1
    last = pipeline.model.layers[index]
    if last.type == "softmax" or getattr(last, "activation", None) == "softmax":
        yield Problem(("model", "layers", index),
                      f"softmax before {pipeline.loss.type}: the loss applies log-softmax to the raw scores itself, "
                      "so a softmax here applies it twice and training stalls; remove it (the report still shows "
                      "the predicted probabilities)")


def recorded_keys(pipeline: Pipeline, task: str) -> list[str]:
    """The per-epoch history values a schedule or early stopping may watch."""
    scalars = [m.key for m in pipeline.scalar_metrics]
    return [key for key in history_columns(task, scalars) if key not in ("epoch", "lr", "time")]


def _monitor_problems(pipeline: Pipeline, task: str):
    """A schedule, early stopping, a sweep or a target that watches a value the run does not record."""
    watched = [(("scheduler", "monitor"), getattr(pipeline.scheduler, "monitor", None)),
               (("training", "early_stopping", "monitor"), getattr(pipeline.training.early_stopping, "monitor", None)),
               (("sweep", "metric"), getattr(pipeline.sweep, "metric", None)),
               *((("training", "stop_at", key), key) for key in pipeline.training.stop_at or {})]
    recorded = recorded_keys(pipeline, task)
    for path, monitor in watched:
        if monitor is not None and monitor not in recorded:
            yield Problem(path, f"'{monitor}' is not recorded by this pipeline (recorded: {', '.join(recorded)})")


def _range_warnings(pipeline: Pipeline, info):
    """An output activation that cannot reach the targets of a regression with a known true function."""
    if info.true_function is None or info.x_range is None:
        return
    index = len(pipeline.model.layers) - 1
    last = pipeline.model.layers[index]
    name = getattr(last, "activation", None) or last.type
    if name not in ACTIVATIONS:
        return
    low, high = ACTIVATIONS[name].range
    values = np.asarray(info.true_function(np.linspace(*info.x_range, 1001)))
    if values.min() < low or values.max() > high:
        yield Problem(("model", "layers", index), f"{name} outputs only values in [{low:g}, {high:g}] but the "
                      f"targets span [{values.min():.3g}, {values.max():.3g}]; the model cannot fit them. "
                      "End with a plain {type: linear, units: 1}", warning=True)


def _report_problems(pipeline: Pipeline):
    """report.charts: matplotlib where matplotlib is not installed: refused before training, not after it."""
    import importlib.util

    if pipeline.report.charts == "matplotlib" and importlib.util.find_spec("matplotlib") is None:
        yield Problem(("report", "charts"), "matplotlib is not installed: pip install 'dlpipe[plots]' (or charts: "
                                            "svg, the built-in drawing)")


def _augment_warnings(pipeline: Pipeline):
    """A flip that turns the images into something else (a mirrored 2 is no digit): allowed, said as a pitfall."""
    augment, data = getattr(pipeline.data, "augment", None), pipeline.data
    if augment is not None and augment.flip and augment.flip not in getattr(data, "FLIPS", (augment.flip,)):
        what = "digits" if data.type == "mnist" else f"{data.type} images"
        yield Problem(("data", "augment", "flip"), f"a {augment.flip} flip of {what} makes images the test set never "
                      "holds (a mirrored 2, 3 or 7 is no digit): the network spends capacity on them and may "
                      "confuse classes; shift, rotate or erase instead",
                      warning=True)


def _lr_warnings(pipeline: Pipeline):
    """A learning rate far outside what is usual for its optimizer (each optimizer declares its range)."""
    low, high = pipeline.optimizer.USUAL_LR
    rates = [(("optimizer", "lr"), pipeline.optimizer.lr)]
    if getattr(pipeline.scheduler, "max_lr", None):
        rates.append((("scheduler", "max_lr"), pipeline.scheduler.max_lr))
    for path, lr in rates:
        if lr < low / 10 or lr > high * 10:
            effect = "training will barely move" if lr < low / 10 else "training will likely diverge"
            yield Problem(path, f"{lr:g} is far outside the usual range for {pipeline.optimizer.type} "
                                f"({low:g} to {high:g}): {effect}", warning=True)
