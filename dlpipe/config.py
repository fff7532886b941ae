"""The pipeline language: frozen pydantic models, one discriminated union per section.

This module imports no torch, so `dlpipe validate`, `dlpipe schema` and editors
stay fast. Builders elsewhere turn these models into torch objects.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from dlpipe.config_layers import ModelConfig, Section
from dlpipe.config_optim import Adam, LossConfig, OptimizerConfig, SchedulerConfig

RegressionMetric = Literal["mse", "rmse", "mae", "r2"]
ClassificationMetric = Literal["accuracy", "top_k_accuracy", "precision", "recall", "f1", "confusion_matrix"]
REGRESSION_METRICS = RegressionMetric.__args__
CLASSIFICATION_METRICS = ClassificationMetric.__args__


# --- data ------------------------------------------------------------------


class Split(Section):
    """Fractions of the samples for training, validation and test; they sum to 1."""

    train: float = Field(0.7, gt=0, lt=1, description="Fraction of samples used for training.")
    validation: float = Field(0.15, gt=0, lt=1, description="Fraction used for validation each epoch.")
    test: float = Field(0.15, gt=0, lt=1, description="Fraction held out for the final test metrics.")

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + validation + test must be 1 (got {total:g})")
        return self


class SyntheticData(Section):
    """Fields shared by the synthetic regression sources: y = f(x) + noise."""

    TASK: ClassVar[str] = "regression"
    samples: int = Field(1000, ge=10, le=10_000_000, description="Number of (x, y) samples to draw.")
    x_range: tuple[float, float] = Field(
        (-math.pi, math.pi), description="[low, high]: x is drawn uniformly from this interval."
    )
    noise: float = Field(0.05, ge=0, description="Standard deviation of Gaussian noise added to y.")
    split: Split = Field(default_factory=Split, description="Train/validation/test fractions.")

    @field_validator("x_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError(f"x_range must be [low, high] with low < high (got {list(value)})")
        return value


class SineData(SyntheticData):
    """y = amplitude * sin(frequency * x + phase) + noise."""

    type: Literal["sine"] = Field(description="Sine wave regression.")
    amplitude: float = Field(1.0, description="Peak height of the sine.")
    frequency: float = Field(1.0, description="Angular frequency (radians per unit of x).")
    phase: float = Field(0.0, description="Phase shift in radians.")


class PolynomialData(SyntheticData):
    """y = c0 + c1 x + c2 x^2 + ... + noise."""

    type: Literal["polynomial"] = Field(description="Polynomial regression.")
    coefficients: list[float] = Field(
        min_length=1, description="Coefficients, lowest power first: [10, 0, 0, 5] is 5x^3 + 10."
    )


class LinearData(SyntheticData):
    """y = w x + b + noise: the simplest regression there is."""

    type: Literal["linear"] = Field(description="Straight-line regression.")
    w: float = Field(2.0, description="True slope.")
    b: float = Field(1.0, description="True intercept.")


class ImageData(Section):
    """Fields shared by the IDX image datasets (MNIST and Fashion-MNIST)."""

    TASK: ClassVar[str] = "classification"
    root: str | None = Field(None, description="Folder holding the four IDX files; searched first.")
    validation: Union[int, float] = Field(
        5000, gt=0, description="Validation images carved from the training set: a count, or a fraction < 1.")
    limit: int | None = Field(
        None, ge=10, description="Train on this many training images only (class-balanced), for quick runs.")
    normalize: bool = Field(True, description="Scale pixels to zero mean, unit std (the training set's).")
    download: bool = Field(True, description="Download missing files (checksums verified) when online.")

    @field_validator("validation")
    @classmethod
    def _count_or_fraction(cls, value: Union[int, float]) -> Union[int, float]:
        if isinstance(value, float) and not value < 1:
            raise ValueError(f"validation is a count (an integer) or a fraction below 1 (got {value})")
        return value


class MNISTData(ImageData):
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, 10 classes."""

    type: Literal["mnist"] = Field(description="MNIST digits.")


class FashionMNISTData(ImageData):
    """Fashion-MNIST clothing: same format as MNIST, 10 kinds of garment."""

    type: Literal["fashion_mnist"] = Field(description="Fashion-MNIST clothing images.")


DataConfig = Annotated[
    Union[SineData, PolynomialData, LinearData, MNISTData, FashionMNISTData], Field(discriminator="type")
]

# --- model: layers live in config_layers.py ------------------------------------


# --- loss, optimizer and schedule live in config_optim.py ----------------------


class TopKAccuracy(Section):
    """Fraction of samples whose true class is among the k highest scores."""

    type: Literal["top_k_accuracy"] = Field(description="Top-k accuracy.")
    k: int = Field(5, ge=1, description="How many of the highest scores count as a hit.")


MetricConfig = Union[RegressionMetric, ClassificationMetric, TopKAccuracy]


def metric_key(metric: MetricConfig) -> str:
    """The name a metric has in the history and in metrics.json (top_k_accuracy -> top5_accuracy)."""
    if isinstance(metric, TopKAccuracy):
        return f"top{metric.k}_accuracy"
    return "top5_accuracy" if metric == "top_k_accuracy" else metric


class EarlyStopping(Section):
    """Stop when a recorded value stops improving, and keep the best weights."""

    monitor: str = Field("val_loss", description="History key to watch, e.g. val_loss or val_accuracy.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="min: lower is better; max: higher is better; auto: max for accuracy-like keys.")
    patience: int = Field(10, ge=1, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")
    restore_best: bool = Field(True, description="End with the weights of the best epoch.")


class Training(Section):
    """How long and in what batches to train, and on what."""

    epochs: int = Field(10, ge=1, le=100_000, description="Passes over the training split.")
    batch_size: int = Field(32, ge=1, description="Samples per gradient step.")
    shuffle: bool = Field(True, description="Draw a new random order of the training samples every epoch.")
    early_stopping: EarlyStopping | None = Field(None, description="Stop when the monitored value stalls.")
    clip_grad_norm: float | None = Field(None, gt=0, description="Rescale gradients whose total norm exceeds this.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="auto: cuda when available, else mps (Apple), else cpu.")
    threads: int | None = Field(None, ge=1, le=1024, description="CPU threads (default: every core this process may use).")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: autocast matrix products to bfloat16 (faster on recent CPUs and GPUs).")


DEFAULT_LOSS = {"regression": "mse", "classification": "cross_entropy"}
DEFAULT_METRICS = {"regression": ["mse", "rmse", "mae", "r2"], "classification": ["accuracy", "f1"]}
DATA_TASKS = {"sine": "regression", "polynomial": "regression", "linear": "regression",
              "mnist": "classification", "fashion_mnist": "classification"}
SECTIONS_WITH_SHORTHAND = ("loss", "optimizer", "scheduler")


def _expand_shorthand(value: Any) -> Any:
    """`loss: mse` means `loss: {type: mse}`; the same for layers and optimizers."""
    return {"type": value} if isinstance(value, str) else value


class Pipeline(Section):
    """One experiment: data, model, loss, optimizer, training settings and metrics."""

    name: str = Field("pipeline", min_length=1, max_length=100, description="Run name; names the report folder.")
    description: str = Field("", description="One line shown at the top of the report.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for data, initial weights and batch order.")
    data: DataConfig = Field(description="Where the samples come from.")
    model: ModelConfig = Field(description="The network.")
    loss: LossConfig = Field(description="Loss to minimise (default: mse for regression, cross_entropy for classification).")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: Adam(type="adam"), description="Optimizer (default: adam, lr 1.0e-3)."
    )
    scheduler: SchedulerConfig | None = Field(None, description="Learning-rate schedule (default: constant lr).")
    training: Training = Field(default_factory=Training, description="Epochs, batch size, device.")
    metrics: list[MetricConfig] = Field(
        description="Metrics on validation every epoch and on test at the end (regression: mse, rmse, mae, r2; "
                    "classification: accuracy, top_k_accuracy, precision, recall, f1, confusion_matrix).")

    @model_validator(mode="before")
    @classmethod
    def _shorthands_and_task_defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        for key in SECTIONS_WITH_SHORTHAND:
            if key in raw:
                raw[key] = _expand_shorthand(raw[key])
        model = raw.get("model")
        if isinstance(model, dict) and isinstance(model.get("layers"), list):
            raw["model"] = {**model, "layers": [_expand_shorthand(layer) for layer in model["layers"]]}
        data = raw.get("data")
        kind = data.get("type") if isinstance(data, dict) else None
        task = DATA_TASKS.get(kind) if isinstance(kind, str) else None
        if task:
            raw.setdefault("loss", {"type": DEFAULT_LOSS[task]})
            raw.setdefault("metrics", list(DEFAULT_METRICS[task]))
        return raw

    @property
    def metric_keys(self) -> list[str]:
        """History names of the configured metrics, in order, without duplicates."""
        return list(dict.fromkeys(metric_key(m) for m in self.metrics))

    @property
    def task(self) -> str:
        """'regression' or 'classification', decided by the data source."""
        return self.data.TASK
