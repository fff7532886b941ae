"""Layer sections of the pipeline language (torch-free): one config class per layer, and the LAYERS table.

Adding a layer: a class here (layers over token sequences: dlpipe/language/sequence.py), added to LAYERS, and its
builder in dlpipe/model/layers.py. Activations and `init:` are in dlpipe/language/activations.py.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field

from dlpipe.language.activations import ActivationName, Init, init_field
from dlpipe.language.section import Section
from dlpipe.language.sequence import (Conv1dLayer, EmbeddingLayer, GlobalPoolLayer, Pool1dLayer, RecurrentLayer,
                                     TransformerLayer)


class LinearLayer(Section):
    """Fully connected layer; its input size is inferred from the previous layer."""

    type: Literal["linear"] = Field(description="Fully connected layer (torch.nn.Linear).")
    units: int = Field(ge=1, le=1_000_000, description="Number of output features.")
    activation: ActivationName | None = Field(None, description="Activation applied after the layer.")
    bias: bool = Field(True, description="Learn an additive bias.")
    init: Init | None = init_field()


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
    init: Init | None = init_field()


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
          Conv2dLayer, Pool2dLayer, BatchNormLayer, ReshapeLayer, EmbeddingLayer, Conv1dLayer, Pool1dLayer,
          RecurrentLayer, GlobalPoolLayer, TransformerLayer)
