"""Activations and initialisation in the pipeline language (torch-free): every fact about an activation, and `init:`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from dlpipe.language.section import Section


@dataclass(frozen=True)
class Activation:
    """Every fact about an activation that a stage needs; its torch module is built in dlpipe/model/layers.py.

    range: what it can output (the check of a regression's output layer; saturation is judged
    against it). gain: its name for torch.nn.init.calculate_gain (gelu and elu pass positive
    inputs like a ReLU; softmax keeps the scale). dies: units can stop firing for good (dead
    ReLUs). saturates: outputs pile up at the ends of its range (tanh, sigmoid).
    """

    range: tuple[float, float]
    gain: str
    dies: bool = False
    saturates: bool = False


ACTIVATIONS = {
    "relu": Activation((0.0, math.inf), "relu", dies=True),
    "tanh": Activation((-1.0, 1.0), "tanh", saturates=True),
    "sigmoid": Activation((0.0, 1.0), "sigmoid", saturates=True),
    "gelu": Activation((-0.17, math.inf), "relu"),
    "leaky_relu": Activation((-math.inf, math.inf), "leaky_relu"),
    "elu": Activation((-1.0, math.inf), "relu"),
    "softmax": Activation((0.0, 1.0), "linear"),
}
ActivationName = Literal[tuple(ACTIVATIONS)]  # the `activation:` of a linear or conv2d layer


InitScheme = Literal["default", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                     "orthogonal", "normal", "uniform", "zeros"]
# The settings each scheme reads; any other setting given with it is an error (it would be silently ignored).
INIT_SETTINGS = {"default": (), "kaiming_normal": ("a",), "kaiming_uniform": ("a",), "xavier_normal": ("gain",),
                 "xavier_uniform": ("gain",), "orthogonal": ("gain",), "normal": ("std",), "uniform": ("a",),
                 "zeros": ()}


class Init(Section):
    """How a layer's weights and bias start; `init: xavier_normal` is short for `init: {weights: xavier_normal}`."""

    weights: InitScheme = Field("default", description=(
        "default: PyTorch's (kaiming_uniform with a=sqrt(5): uniform in +-1/sqrt(fan_in)); kaiming_*/xavier_*/"
        "orthogonal take their gain from the layer's activation; normal: N(0, std^2); uniform: U(-a, a); zeros."))
    std: float | None = Field(None, gt=0, description="normal: standard deviation (default 0.05).")
    a: float | None = Field(None, ge=0, description=(
        "uniform: the bound (default 0.05); kaiming_*: the negative slope of a leaky ReLU (default: the layer's)."))
    gain: float | None = Field(None, gt=0, description=(
        "xavier_*/orthogonal: scale factor (default: torch.nn.init.calculate_gain of the layer's activation)."))
    bias: Literal["default", "zeros", "constant"] = Field("default", description=(
        "default: PyTorch's (uniform in +-1/sqrt(fan_in)); zeros; constant: bias_value."))
    bias_value: float = Field(0.0, description="The bias of every unit when bias is constant.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw):
        return {"weights": raw} if isinstance(raw, str) else raw

    @model_validator(mode="after")
    def _settings_apply(self) -> "Init":
        for key in ("std", "a", "gain"):
            if getattr(self, key) is not None and key not in INIT_SETTINGS[self.weights]:
                users = [name for name, keys in INIT_SETTINGS.items() if key in keys]
                raise ValueError(f"{key} is not used by weights: {self.weights} (it applies to {', '.join(users)})")
        if self.bias_value != 0.0 and self.bias != "constant":
            raise ValueError("bias_value is used only with bias: constant")
        return self


def init_field():
    return Field(None, description="Initial weights and bias (default: model.init, else PyTorch's).")
