"""Evaluation over whole splits: batched predictions in eval mode, the loss and every scalar metric."""

from __future__ import annotations

import torch
from torch import nn

from dlpipe.data.dataset import Samples
from dlpipe.engine.metrics import compute_metrics

EVAL_BATCH = 1000  # bounded memory for conv activations (a 4096 batch of 32x28x28 floats is 400 MB)
# Modules that compute the same in train and eval mode (every layer dlpipe builds but dropout and batch norm)
MODE_FREE = frozenset((nn.Sequential, nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Unflatten,
                       nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Softmax, nn.Identity))


def channels_last(model: nn.Module) -> bool:
    """Whether the model's convolutions hold channels_last weights (engine/device.use_channels_last)."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]  # (one input channel: both layouts)
    return any(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in weights)


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Model outputs for all of `x`, in eval mode, batched, without autograd.

    Switching a module tree to eval mode and back costs ~18 us, ~1 % of a sine epoch; it is
    skipped when every module computes the same in both modes (no dropout, no batch norm).
    """
    switch = model.training and not all(type(module) in MODE_FREE for module in model.modules())
    if switch:
        model.eval()
    fmt = torch.channels_last if x.dim() == 4 and channels_last(model) else torch.contiguous_format
    with torch.inference_mode():
        chunks = [model(x[i:i + EVAL_BATCH].contiguous(memory_format=fmt)) for i in range(0, len(x), EVAL_BATCH)]
    if switch:
        model.train()
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


def evaluate(model: nn.Module, split: Samples, loss_fn: nn.Module, task: str, metrics: list,
             sync=None, target_scale: tuple[float, float] = (0.0, 1.0)) -> dict[str, float]:
    """Loss and every scalar metric over one whole split (sync: a distributed run's Ranks, which gather shards)."""
    pred = sync.predict(model, split.x) if sync is not None else predict(model, split.x)
    return scores(pred.float(), split, loss_fn, task, metrics, target_scale)


def scores(pred: torch.Tensor, split: Samples, loss_fn: nn.Module, task: str, metrics: list,
           target_scale: tuple[float, float] = (0.0, 1.0), threshold: tuple[int, float] | None = None
           ) -> dict[str, float]:
    """Loss and metrics of outputs already computed for `split` (the report reuses the same outputs).

    target_scale: (mean, std) a regression target was standardized with; the loss is the
    training loss (standardized units), the metrics are in the target's own units.
    """
    with torch.inference_mode():
        loss, y = float(loss_fn(pred, split.y)), split.y
        if target_scale != (0.0, 1.0):
            mean, std = target_scale
            pred, y = pred * std + mean, y * std + mean
        return {"loss": loss, **compute_metrics(task, pred, y, metrics, threshold)}
