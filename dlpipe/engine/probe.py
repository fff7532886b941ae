"""Inside the network: per-layer statistics before training (epoch 0) and once per epoch, within a time budget.

For every linear and conv2d layer: the weights' std, the norm of the gradient the last
training batch of the epoch left in `.grad` (zero_grad runs before each backward, so the
gradient is still there when the epoch ends), and, on one fixed validation batch, the
mean and std of the layer's output after its activation, the fraction of dead ReLU
units (never positive on the batch) and of saturated tanh/sigmoid outputs (beyond 0.99
of the range). One probe costs a forward pass on PROBE_BATCH samples; it is skipped
while the time spent probing exceeds BUDGET of the training time, so millisecond
epochs are sampled (always the first and the last) and longer ones all recorded.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn

from dlpipe.archive.layers import append_layers, keep_layers
from dlpipe.engine.checkpoint import TrainingState
from dlpipe.language.activations import ACTIVATIONS
from dlpipe.model.network import Summary

PROBE_BATCH = 256
BUDGET = 0.01  # of the training time; the issue allows 2 %, half of it is kept for noise
SATURATION = 0.99


def _blocks(model: nn.Sequential, summary: Summary) -> list[tuple[int, str, str | None, nn.Module, int]]:
    """(YAML index, kind, activation, weighted module, index of the module whose output is the block's)."""
    rows, blocks = summary.rows, []
    for i, row in enumerate(rows):
        first = model[row.modules[0]] if row.modules[1] > row.modules[0] else None
        if not isinstance(first, (nn.Linear, nn.Conv2d)):
            continue
        follows = i + 1 < len(rows) and row.activation is not None and rows[i + 1].kind == row.activation
        end = rows[i + 1].modules[1] if follows else row.modules[1]
        blocks.append((row.index, row.kind, row.activation, first, end - 1))
    return blocks


class NetworkProbe:
    """Called at the end of every epoch (after the checkpoint); appends its rows to RUN/layers.csv."""

    def __init__(self, model: nn.Sequential, summary: Summary, x_val: torch.Tensor, run_dir: Path | None,
                 epochs: int, resumed_at: int = 0):
        self.model, self.run_dir, self.epochs = model, run_dir, epochs
        self.blocks = _blocks(model, summary)
        self.batch = x_val[:PROBE_BATCH]
        self.spent = 0.0  # seconds spent probing in this process
        self.rows = keep_layers(run_dir, resumed_at) if run_dir is not None and resumed_at else []
        if run_dir is not None and not resumed_at and self.blocks and len(self.batch):
            self.rows = self.measure(0)  # epoch 0, before training: did the init or the training cause a finding?
            append_layers(run_dir, self.rows)

    def __call__(self, state: TrainingState) -> None:
        if self.run_dir is None or not self.blocks or len(self.batch) == 0:
            return
        due = state.epoch in (1, self.epochs) or self.spent <= BUDGET * state.elapsed
        if not due:
            return
        t = time.perf_counter()
        rows = self.measure(state.epoch)
        append_layers(self.run_dir, rows)
        self.rows += rows
        self.spent += time.perf_counter() - t

    @torch.no_grad()
    def measure(self, epoch: int) -> list[dict]:
        """One row per weighted layer for this epoch (the model's mode is restored)."""
        outputs: dict[int, torch.Tensor] = {}
        hooks = [self.model[end].register_forward_hook(lambda m, i, o, end=end: outputs.__setitem__(end, o))
                 for *_, end in self.blocks]
        training = self.model.training
        self.model.eval()
        try:
            self.model(self.batch)
        finally:
            self.model.train(training)
            for hook in hooks:
                hook.remove()
        values = torch.stack([v for block in self.blocks for v in _stats(block, outputs[block[4]])]).tolist()
        rows = []
        for n, (index, kind, activation, _, _) in enumerate(self.blocks):
            w_std, grad, mean, std, dead, sat = values[6 * n:6 * n + 6]
            facts = ACTIVATIONS.get(activation)
            rows.append({"epoch": epoch, "layer": index, "kind": kind, "activation": activation or "",
                         "weight_std": w_std, "grad_norm": None if grad < 0 else grad, "act_mean": mean,
                         "act_std": std, "dead": dead if facts and facts.dies else None,
                         "saturated": sat if facts and facts.saturates else None})
        return rows


def _stats(block, out: torch.Tensor) -> list[torch.Tensor]:
    """weight std, gradient norm (-1: none), output mean and std, dead-unit and saturated fractions."""
    _, _, activation, module, _ = block
    out = out.float()
    grads = [p.grad.float().norm() for p in module.parameters() if p.grad is not None]
    grad = torch.stack(grads).norm() if grads else out.new_tensor(-1.0)
    units = out.transpose(0, 1).reshape(out.shape[1], -1)  # one row per unit (feature or channel)
    dead = (units <= 0).all(dim=1).float().mean()
    low, high = ACTIVATIONS[activation].range if activation in ACTIVATIONS else (-1.0, 1.0)
    bounded = math.isfinite(low) and math.isfinite(high)
    scaled = 2 * (out - low) / (high - low) - 1 if bounded else out.new_zeros(())  # the range onto (-1, 1)
    saturated = (scaled.abs() > SATURATION).float().mean()
    return [module.weight.float().std(correction=0), grad, out.mean(), out.std(correction=0), dead, saturated]
