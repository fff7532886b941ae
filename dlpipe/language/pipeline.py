"""The whole pipeline: training settings, and the Pipeline model assembled from the registries.

`pipeline_model()` builds the pydantic model from the registry tables (DATA_SOURCES,
LAYERS, LOSSES, OPTIMIZERS, SCHEDULERS, METRICS), so a class added to a table is in the
language, the errors and the JSON Schema with nothing else to edit. This module imports
no torch, so `dlpipe validate`, `dlpipe schema` and editors stay fast.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, create_model, field_validator, model_validator

from dlpipe.language import activations, data, layers, metrics, optim
from dlpipe.language.metrics import Metric
from dlpipe.language.section import Section, expand_shorthand, tagged_union, tags
from dlpipe.language.sweep import Sweep
from dlpipe.language.tracking import Tracking

SECTIONS_WITH_SHORTHAND = ("loss", "optimizer", "scheduler")


class EarlyStopping(Section):
    """Stop when a recorded value stops improving, and keep the best weights."""

    monitor: str = Field("val_loss", description="History key to watch, e.g. val_loss or val_accuracy.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="min: lower is better; max: higher is better; auto: as the watched metric declares.")
    patience: int = Field(10, ge=1, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")
    restore_best: bool = Field(True, description="End with the weights of the best epoch.")

    @property
    def higher_is_better(self) -> bool:
        return metrics.wants_higher(self.mode, self.monitor)



class Training(Section):
    """How long and in what batches to train, and on what."""

    epochs: int = Field(10, ge=1, le=100_000, description="Passes over the training split.")
    batch_size: int = Field(32, ge=1, description="Samples per gradient step (per micro-batch with accumulate).")
    accumulate: int = Field(1, ge=1, le=4096, description=(
        "Gradient accumulation: the gradients of this many batches are summed before each optimizer step, so the "
        "effective batch is batch_size x accumulate in the memory of one batch (the schedule steps once per "
        "effective batch; batch norm still normalizes each micro-batch)."))
    shuffle: bool = Field(True, description="Draw a new random order of the training samples every epoch.")
    sampling: Literal["uniform", "balanced"] = Field("uniform", description=(
        "uniform: every training row once an epoch; balanced (classification): an epoch's rows drawn with "
        "replacement so that each class comes up as often as any other. Validation and test are never resampled."))
    early_stopping: EarlyStopping | None = Field(None, description="Stop when the monitored value stalls.")
    clip_grad_norm: float | None = Field(None, gt=0, description="Rescale gradients whose total norm exceeds this.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="auto: cuda when available, else mps (Apple), else cpu.")
    threads: int | None = Field(None, ge=1, le=1024, description=(
        "CPU threads, fixed (default: as many as the work per step can use and other programs leave free, "
        "followed as their load changes; a fixed number makes results bit-identical between machines)."))
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description=(
        "bf16: autocast matrix products to bfloat16 (faster on recent CPUs and GPUs); fp16: to float16 with a "
        "gradient scaler (CUDA GPUs only: refused on a CPU)."))
    stop_at: dict[str, float] | None = Field(None, max_length=20, description=(
        "End the run once every recorded value here reaches its target, e.g. {val_accuracy: 0.98} (at least "
        "0.98; a loss: at most); the report says the epoch and training time each was first reached."))

    @field_validator("stop_at")
    @classmethod
    def _targets_have_a_direction(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, target in (value or {}).items():
            metrics.higher_is_better(key)  # UnknownDirection (a ValueError) names the known values
            if not math.isfinite(target):
                raise ValueError(f"{key}: {target} is not a finite number")
        return value


class ReportSettings(Section):
    """How the run's report draws its charts."""

    charts: Literal["svg", "matplotlib"] = Field("svg", description=(
        "svg: dlpipe's own inline SVG (milliseconds, no dependency); matplotlib: the same charts drawn by "
        "matplotlib (the plots extra), embedded as SVG, in the look of a notebook's figures."))


class ModelConfig(Section):
    """The network: a stack of layers applied in order (the `layers` field comes from the LAYERS table)."""

    init: activations.Init | None = Field(None, description=(
        "Initial weights and bias of every linear and conv2d layer without its own init (default: PyTorch's)."))


class Pipeline(Section):
    """One experiment: data, model, loss, optimizer, training settings and metrics.

    The sections that are registries (data, model.layers, loss, optimizer, scheduler,
    metrics) are added by `pipeline_model()`; validate with `pipeline_model()`, not this base.
    """

    name: str = Field("pipeline", min_length=1, max_length=100, description="Run name; names the report folder.")
    description: str = Field("", description="One line shown at the top of the report.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for data, initial weights and batch order.")
    sweep: Sweep | None = Field(None, description="A hyperparameter search for `dlpipe sweep` (ignored by run).")
    headline: str | None = Field(None, description=(
        "The metric that sums the run up (a key of metrics:, e.g. f1): what `dlpipe runs` shows, what the verdict "
        "compares with the baselines and what a sweep optimises by default. Default: the task's (accuracy, r2), or "
        "balanced_accuracy (macro F1 beyond two classes) when the classes are imbalanced."))
    threshold: Union[Literal["auto"], Annotated[float, Field(gt=0, lt=1)], None] = Field(None, description=(
        "Two classes: the probability of the rarer class from which it is predicted, or auto: the threshold of "
        "0.01 to 0.99 that scores the run's headline metric best on the validation split. Saved with the model "
        "and applied by predict, evaluate and the Python API; the probabilities do not change."))
    tracking: Tracking | None = Field(None, description=(
        "Also log the run to MLflow and/or TensorBoard: {mlflow: {uri: URI, experiment: NAME}, tensorboard: "
        "{dir: DIR}}; the archive stays the record."))
    report: ReportSettings = Field(default_factory=lambda: ReportSettings(), description=(
        "How the report is drawn: {charts: svg} (built in, milliseconds) or {charts: matplotlib} (the plots extra)."))

    @model_validator(mode="before")
    @classmethod
    def _shorthands_and_task_defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        for key in SECTIONS_WITH_SHORTHAND:
            if key in raw:
                raw[key] = expand_shorthand(raw[key])
        if isinstance(raw.get("metrics"), list):
            raw["metrics"] = [expand_shorthand(metric) for metric in raw["metrics"]]
        model = raw.get("model")
        if isinstance(model, dict) and isinstance(model.get("layers"), list):
            raw["model"] = {**model, "layers": [expand_shorthand(layer) for layer in model["layers"]]}
        task = _task_of(raw.get("data"))
        loss = next((cls for cls in optim.LOSSES if cls.DEFAULT_FOR == task), None)
        if loss is not None:
            raw.setdefault("loss", {"type": tags(loss)[0]})
            raw.setdefault("metrics", [{"type": name} for name in metrics.defaults(task)])
        sweep = raw.get("sweep")
        if isinstance(sweep, dict) and "metric" not in sweep and loss is not None and isinstance(raw["metrics"], list):
            keys = [m.get("type") if isinstance(m, dict) else m for m in raw["metrics"]]
            named = raw.get("headline")
            raw["sweep"] = {**sweep, "metric": f"val_{named}" if isinstance(named, str) else
                            metrics.objective(task, [k for k in keys if isinstance(k, str)])}
        return raw

    @property
    def scalar_metrics(self) -> list[Metric]:
        """The configured metrics that are one number per epoch, in order, without duplicate keys."""
        unique = {m.key: m for m in self.metrics if m.HIGHER_IS_BETTER is not None}
        return list(unique.values())

    @property
    def metric_keys(self) -> list[str]:
        """History names of the configured metrics, in order, without duplicates."""
        return list(dict.fromkeys(m.key for m in self.metrics))

    @property
    def task(self) -> str:
        """'regression' or 'classification' ('auto' only in a pipeline loaded without decide_task)."""
        return self.data.task_name


def source_class(raw_data: Any) -> type[data.DataSource] | None:
    """The registered config class a raw `data:` mapping names by its type, if any."""
    kind = raw_data.get("type") if isinstance(raw_data, dict) else None
    return next((cls for cls in data.DATA_SOURCES if kind in tags(cls)), None) if isinstance(kind, str) else None


def _task_of(raw_data: Any) -> str | None:
    """The task a `data:` mapping declares through its type (or its task: key), before validation."""
    source = source_class(raw_data)
    return source.declared_task(raw_data) if source is not None else None


def pipeline_model() -> type[Pipeline]:
    """The Pipeline model for the classes registered now (cached; rebuilt only when a table changes)."""
    return _assemble(data.DATA_SOURCES, layers.LAYERS, optim.LOSSES, optim.OPTIMIZERS, optim.SCHEDULERS,
                     metrics.METRICS)


@functools.lru_cache(maxsize=8)
def _assemble(sources, layer_table, losses, optimizers, schedulers, metric_table) -> type[Pipeline]:
    model = create_model("ModelConfig", __base__=ModelConfig, __module__=__name__,
                         layers=(list[tagged_union(layer_table)],
                                 Field(min_length=1, description="Layers, first to last.")))
    by_task = "; ".join(f"{task}: " + ", ".join(tags(c)[0] for c in metric_table if c.TASK == task)
                        for task in dict.fromkeys(c.TASK for c in metric_table))
    return create_model(
        "Pipeline", __base__=Pipeline, __module__=__name__,
        data=(tagged_union(sources), Field(description="Where the samples come from.")),
        model=(model, Field(description="The network.")),
        loss=(tagged_union(losses), Field(
            description="Loss to minimise (default: mse for regression, cross_entropy for classification).")),
        optimizer=(tagged_union(optimizers), Field(
            default_factory=lambda: optim.Adam(type="adam"),
            description="Optimizer (default: adam, lr 1.0e-3).")),
        scheduler=(Optional[tagged_union(schedulers)], Field(
            None, description="Learning-rate schedule (default: constant lr).")),
        training=(Training, Field(default_factory=Training, description="Epochs, batch size, device.")),
        metrics=(list[tagged_union(metric_table)], Field(
            description=f"Metrics on validation every epoch and on test at the end ({by_task}).")),
    )
