"""What every layer builder shares: the result type, the facts about the input, shape errors, activations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from dlpipe.language.errors import InvalidValue


@dataclass(frozen=True)
class Facts:
    """What the data says beyond a sample's shape: vocabulary, the token ids an embedding needs rows for."""

    vocabulary: int | None = None


Built = tuple[nn.Module, tuple[int, ...], str]
# The torch module of each activation named in dlpipe/language/layers.py's ACTIVATIONS (same keys; a test checks).
ACTIVATION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU, "softmax": lambda: nn.Softmax(dim=1)}


class ShapeError(InvalidValue):
    """A layer cannot take the shape it receives; `index` is its position in model.layers."""

    def __init__(self, index: int, message: str):
        super().__init__(("model", "layers", index), message)
        self.index = index


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape with the batch dimension written as N: (N, 1, 28, 28)."""
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def with_activation(module: nn.Module, name: str | None, kind: str) -> tuple[nn.Module, str]:
    if name is None:
        return module, kind
    return nn.Sequential(module, ACTIVATION_MODULES[name]()), f"{kind} + {name}"


NEG = -1.0e9  # a masked score or value: finite, so a row of padding alone gives no NaN


class Masked(nn.Module):
    """A sequence layer (dlpipe/model/sequence.py): it takes (x, mask) and gives (x, mask), mask (N, T) True at
    real tokens."""
