"""Model stage: build a torch network from the layer list, inferring every input size.

`build_model` walks the layers with the shape of one sample, so YAML never
repeats a size and a mismatch is caught (with the layer named) before training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from dlpipe.config import (
    ActivationLayer,
    DropoutLayer,
    ELULayer,
    FlattenLayer,
    LayerConfig,
    LeakyReLULayer,
    LinearLayer,
    ModelConfig,
    SoftmaxLayer,
)


class ShapeError(ValueError):
    """A layer cannot take the shape it receives; `index` is its position in model.layers."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class LayerRow:
    """One line of the model summary."""

    index: int
    kind: str
    output_shape: tuple[int, ...]
    params: int

    @property
    def shape_text(self) -> str:
        return "(" + ", ".join(["N", *map(str, self.output_shape)]) + ")"


@dataclass(frozen=True)
class Summary:
    """Keras-style summary: per layer type, output shape (batch as N) and parameter count."""

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.rows)

    def table(self) -> str:
        head = ("#", "layer", "output shape", "params")
        body = [(str(r.index), r.kind, r.shape_text, f"{r.params:,}") for r in self.rows]
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(4)]
        fmt = "  ".join(f"{{:{'>' if i in (0, 3) else '<'}{w}}}" for i, w in enumerate(widths))
        rule = "-" * (sum(widths) + 6)
        shape = "(" + ", ".join(["N", *map(str, self.input_shape)]) + ")"
        lines = [f"input {shape}", fmt.format(*head), rule, *(fmt.format(*row) for row in body), rule]
        return "\n".join(lines + [f"total parameters: {self.total_params:,}"])


def activation(name: str) -> nn.Module:
    """The torch module for an activation name, with its default parameters."""
    match name:
        case "relu":
            return nn.ReLU()
        case "tanh":
            return nn.Tanh()
        case "sigmoid":
            return nn.Sigmoid()
        case "gelu":
            return nn.GELU()
        case "leaky_relu":
            return nn.LeakyReLU()
        case "elu":
            return nn.ELU()
        case "softmax":
            return nn.Softmax(dim=1)
    raise ValueError(f"unknown activation {name!r}")


def build_layer(config: LayerConfig, shape: tuple[int, ...], index: int) -> tuple[nn.Module, tuple[int, ...], str]:
    """One layer for input `shape` (batch excluded): (module, output shape, description)."""
    match config:
        case LinearLayer(units=units, activation=act, bias=bias):
            if len(shape) != 1:
                got = "(" + ", ".join(["N", *map(str, shape)]) + ")"
                raise ShapeError(index, f"linear needs input (N, features) but receives {got}; "
                                        "add {type: flatten} before it")
            layer = nn.Linear(shape[0], units, bias=bias)
            if act is None:
                return layer, (units,), "linear"
            return nn.Sequential(layer, activation(act)), (units,), f"linear + {act}"
        case LeakyReLULayer(negative_slope=slope):
            return nn.LeakyReLU(slope), shape, "leaky_relu"
        case ELULayer(alpha=alpha):
            return nn.ELU(alpha), shape, "elu"
        case ActivationLayer(type=name) | SoftmaxLayer(type=name):
            return activation(name), shape, name
        case DropoutLayer(rate=rate):
            return nn.Dropout(rate), shape, f"dropout({rate:g})"
        case FlattenLayer():
            return nn.Flatten(), (math.prod(shape),), "flatten"
    raise ValueError(f"unknown layer {config!r}")


def build_model(config: ModelConfig, input_shape: tuple[int, ...]) -> tuple[nn.Sequential, Summary]:
    """The network as nn.Sequential (one child per YAML layer) and its summary."""
    modules, rows, shape = [], [], tuple(input_shape)
    for index, layer_config in enumerate(config.layers):
        module, shape, kind = build_layer(layer_config, shape, index)
        params = sum(p.numel() for p in module.parameters())
        modules.append(module)
        rows.append(LayerRow(index, kind, shape, params))
    return nn.Sequential(*modules), Summary(tuple(input_shape), tuple(rows))


def check_output(summary: Summary, target_size: int) -> None:
    """The last layer must produce one value per target, or the loss would broadcast silently."""
    last = summary.rows[-1]
    if last.output_shape != (target_size,):
        raise ShapeError(last.index, f"the model's output is {last.shape_text} but each target has "
                                     f"{target_size} value(s); end with {{type: linear, units: {target_size}}}")
