"""Layers over sequences (torch-free): token ids in, (N, T, E) through, one vector per sample out.

A sequence model starts with `embedding` (the data's `text: {as: sequence}` gives token ids and
the vocabulary size), keeps a time axis through conv1d, pool1d, lstm, gru and transformer, and
ends it with `global_pool` (or flatten) before the linear layers. Padding (id 0) is masked all
the way: pooled windows, attention and global_pool ignore it.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field, model_validator

from dlpipe.language.activations import ActivationName
from dlpipe.language.section import Section


class EmbeddingLayer(Section):
    """A learned vector per token id: (N, T) ids in, (N, T, dim) out; its rows come from the data's vocabulary."""

    type: Literal["embedding"] = Field(description="Token embedding (torch.nn.Embedding; id 0, the padding, stays 0).")
    dim: int = Field(ge=1, le=4096, description="Length of each token's vector.")


class Conv1dLayer(Section):
    """1-D convolution along the time axis: (N, T, C) in, (N, T', filters) out."""

    type: Literal["conv1d"] = Field(description="1-D convolution over time (torch.nn.Conv1d).")
    filters: int = Field(ge=1, le=100_000, description="Number of output channels.")
    kernel: int = Field(3, ge=1, le=1000, description="Tokens each filter sees at once.")
    stride: int = Field(1, ge=1, le=1000, description="Step between kernel positions.")
    padding: Union[int, Literal["same", "valid"]] = Field(
        "same", description="Zero padding: n on each side, 'same' (keep the length; stride 1) or 'valid' (none).")
    activation: ActivationName | None = Field(None, description="Activation applied after the convolution.")

    @model_validator(mode="after")
    def _same_needs_stride_1(self) -> "Conv1dLayer":
        if self.padding == "same" and self.stride != 1:
            raise ValueError("padding 'same' keeps the length only with stride 1; give padding as a number")
        if isinstance(self.padding, int) and not 0 <= self.padding < self.kernel:
            raise ValueError(f"padding must be from 0 to kernel - 1 ({self.kernel - 1})")
        return self


class Pool1dLayer(Section):
    """Max or mean over windows of the time axis, padding left out: (N, T, C) in, (N, T', C) out."""

    type: Literal["pool1d"] = Field(description="1-D pooling over time.")
    mode: Literal["max", "mean"] = Field("max", description="Largest value or mean in each window.")
    kernel: int = Field(2, ge=1, le=1000, description="Window length.")
    stride: int | None = Field(None, ge=1, le=1000, description="Step between windows (default: kernel).")


class RecurrentLayer(Section):
    """An LSTM or GRU over the time axis, returning its output at every step: (N, T, units x directions)."""

    type: Literal["lstm", "gru"] = Field(description="Recurrent layer (torch.nn.LSTM or torch.nn.GRU), batch first.")
    units: int = Field(ge=1, le=10_000, description="Size of the hidden state (per direction).")
    layers: int = Field(1, ge=1, le=16, description="Recurrent layers stacked inside this one.")
    bidirectional: bool = Field(False, description="Also read the sequence backwards (output size 2 x units).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout between the stacked layers (layers > 1).")

    @model_validator(mode="after")
    def _dropout_needs_layers(self) -> "RecurrentLayer":
        if self.dropout and self.layers == 1:
            raise ValueError("dropout applies between stacked layers; give layers: 2 or more, or a dropout layer")
        return self


class GlobalPoolLayer(Section):
    """Ends the time axis: (N, T, C) in, (N, C) out; padding is left out of the mean and max."""

    type: Literal["global_pool"] = Field(description="Reduce the time axis to one vector per sample.")
    mode: Literal["mean", "max", "last"] = Field("mean", description=(
        "mean or max over the real tokens; last: the output at the last real token (an lstm or gru's summary)."))


class TransformerLayer(Section):
    """A transformer encoder block (pre-norm): masked self-attention, then a feed-forward network, each residual."""

    type: Literal["transformer"] = Field(description="Transformer encoder block over (N, T, E).")
    heads: int = Field(4, ge=1, le=64, description="Attention heads; they must divide the input width E.")
    ff: int = Field(ge=1, le=100_000, description="Width of the feed-forward network's hidden layer.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the attention and feed-forward outputs.")
    positions: Literal["sinusoidal", "learned", "none"] = Field("sinusoidal", description=(
        "What tells attention (which alone ignores order) where each token is, added to the input. sinusoidal: "
        "fixed waves, learns word order from little data; learned: a trained vector per position; none: for a "
        "block after the first, or after a conv1d or lstm that already sees order."))
