"""Model stage: build a torch network from the layer list, inferring every input size.

`build_model` walks the layers with the shape of one sample, so YAML never
repeats a size and a mismatch is caught (with the layer named) before training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from dlpipe.config_layers import (
    ActivationLayer,
    BatchNormLayer,
    Conv2dLayer,
    Pool2dLayer,
    ReshapeLayer,
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

    def table(self, lines: list[int | None] | None = None) -> str:
        """The summary as text; `lines` (the YAML line of each layer) adds a line column."""
        head = ("#", "line", "layer", "output shape", "params")
        lines = lines or [None] * len(self.rows)
        body = [(str(r.index), str(line or "-"), r.kind, r.shape_text, f"{r.params:,}")
                for r, line in zip(self.rows, lines)]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(5)]
        fmt = "  ".join(f"{{:{'>' if i in (0, 1, 4) else '<'}{w}}}" for i, w in enumerate(widths))
        rule = "-" * (sum(widths) + 8)
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
                raise ShapeError(index, f"linear needs input (N, features) but receives {_shape(shape)}; "
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
        case Conv2dLayer():
            return _conv2d(config, shape, index)
        case Pool2dLayer(type=kind, kernel_size=k, stride=stride, padding=p):
            _need_image(shape, index, kind)
            module = (nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d)(k, stride=stride, padding=p)
            out = _spatial(shape, _pair(k), _pair(stride if stride is not None else k), _pair(p), index, kind)
            return module, out, f"{kind}({_text(k)})"
        case BatchNormLayer(momentum=momentum, eps=eps):
            if len(shape) not in (1, 2, 3):
                raise ShapeError(index, f"batchnorm needs (N, features) or (N, C, H, W); receives {_shape(shape)}")
            norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            return norm(shape[0], eps=eps, momentum=momentum), shape, f"batchnorm{'2d' if len(shape) == 3 else '1d'}"
        case ReshapeLayer(shape=target):
            return _reshape(tuple(target), shape, index)
    raise ValueError(f"unknown layer {config!r}")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _text(value) -> str:
    return str(value) if isinstance(value, (int, str)) else "x".join(map(str, value))


def _need_image(shape: tuple[int, ...], index: int, kind: str) -> None:
    if len(shape) != 3:
        hint = "add {type: reshape, shape: [1, 28, 28]} before it" if len(shape) == 1 else "check the layers before it"
        raise ShapeError(index, f"{kind} needs input (N, channels, height, width) but receives {_shape(shape)}; {hint}")


def _spatial(shape, kernel, stride, padding, index: int, kind: str, channels: int | None = None) -> tuple[int, ...]:
    """Output (C, H, W) of a window sliding over input (C, H, W); an empty output is an error."""
    size = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(shape[1:], kernel, stride, padding)]
    if min(size) < 1:
        raise ShapeError(index, f"{kind} window {kernel[0]}x{kernel[1]} does not fit input {_shape(shape)}; "
                                "use a smaller kernel_size or padding, or fewer pooling layers before it")
    return (channels or shape[0], *size)


def _conv2d(config: Conv2dLayer, shape: tuple[int, ...], index: int) -> tuple[nn.Module, tuple[int, ...], str]:
    """A Conv2d (plus activation) for input (C, H, W); input channels come from the shape."""
    _need_image(shape, index, "conv2d")
    kernel, stride = _pair(config.kernel_size), _pair(config.stride)
    padding = config.padding
    if padding == "same" and stride != (1, 1):
        raise ShapeError(index, "conv2d padding 'same' needs stride 1; give padding as a number instead")
    conv = nn.Conv2d(shape[0], config.filters, kernel, stride=stride, padding=padding, bias=config.bias)
    if padding == "same":
        out = (config.filters, *shape[1:])
    else:
        out = _spatial(shape, kernel, stride, _pair(0 if padding == "valid" else padding), index, "conv2d",
                       channels=config.filters)
    kind = f"conv2d {_text(config.kernel_size)}"
    if config.activation is None:
        return conv, out, kind
    return nn.Sequential(conv, activation(config.activation)), out, f"{kind} + {config.activation}"


def _reshape(target: tuple[int, ...], shape: tuple[int, ...], index: int) -> tuple[nn.Module, tuple[int, ...], str]:
    total, known = math.prod(shape), math.prod(d for d in target if d != -1)
    free = target.count(-1)
    bad = free > 1 or any(d == 0 or d < -1 for d in target) or (total % known if free else total != known)
    if bad:
        raise ShapeError(index, f"reshape to {list(target)} cannot hold the {total} values of {_shape(shape)} "
                                "(the sizes must multiply to the same total; at most one -1)")
    out = tuple(total // known if d == -1 else d for d in target)
    return nn.Unflatten(1, out) if len(shape) == 1 else nn.Sequential(nn.Flatten(), nn.Unflatten(1, out)), out, \
        f"reshape{list(out)}"


def build_model(config: ModelConfig, input_shape: tuple[int, ...]) -> tuple[nn.Sequential, Summary]:
    """The network as one flat nn.Sequential, and its summary (one row per YAML layer).

    A layer with an activation contributes two modules (say Linear then Tanh): flat, not
    nested, because every extra module call costs a few microseconds per batch, which is
    ~5 % of a step for the small models (measured with benchmarks/run.py).
    """
    modules, rows, shape = [], [], tuple(input_shape)
    for index, layer_config in enumerate(config.layers):
        module, shape, kind = build_layer(layer_config, shape, index)
        params = sum(p.numel() for p in module.parameters())
        modules += list(module) if isinstance(module, nn.Sequential) else [module]
        rows.append(LayerRow(index, kind, shape, params))
    return nn.Sequential(*modules), Summary(tuple(input_shape), tuple(rows))


def check_output(summary: Summary, target_size: int, task: str) -> None:
    """The last layer must give one value per target (regression) or one score per class."""
    last = summary.rows[-1]
    if last.output_shape != (target_size,):
        needs = f"{target_size} classes" if task == "classification" else f"{target_size} value(s) per target"
        raise ShapeError(last.index, f"the model's output is {last.shape_text} but the data has {needs}; "
                                     f"end with {{type: linear, units: {target_size}}}")
