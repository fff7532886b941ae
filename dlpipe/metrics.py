"""Metrics computed in torch over a whole split; each returns a plain float."""

from __future__ import annotations

import torch


def regression_metrics(pred: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict[str, float]:
    """mse, rmse, mae and r2 (coefficient of determination) of `pred` against `target`."""
    pred, target = pred.double(), target.double()
    error = pred - target
    mse = error.square().mean()
    values = {
        "mse": mse,
        "rmse": mse.sqrt(),
        "mae": error.abs().mean(),
        "r2": 1 - error.square().sum() / (target - target.mean()).square().sum(),
    }
    return {name: float(values[name]) for name in names}


def compute_metrics(task: str, pred: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Dispatch on the task; classification metrics arrive with the MNIST sources."""
    match task:
        case "regression":
            return regression_metrics(pred, target, names)
    raise ValueError(f"no metrics for task {task!r}")
