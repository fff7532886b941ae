"""Model stage: build a torch network from the layer list, inferring every input size.

`build_model` walks the layers with the shape of one sample, so YAML never
repeats a size and a mismatch is caught (with the layer named) before training.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from dlpipe.language.activations import ACTIVATIONS
from dlpipe.language.pipeline import ModelConfig
from dlpipe.model.init import initialize
from dlpipe.model.layers import Facts, ShapeError, build_layer, shape_text
from dlpipe.model.sequence import SequenceNet, uses_mask


@dataclass(frozen=True)
class LayerRow:
    """One line of the model summary."""

    index: int
    kind: str
    output_shape: tuple[int, ...]
    params: int
    modules: tuple[int, int] = (0, 0)  # its modules in the flat nn.Sequential: [start, stop)
    activation: str | None = None  # the activation its output passes through (its own, or the layer after it)

    @property
    def shape_text(self) -> str:
        return shape_text(self.output_shape)


@dataclass(frozen=True)
class Summary:
    """Keras-style summary: per layer type, output shape (batch as N) and parameter count."""

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]

    @property
    def input_text(self) -> str:
        return shape_text(self.input_shape)

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.rows)

    def table(self, lines: list[int | str | None] | None = None) -> str:
        """The summary as text; `lines` (the YAML line of each layer, or FILE:LINE in a base) adds a line column."""
        head = ("#", "line", "layer", "output shape", "params")
        lines = lines or [None] * len(self.rows)
        body = [(str(r.index), str(line or "-"), r.kind, r.shape_text, f"{r.params:,}")
                for r, line in zip(self.rows, lines)]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(5)]
        fmt = "  ".join(f"{{:{'>' if i in (0, 1, 4) else '<'}{w}}}" for i, w in enumerate(widths))
        rule = "-" * (sum(widths) + 8)
        lines = [f"input {self.input_text}", fmt.format(*head), rule, *(fmt.format(*row) for row in body), rule]
        return "\n".join(lines + [f"total parameters: {self.total_params:,}"])


def build_model(config: ModelConfig, input_shape: tuple[int, ...], facts: Facts = Facts()
                ) -> tuple[nn.Sequential, Summary]:
    """The network as one flat nn.Sequential (a SequenceNet over token ids), and its summary (a row per YAML layer).

    A layer with an activation contributes two modules (say Linear then Tanh): flat, not
    nested, because every extra module call costs a few microseconds per batch, which is
    ~5 % of a step for the small models (measured with benchmarks/run.py).
    """
    modules, rows, shape = [], [], tuple(input_shape)
    for index, layer_config in enumerate(config.layers):
        module, shape, kind = build_layer(layer_config, shape, index, facts)
        activation, slope = _activation_after(config.layers, index)
        if hasattr(layer_config, "init"):  # linear and conv2d: the module's first part holds the weights
            first = module[0] if isinstance(module, nn.Sequential) else module
            initialize(first, layer_config.init or config.init, activation, slope)
        params = sum(p.numel() for p in module.parameters())
        parts = list(module) if isinstance(module, nn.Sequential) else [module]
        rows.append(LayerRow(index, kind, shape, params, (len(modules), len(modules) + len(parts)), activation))
        modules += parts
    network = SequenceNet(*modules) if uses_mask(modules) else nn.Sequential(*modules)
    return network, Summary(tuple(input_shape), tuple(rows))


def _activation_after(layers: list, index: int) -> tuple[str | None, float]:
    """The activation a layer's output goes through (its own, or an activation layer next), and a leaky slope."""
    own = getattr(layers[index], "activation", None)
    if own is not None or index + 1 == len(layers):
        return own, 0.01
    after = layers[index + 1]
    if after.type in ACTIVATIONS:  # every activation layer is named by its activation (relu, elu, softmax, ...)
        return after.type, getattr(after, "negative_slope", 0.01)
    return None, 0.01


def check_output(summary: Summary, target_size: int, task: str) -> None:
    """The last layer must give one value per target (regression) or one score per class."""
    last = summary.rows[-1]
    if last.output_shape != (target_size,):
        needs = f"{target_size} classes" if task == "classification" else f"{target_size} value(s) per target"
        raise ShapeError(last.index, f"the model's output is {last.shape_text} but the data has {needs}; "
                                     f"end with {{type: linear, units: {target_size}}}")
