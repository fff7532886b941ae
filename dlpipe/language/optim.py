"""Loss, optimizer and learning-rate schedule sections of the pipeline language (torch-free).

Three registries: LOSSES, OPTIMIZERS and SCHEDULERS. Each class declares its facts
beside its fields (a loss its task, an optimizer its usual learning rates, a schedule
whether it steps every batch); the builders live in dlpipe/engine/.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from dlpipe.language.metrics import wants_higher
from dlpipe.language.section import Section


class Loss(Section):
    """A loss: TASK says which kind of data it fits; DEFAULT_FOR makes it the default loss of that task."""

    TASK: ClassVar[str]
    DEFAULT_FOR: ClassVar[str | None] = None
    SOFTMAX_INSIDE: ClassVar[bool] = False  # takes raw scores and applies (log-)softmax itself


class MSELoss(Loss):
    TASK = DEFAULT_FOR = "regression"
    type: Literal["mse"] = Field(description="Mean squared error (regression).")


class L1Loss(Loss):
    TASK = "regression"
    type: Literal["l1"] = Field(description="Mean absolute error (regression).")


class HuberLoss(Loss):
    TASK = "regression"
    type: Literal["huber"] = Field(description="Huber loss: squared near zero, absolute beyond delta.")
    delta: float = Field(1.0, gt=0, description="Where the loss turns from squared to linear.")


class CrossEntropyLoss(Loss):
    TASK = DEFAULT_FOR = "classification"
    SOFTMAX_INSIDE = True
    type: Literal["cross_entropy"] = Field(description="Cross-entropy on logits (classification).")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing in [0, 1).")
    class_weights: Literal["balanced"] | dict[str, float] | None = Field(None, description=(
        "Weigh each class's rows in the training loss: balanced (rows / (classes x the class's rows), as "
        "scikit-learn and Keras do), or {class name: weight}; a rare class then counts as much as a common one. "
        "The validation and test loss stay unweighted, so runs with and without weights compare."))

    @field_validator("class_weights", mode="before")
    @classmethod
    def _names_not_booleans(cls, value: Any) -> Any:
        if isinstance(value, dict) and any(isinstance(key, bool) for key in value):
            raise ValueError("a class name was read as true or false (YAML reads Yes, No, On, Off, true and false "
                             "unquoted as booleans): quote it, e.g. {'Yes': 6.0}")
        return value

    @model_validator(mode="after")
    def _positive_weights(self) -> CrossEntropyLoss:
        if isinstance(self.class_weights, dict):
            bad = {k: v for k, v in self.class_weights.items() if not 0 < v < float("inf")}
            if bad or not self.class_weights:
                raise ValueError(f"class_weights: every weight is a positive number (got {bad or 'none'})")
        return self


LOSSES = (MSELoss, L1Loss, HuberLoss, CrossEntropyLoss)


def _weight_decay() -> Any:
    return Field(0.0, ge=0, description="L2 penalty added by the optimizer.")


class Optimizer(Section):
    """An optimizer: USUAL_LR is the learning-rate range people use with it (10x outside gets a warning)."""

    USUAL_LR: ClassVar[tuple[float, float]]  # every optimizer also has an `lr` field


class SGD(Optimizer):
    USUAL_LR = (1.0e-3, 1.0)
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


class Adam(Optimizer):
    USUAL_LR = (1.0e-5, 3.0e-3)
    type: Literal["adam"] = Field(description="Adam.")
    lr: float = Field(1.0e-3, gt=0, le=10, description="Learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Decay rates of the moment estimates.")
    weight_decay: float = _weight_decay()


class AdamW(Optimizer):
    USUAL_LR = (1.0e-5, 3.0e-3)
    type: Literal["adamw"] = Field(description="Adam with decoupled weight decay.")
    lr: float = Field(1.0e-3, gt=0, le=10, description="Learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Decay rates of the moment estimates.")
    weight_decay: float = Field(1.0e-2, ge=0, description="Decoupled weight decay.")


class RMSprop(Optimizer):
    USUAL_LR = (1.0e-5, 3.0e-3)
    type: Literal["rmsprop"] = Field(description="RMSprop.")
    lr: float = Field(1.0e-3, gt=0, le=10, description="Learning rate.")
    alpha: float = Field(0.99, gt=0, lt=1, description="Smoothing constant of the squared-gradient average.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum factor in [0, 1).")
    weight_decay: float = _weight_decay()


OPTIMIZERS = (SGD, Adam, AdamW, RMSprop)


class Scheduler(Section):
    """A learning-rate schedule: PER_BATCH ones step after every batch, the others after every epoch."""

    PER_BATCH: ClassVar[bool] = False


class Schedule(Scheduler):
    """Fields shared by the epoch schedules: an optional linear warmup first."""

    warmup_epochs: int = Field(0, ge=0, description="Epochs of linear warmup from a small lr to the optimizer's lr.")


class StepSchedule(Schedule):
    type: Literal["step"] = Field(description="Multiply the lr by gamma every step_size epochs.")
    step_size: int = Field(ge=1, description="Epochs between decays.")
    gamma: float = Field(0.1, gt=0, le=1, description="Factor applied at each decay.")


class MultiStepSchedule(Schedule):
    type: Literal["multistep"] = Field(description="Multiply the lr by gamma at each milestone epoch.")
    milestones: list[int] = Field(min_length=1, description="Epochs (after warmup) at which to decay.")
    gamma: float = Field(0.1, gt=0, le=1, description="Factor applied at each milestone.")


class ExponentialSchedule(Schedule):
    type: Literal["exponential"] = Field(description="Multiply the lr by gamma after every epoch.")
    gamma: float = Field(0.95, gt=0, le=1, description="Factor applied every epoch.")


class CosineSchedule(Schedule):
    type: Literal["cosine"] = Field(description="Cosine decay from the lr to min_lr over the training.")
    min_lr: float = Field(0.0, ge=0, description="Learning rate reached at the last epoch.")


class OneCycleSchedule(Scheduler):
    PER_BATCH = True
    type: Literal["onecycle"] = Field(description="Rise to max_lr, then anneal far below it, stepped every batch.")
    max_lr: float | None = Field(None, gt=0, description="Peak learning rate (default: the optimizer's lr).")
    pct_start: float = Field(0.3, gt=0, lt=1, description="Fraction of the steps spent rising.")


class PlateauSchedule(Schedule):
    type: Literal["reduce_on_plateau"] = Field(description="Cut the lr when a metric stops improving.")
    monitor: str = Field("val_loss", description="History key to watch, e.g. val_loss or val_accuracy.")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="min: lower is better; max: higher is better; auto: as the watched metric declares.")
    factor: float = Field(0.1, gt=0, lt=1, description="Factor applied to the lr on a plateau.")
    patience: int = Field(5, ge=0, description="Epochs without improvement before cutting.")
    min_lr: float = Field(0.0, ge=0, description="The lr is never cut below this.")

    @property
    def higher_is_better(self) -> bool:
        return wants_higher(self.mode, self.monitor)



SCHEDULERS = (StepSchedule, MultiStepSchedule, ExponentialSchedule, CosineSchedule, OneCycleSchedule, PlateauSchedule)
