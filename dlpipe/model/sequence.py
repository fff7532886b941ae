"""Layers over token sequences and the network that carries their padding mask.

Inside a sequence model a sample is (T, C): a time axis first, channels last, as the summary
shows it (N, T, E). Every layer here is a `Masked` module: it takes (x, mask) and gives (x, mask),
mask (N, T) True at real tokens, so pooling, attention and global_pool leave the padding (id 0)
out. `SequenceNet` is a flat nn.Sequential that threads the mask through them (every other module
gets x alone), so the model summary's module ranges, the probe and the exports work unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlpipe.language.sequence import (
    Conv1dLayer,
    EmbeddingLayer,
    GlobalPoolLayer,
    Pool1dLayer,
    RecurrentLayer,
    TransformerLayer,
)
from dlpipe.model.attention import Block
from dlpipe.model.base import ACTIVATION_MODULES, NEG, Built, Facts, Masked, ShapeError, shape_text


class SequenceNet(nn.Sequential):
    """nn.Sequential whose Masked layers also get the padding mask (made from the ids by the embedding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        for module in self:
            if isinstance(module, Masked):
                x, mask = module(x, mask)
            else:
                x = module(x)
        return x


class Embed(Masked):
    def __init__(self, vocabulary: int, dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, dim, padding_idx=0)

    def forward(self, ids, mask):
        return self.embedding(ids), ids != 0


def _window_mask(mask: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    """Which output positions of a window sliding over `mask` see at least one real token."""
    ones = mask.new_ones((1, 1, kernel), dtype=torch.float32)
    return F.conv1d(mask[:, None].float(), ones, stride=stride, padding=padding)[:, 0] > 0


class Conv1d(Masked):
    def __init__(self, channels: int, config: Conv1dLayer):
        super().__init__()
        self.conv = nn.Conv1d(channels, config.filters, config.kernel, config.stride, padding=config.padding)
        self.activation = ACTIVATION_MODULES[config.activation]() if config.activation else nn.Identity()
        self.same = config.padding == "same"
        self.window = (config.kernel, config.stride, 0 if config.padding == "valid" or self.same else config.padding)

    def forward(self, x, mask):
        x = self.activation(self.conv(x.transpose(1, 2)).transpose(1, 2))
        if mask is None:
            return x, mask
        mask = mask if self.same else _window_mask(mask, *self.window)
        return x.masked_fill(~mask[..., None], 0.0), mask  # a layer after it reads zeros at the padding, as here


class Pool1d(Masked):
    def __init__(self, config: Pool1dLayer):
        super().__init__()
        self.max, self.kernel, self.stride = config.mode == "max", config.kernel, config.stride or config.kernel

    def forward(self, x, mask):
        if mask is None:
            mask = x.new_ones(x.shape[:2], dtype=torch.bool)
        keep = mask[..., None]
        if self.max:
            x = F.max_pool1d(x.masked_fill(~keep, NEG).transpose(1, 2), self.kernel, self.stride).transpose(1, 2)
        else:
            total = F.avg_pool1d((x * keep).transpose(1, 2), self.kernel, self.stride).transpose(1, 2)
            share = F.avg_pool1d(keep.transpose(1, 2).to(x.dtype), self.kernel, self.stride).transpose(1, 2)
            x = total / share.clamp_min(1.0 / self.kernel)
        mask = _window_mask(mask, self.kernel, self.stride, 0)
        return x.masked_fill(~mask[..., None], 0.0), mask


def _within_length(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(N, T) positions that reverse each row's first `lengths` steps and leave its padding where it is."""
    t = torch.arange(steps, device=lengths.device)[None]
    return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


class Recurrent(Masked):
    """An LSTM or GRU that never reads padding: the forward pass stops being read at each row's last token (its
    outputs at the padding are zeroed), and the backward pass of a bidirectional one starts there, on each row
    reversed within its length, layer by layer with the module's own weights (what packing does, but in plain
    tensor operations that trace and export)."""

    def __init__(self, channels: int, config: RecurrentLayer):
        super().__init__()
        kind = nn.LSTM if config.type == "lstm" else nn.GRU
        self.rnn = kind(channels, config.units, config.layers, batch_first=True, dropout=config.dropout,
                        bidirectional=config.bidirectional)

    def forward(self, x, mask):
        if mask is None:  # no padding (a series): the fused module as it is
            return self.rnn(x)[0], mask
        keep = mask[..., None]
        if not self.rnn.bidirectional:  # causal: the real steps never see the padding after them
            return self.rnn(x)[0].masked_fill(~keep, 0.0), mask
        order = _within_length(mask.sum(dim=1), x.shape[1])[..., None]
        for layer in range(self.rnn.num_layers):
            if layer:
                x = F.dropout(x, self.rnn.dropout, self.training)
            ahead = self._direction(x, layer, "")
            back = self._direction(x.gather(1, order.expand_as(x)), layer, "_reverse")
            x = torch.cat([ahead, back.gather(1, order.expand_as(back))], dim=2).masked_fill(~keep, 0.0)
        return x, mask

    def _direction(self, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One layer's one direction over x (N, T, C), with the module's weights for it."""
        weights = [getattr(self.rnn, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                               "bias_hh")]
        h = x.new_zeros(1, x.shape[0], self.rnn.hidden_size)  # shape[0], not len(): a trace keeps it variable
        if isinstance(self.rnn, nn.LSTM):
            return torch.lstm(x, (h, h), weights, True, 1, 0.0, self.training, False, True)[0]
        return torch.gru(x, h, weights, True, 1, 0.0, self.training, False, True)[0]


class GlobalPool(Masked):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x, mask):
        if mask is None:
            mask = x.new_ones(x.shape[:2], dtype=torch.bool)
        if self.mode == "last":  # the last real token (right padding); an empty row takes position 0
            last = (mask.sum(dim=1) - 1).clamp_min(0)
            return x[torch.arange(x.shape[0], device=x.device), last], None
        keep = mask[..., None]
        if self.mode == "max":
            return x.masked_fill(~keep, NEG).amax(dim=1).masked_fill(~keep.any(dim=1), 0.0), None
        return (x * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1), None


def _need_sequence(shape: tuple[int, ...], index: int, kind: str) -> None:
    if len(shape) != 2:
        hint = ("start with {type: embedding, dim: 64} (and data text: {as: sequence})" if len(shape) == 1
                else "check the layers before it")
        raise ShapeError(index, f"{kind} needs a sequence (N, time, channels) but receives {shape_text(shape)}; {hint}")


def embedding(config: EmbeddingLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    if facts.vocabulary is None or len(shape) != 1 or index != 0:
        raise ShapeError(index, "embedding takes token ids, as the first layer: give the data a text section with "
                                "as: sequence (text: {columns: [...], as: sequence})")
    return Embed(facts.vocabulary, config.dim), (shape[0], config.dim), f"embedding({facts.vocabulary:,})"


def conv1d(config: Conv1dLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    _need_sequence(shape, index, "conv1d")
    padding = 0 if config.padding == "valid" else config.padding
    steps = shape[0] if padding == "same" else (shape[0] + 2 * padding - config.kernel) // config.stride + 1
    if steps < 1:
        raise ShapeError(index, f"conv1d kernel {config.kernel} does not fit the {shape[0]} steps it receives; "
                                "use a smaller kernel or padding: same")
    kind = f"conv1d {config.kernel}" + (f" + {config.activation}" if config.activation else "")
    return Conv1d(shape[1], config), (steps, config.filters), kind


def pool1d(config: Pool1dLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    _need_sequence(shape, index, "pool1d")
    steps = (shape[0] - config.kernel) // (config.stride or config.kernel) + 1
    if steps < 1:
        raise ShapeError(index, f"pool1d window {config.kernel} is longer than the {shape[0]} steps it receives")
    return Pool1d(config), (steps, shape[1]), f"pool1d {config.mode}({config.kernel})"


def recurrent(config: RecurrentLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    _need_sequence(shape, index, config.type)
    width = config.units * (2 if config.bidirectional else 1)
    kind = config.type + (" x2 directions" if config.bidirectional else "")
    return Recurrent(shape[1], config), (shape[0], width), kind


def global_pool(config: GlobalPoolLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    _need_sequence(shape, index, "global_pool")
    return GlobalPool(config.mode), (shape[1],), f"global_pool {config.mode}"


def transformer(config: TransformerLayer, shape: tuple[int, ...], index: int, facts: Facts) -> Built:
    _need_sequence(shape, index, "transformer")
    if shape[1] % config.heads:
        divisors = [h for h in range(1, min(shape[1], 16) + 1) if shape[1] % h == 0]
        raise ShapeError(index, f"transformer heads ({config.heads}) must divide its input width {shape[1]}; "
                                f"use heads: {', '.join(map(str, divisors))}")
    block = Block(shape[0], shape[1], config.heads, config.ff, config.dropout, config.positions)
    return block, shape, f"transformer {config.heads} heads"


def uses_mask(modules: list[nn.Module]) -> bool:
    """Whether a network needs SequenceNet: it holds a Masked layer."""
    return any(isinstance(m, Masked) for m in modules)
