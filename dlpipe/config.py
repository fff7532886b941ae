"""The pipeline language: frozen pydantic models, one discriminated union per section.

This module imports no torch, so `dlpipe validate`, `dlpipe schema` and editors
stay fast. Builders elsewhere turn these models into torch objects.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ActivationName = Literal["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "softmax"]
RegressionMetric = Literal["mse", "rmse", "mae", "r2"]
MetricName = RegressionMetric


class Section(BaseModel):
    """Base of every config model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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


DataConfig = Annotated[Union[SineData, PolynomialData, LinearData], Field(discriminator="type")]

# --- model -----------------------------------------------------------------


class LinearLayer(Section):
    """Fully connected layer; its input size is inferred from the previous layer."""

    type: Literal["linear"] = Field(description="Fully connected layer (torch.nn.Linear).")
    units: int = Field(ge=1, le=1_000_000, description="Number of output features.")
    activation: ActivationName | None = Field(None, description="Activation applied after the layer.")
    bias: bool = Field(True, description="Learn an additive bias.")


class ActivationLayer(Section):
    """An element-wise activation with no parameters."""

    type: Literal["relu", "tanh", "sigmoid", "gelu"] = Field(description="Activation function.")


class LeakyReLULayer(Section):
    """max(0, x) + negative_slope * min(0, x)."""

    type: Literal["leaky_relu"] = Field(description="Leaky ReLU activation.")
    negative_slope: float = Field(0.01, ge=0, description="Slope for negative inputs.")


class ELULayer(Section):
    """Exponential linear unit."""

    type: Literal["elu"] = Field(description="ELU activation.")
    alpha: float = Field(1.0, gt=0, description="Value the ELU approaches for large negative inputs.")


class SoftmaxLayer(Section):
    """Softmax over the feature dimension (not before cross_entropy, which applies its own)."""

    type: Literal["softmax"] = Field(description="Softmax over features.")


class DropoutLayer(Section):
    """Zeroes each input with probability `rate` during training only."""

    type: Literal["dropout"] = Field(description="Dropout regularisation.")
    rate: float = Field(0.5, ge=0, lt=1, description="Probability of zeroing an input, in [0, 1).")


class FlattenLayer(Section):
    """Flattens every sample to one feature vector (keeps the batch dimension)."""

    type: Literal["flatten"] = Field(description="Flatten to (N, features).")


LayerConfig = Annotated[
    Union[
        LinearLayer, ActivationLayer, LeakyReLULayer, ELULayer, SoftmaxLayer, DropoutLayer, FlattenLayer
    ],
    Field(discriminator="type"),
]


class ModelConfig(Section):
    """The network: a stack of layers applied in order."""

    layers: list[LayerConfig] = Field(min_length=1, description="Layers, first to last.")


# --- loss and optimizer ------------------------------------------------------


class MSELoss(Section):
    type: Literal["mse"] = Field(description="Mean squared error (regression).")


class L1Loss(Section):
    type: Literal["l1"] = Field(description="Mean absolute error (regression).")


class HuberLoss(Section):
    type: Literal["huber"] = Field(description="Huber loss: squared near zero, absolute beyond delta.")
    delta: float = Field(1.0, gt=0, description="Where the loss turns from squared to linear.")


class CrossEntropyLoss(Section):
    type: Literal["cross_entropy"] = Field(description="Cross-entropy on logits (classification).")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing in [0, 1).")


LossConfig = Annotated[Union[MSELoss, L1Loss, HuberLoss, CrossEntropyLoss], Field(discriminator="type")]



def _weight_decay() -> Any:
    return Field(0.0, ge=0, description="L2 penalty added by the optimizer.")


class SGD(Section):
    type: Literal["sgd"] = Field(description="Stochastic gradient descent.")
    lr: float = Field(1.0e-2, gt=0, le=10, description="Learning rate.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum factor in [0, 1).")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0).")
    weight_decay: float = _weight_decay()

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGD:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0 (for example momentum: 0.9)")
        return self


class Adam(Section):
    type: Literal["adam"] = Field(description="Adam.")
    lr: float = Field(1.0e-3, gt=0, le=10, description="Learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Decay rates of the moment estimates.")
    weight_decay: float = _weight_decay()


class AdamW(Section):
    type: Literal["adamw"] = Field(description="Adam with decoupled weight decay.")
    lr: float = Field(1.0e-3, gt=0, le=10, description="Learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Decay rates of the moment estimates.")
    weight_decay: float = Field(1.0e-2, ge=0, description="Decoupled weight decay.")


class RMSprop(Section):
    type: Literal["rmsprop"] = Field(description="RMSprop.")
    lr: float = Field(1.0e-3, gt=0, le=10, description="Learning rate.")
    alpha: float = Field(0.99, gt=0, lt=1, description="Smoothing constant of the squared-gradient average.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum factor in [0, 1).")
    weight_decay: float = _weight_decay()


OptimizerConfig = Annotated[Union[SGD, Adam, AdamW, RMSprop], Field(discriminator="type")]

# --- training and the whole pipeline -----------------------------------------


class Training(Section):
    """How long and in what batches to train."""

    epochs: int = Field(10, ge=1, le=100_000, description="Passes over the training split.")
    batch_size: int = Field(32, ge=1, description="Samples per gradient step.")
    shuffle: bool = Field(True, description="Draw a new random order of the training samples every epoch.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available, else cpu.")


DEFAULT_LOSS = {"regression": "mse"}
DEFAULT_METRICS = {"regression": ["mse", "rmse", "mae", "r2"]}
DATA_TASKS = {"sine": "regression", "polynomial": "regression", "linear": "regression"}
SECTIONS_WITH_SHORTHAND = ("loss", "optimizer")


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
    loss: LossConfig = Field(description="Loss to minimise (default: mse for regression).")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: Adam(type="adam"), description="Optimizer (default: adam, lr 1.0e-3)."
    )
    training: Training = Field(default_factory=Training, description="Epochs, batch size, device.")
    metrics: list[MetricName] = Field(description="Metrics on validation every epoch and on test at the end.")

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
        task = DATA_TASKS.get(data.get("type")) if isinstance(data, dict) else None
        if task:
            raw.setdefault("loss", {"type": DEFAULT_LOSS[task]})
            raw.setdefault("metrics", list(DEFAULT_METRICS[task]))
        return raw

    @property
    def task(self) -> str:
        """'regression' or 'classification', decided by the data source."""
        return self.data.TASK
