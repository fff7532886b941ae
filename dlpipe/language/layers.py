"""Layer sections of the pipeline language (torch-free): one config class per layer, and the LAYERS table.

Adding a layer: a class here, added to LAYERS, and its builder in dlpipe/model/layers.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

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


def _init_field():
    return Field(None, description="Initial weights and bias (default: model.init, else PyTorch's).")


class LinearLayer(Section):
    """Fully connected layer; its input size is inferred from the previous layer."""

    type: Literal["linear"] = Field(description="Fully connected layer (torch.nn.Linear).")
    units: int = Field(ge=1, le=1_000_000, description="Number of output features.")
    activation: ActivationName | None = Field(None, description="Activation applied after the layer.")
    bias: bool = Field(True, description="Learn an additive bias.")
    init: Init | None = _init_field()


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


Size2 = Union[int, tuple[int, int]]


class Conv2dLayer(Section):
    """2-D convolution over (channels, height, width); input channels are inferred."""

    type: Literal["conv2d"] = Field(description="2-D convolution (torch.nn.Conv2d).")
    filters: int = Field(ge=1, le=100_000, description="Number of output channels.")
    kernel_size: Size2 = Field(3, description="Kernel size: n or [height, width].")
    stride: Size2 = Field(1, description="Step between kernel positions.")
    padding: Union[Size2, Literal["same", "valid"]] = Field(
        0, description="Zero padding: n, [h, w], 'same' (keep size, stride 1) or 'valid' (none).")
    activation: ActivationName | None = Field(None, description="Activation applied after the convolution.")
    bias: bool = Field(True, description="Learn an additive bias per filter.")
    init: Init | None = _init_field()


class Pool2dLayer(Section):
    """Max or average pooling over height and width."""

    type: Literal["maxpool2d", "avgpool2d"] = Field(description="2-D max or average pooling.")
    kernel_size: Size2 = Field(2, description="Pooling window: n or [height, width].")
    stride: Size2 | None = Field(None, description="Step between windows (default: kernel_size).")
    padding: Size2 = Field(0, description="Zero padding on each side.")


class BatchNormLayer(Section):
    """Batch normalisation; 1-D for (N, features) input, 2-D for (N, C, H, W)."""

    type: Literal["batchnorm"] = Field(description="Batch normalisation (1d or 2d, from the input shape).")
    momentum: float = Field(0.1, gt=0, le=1, description="Weight of each batch in the running statistics.")
    eps: float = Field(1.0e-5, gt=0, description="Added to the variance for numerical stability.")


class ReshapeLayer(Section):
    """Reshape every sample (the batch dimension is kept); one size may be -1."""

    type: Literal["reshape"] = Field(description="Reshape each sample to `shape`.")
    shape: list[int] = Field(min_length=1, description="Target shape without the batch dimension, e.g. [1, 28, 28].")


# The layer registry: the union of `model.layers` items and the builders' table follow this tuple.
LAYERS = (LinearLayer, ActivationLayer, LeakyReLULayer, ELULayer, SoftmaxLayer, DropoutLayer, FlattenLayer,
          Conv2dLayer, Pool2dLayer, BatchNormLayer, ReshapeLayer)
