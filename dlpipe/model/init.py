"""Initial weights: one function per `init.weights` scheme, in the SCHEMES table.

The gain of kaiming, xavier and orthogonal follows the activation that comes after
the layer (its own `activation:`, or an activation layer right after it), so a tanh
layer gets gain 5/3 and a ReLU layer sqrt(2) without anyone writing it.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from dlpipe.language.activations import ACTIVATIONS, Init

DEFAULT_STD = DEFAULT_BOUND = 0.05  # Keras's RandomNormal / RandomUniform defaults


def gain_name(activation: str | None) -> str:
    """calculate_gain's name for the activation after a layer (none: linear), as the activation declares."""
    return ACTIVATIONS[activation].gain if activation is not None else "linear"


def _gain(init: Init, activation: str | None, slope: float) -> float:
    return init.gain if init.gain is not None else nn.init.calculate_gain(gain_name(activation), slope)


def _kaiming(fill: Callable) -> Callable:
    def apply(weight: torch.Tensor, init: Init, activation: str | None, slope: float) -> None:
        name = gain_name(activation)
        # kaiming on a layer with no activation: torch's own choice, the gain of leaky_relu with a = 0 (a ReLU).
        name = "leaky_relu" if name == "linear" else name
        fill(weight, a=init.a if init.a is not None else slope, nonlinearity=name)
    return apply


SCHEMES: dict[str, Callable[[torch.Tensor, Init, str | None, float], None] | None] = {
    "default": None,  # PyTorch's reset_parameters: kaiming_uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in))
    "kaiming_normal": _kaiming(nn.init.kaiming_normal_),
    "kaiming_uniform": _kaiming(nn.init.kaiming_uniform_),
    "xavier_normal": lambda w, init, act, slope: nn.init.xavier_normal_(w, gain=_gain(init, act, slope)),
    "xavier_uniform": lambda w, init, act, slope: nn.init.xavier_uniform_(w, gain=_gain(init, act, slope)),
    "orthogonal": lambda w, init, act, slope: nn.init.orthogonal_(w, gain=_gain(init, act, slope)),
    "normal": lambda w, init, act, slope: nn.init.normal_(w, 0.0, init.std or DEFAULT_STD),
    "uniform": lambda w, init, act, slope: nn.init.uniform_(
        w, -(init.a if init.a is not None else DEFAULT_BOUND), init.a if init.a is not None else DEFAULT_BOUND),
    "zeros": lambda w, init, act, slope: nn.init.zeros_(w),
}


@torch.no_grad()
def initialize(module: nn.Module, init: Init | None, activation: str | None, slope: float = 0.01) -> None:
    """Set a Linear or Conv2d module's weight and bias as `init` says; None keeps PyTorch's."""
    if init is None:
        return
    scheme = SCHEMES[init.weights]
    if scheme is not None:
        scheme(module.weight, init, activation, slope)
    if module.bias is not None and init.bias != "default":
        module.bias.fill_(init.bias_value if init.bias == "constant" else 0.0)
