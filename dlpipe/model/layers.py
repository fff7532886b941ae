"""The layer builders: one function per layer config class, in the BUILDERS table.

A builder takes (config, input shape without the batch dimension, layer index, Facts) and
returns (module, output shape, summary text); a layer that cannot take its input
raises ShapeError naming the layer and the fix. Adding a layer: its config class in
dlpipe/language/layers.py (listed in LAYERS) and one builder here.
"""

from __future__ import annotations

import math
from typing import Callable

from torch import nn

from dlpipe.language.layers import (
    ActivationLayer,
    BatchNormLayer,
    Conv2dLayer,
    DropoutLayer,
    ELULayer,
    FlattenLayer,
    LeakyReLULayer,
    LinearLayer,
    Pool2dLayer,
    ReshapeLayer,
    SoftmaxLayer,
)
from dlpipe.language.sequence import (
    Conv1dLayer,
    EmbeddingLayer,
    GlobalPoolLayer,
    Pool1dLayer,
    RecurrentLayer,
    TransformerLayer,
)
from dlpipe.model import sequence
from dlpipe.model.base import ACTIVATION_MODULES, Built, Facts, ShapeError, shape_text, with_activation

# (ACTIVATION_MODULES, ShapeError and shape_text are read from here by the rest of the package.)
__all__ = ["ACTIVATION_MODULES", "BUILDERS", "Facts", "ShapeError", "build_layer", "shape_text"]


def linear(config: LinearLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    if len(shape) != 1:
        raise ShapeError(index, f"linear needs input (N, features) but receives {shape_text(shape)}; "
                                "add {type: flatten} before it")
    module, kind = with_activation(nn.Linear(shape[0], config.units, bias=config.bias), config.activation, "linear")
    return module, (config.units,), kind


def conv2d(config: Conv2dLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    """A Conv2d (plus activation) for input (C, H, W); input channels come from the shape."""
    _need_image(shape, index, "conv2d")
    kernel, stride, padding = _pair(config.kernel_size), _pair(config.stride), config.padding
    if padding == "same" and stride != (1, 1):
        raise ShapeError(index, "conv2d padding 'same' needs stride 1; give padding as a number instead")
    conv = nn.Conv2d(shape[0], config.filters, kernel, stride=stride, padding=padding, bias=config.bias)
    if padding == "same":
        out = (config.filters, *shape[1:])
    else:
        out = _spatial(shape, kernel, stride, _pair(0 if padding == "valid" else padding), index, "conv2d",
                       channels=config.filters)
    module, kind = with_activation(conv, config.activation, f"conv2d {_text(config.kernel_size)}")
    return module, out, kind


def pool2d(config: Pool2dLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    kind, k, stride, p = config.type, config.kernel_size, config.stride, config.padding
    _need_image(shape, index, kind)
    module = (nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d)(k, stride=stride, padding=p)
    out = _spatial(shape, _pair(k), _pair(stride if stride is not None else k), _pair(p), index, kind)
    return module, out, f"{kind}({_text(k)})"


def batchnorm(config: BatchNormLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    if len(shape) not in (1, 2, 3):
        raise ShapeError(index, f"batchnorm needs (N, features) or (N, C, H, W); receives {shape_text(shape)}")
    norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return norm(shape[0], eps=config.eps, momentum=config.momentum), shape, \
        f"batchnorm{'2d' if len(shape) == 3 else '1d'}"


def reshape(config: ReshapeLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    target = tuple(config.shape)
    total, known = math.prod(shape), math.prod(d for d in target if d != -1)
    free = target.count(-1)
    bad = free > 1 or any(d == 0 or d < -1 for d in target) or (total % known if free else total != known)
    if bad:
        raise ShapeError(index, f"reshape to {list(target)} cannot hold the {total} values of {shape_text(shape)} "
                                "(the sizes must multiply to the same total; at most one -1)")
    out = tuple(total // known if d == -1 else d for d in target)
    module = nn.Unflatten(1, out) if len(shape) == 1 else nn.Sequential(nn.Flatten(), nn.Unflatten(1, out))
    return module, out, f"reshape{list(out)}"


def _need_image(shape: tuple[int, ...], index: int, kind: str) -> None:
    if len(shape) != 3:
        hint = "add {type: reshape, shape: [1, 28, 28]} before it" if len(shape) == 1 else "check the layers before it"
        raise ShapeError(index, f"{kind} needs input (N, channels, height, width) but receives {shape_text(shape)}; "
                                f"{hint}")


def _spatial(shape, kernel, stride, padding, index: int, kind: str, channels: int | None = None) -> tuple[int, ...]:
    """Output (C, H, W) of a window sliding over input (C, H, W); an empty output is an error."""
    size = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(shape[1:], kernel, stride, padding)]
    if min(size) < 1:
        raise ShapeError(index, f"{kind} window {kernel[0]}x{kernel[1]} does not fit input {shape_text(shape)}; "
                                "use a smaller kernel_size or padding, or fewer pooling layers before it")
    return (channels or shape[0], *size)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _text(value) -> str:
    return str(value) if isinstance(value, (int, str)) else "x".join(map(str, value))


BUILDERS: dict[type, Callable[..., Built]] = {
    LinearLayer: linear,
    ActivationLayer: lambda c, shape, i, f: (ACTIVATION_MODULES[c.type](), shape, c.type),
    SoftmaxLayer: lambda c, shape, i, f: (ACTIVATION_MODULES["softmax"](), shape, "softmax"),
    LeakyReLULayer: lambda c, shape, i, f: (nn.LeakyReLU(c.negative_slope), shape, "leaky_relu"),
    ELULayer: lambda c, shape, i, f: (nn.ELU(c.alpha), shape, "elu"),
    DropoutLayer: lambda c, shape, i, f: (nn.Dropout(c.rate), shape, f"dropout({c.rate:g})"),
    FlattenLayer: lambda c, shape, i, f: (nn.Flatten(), (math.prod(shape),), "flatten"),
    Conv2dLayer: conv2d,
    Pool2dLayer: pool2d,
    BatchNormLayer: batchnorm,
    ReshapeLayer: reshape,
    EmbeddingLayer: sequence.embedding,
    Conv1dLayer: sequence.conv1d,
    Pool1dLayer: sequence.pool1d,
    RecurrentLayer: sequence.recurrent,
    GlobalPoolLayer: sequence.global_pool,
    TransformerLayer: sequence.transformer,
}


def build_layer(config, shape: tuple[int, ...], index: int, facts: Facts = Facts()) -> Built:
    """One layer for input `shape` (batch excluded): (module, output shape, description)."""
    return BUILDERS[type(config)](config, shape, index, facts)
