"""Training stage: the loop, read top to bottom, and evaluation over whole splits.

Data stays in memory as tensors; each epoch draws one permutation and takes
batches by indexing it (no DataLoader, no per-sample Python).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from dlpipe.config import Training
from dlpipe.config_optim import SchedulerConfig
from dlpipe.data import Dataset, Split
from dlpipe.metrics import compute_metrics
from dlpipe.progress import Progress
from dlpipe.schedule import LRSchedule

EVAL_BATCH = 1000  # bounded memory for conv activations (a 4096 batch of 32x28x28 floats is 400 MB)


@dataclass
class FitResult:
    """Keras-style history (a dict of equal-length lists) and how training ended."""

    history: dict[str, list[float]] = field(default_factory=dict)
    status: str = "completed"
    message: str = ""


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Model outputs for all of `x`, in eval mode, batched, without autograd."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = torch.cat([model(x[i:i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])
    model.train(was_training)
    return out


def evaluate(model: nn.Module, split: Split, loss_fn: nn.Module, task: str, metrics: list[str]) -> dict[str, float]:
    """Loss and every scalar metric over one whole split."""
    pred = predict(model, split.x)
    with torch.inference_mode():
        loss = float(loss_fn(pred, split.y))
    return {"loss": loss, **compute_metrics(task, pred, split.y, metrics)}


def fit(model: nn.Module, data: Dataset, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
        training: Training, metrics: list[str], generator: torch.Generator, progress: Progress,
        scheduler: SchedulerConfig | None = None) -> FitResult:
    """Train for training.epochs; stop early only when the loss stops being finite."""
    metrics = [name for name in metrics if name != "confusion_matrix"]  # not a per-epoch scalar
    classify = data.task == "classification"
    result = FitResult({"epoch": [], "train_loss": [], **({"train_accuracy": []} if classify else {}),
                        "val_loss": [], **{f"val_{name}": [] for name in metrics}, "lr": [], "time": []})
    x, y = data.train.x, data.train.y
    n = len(x)
    batch_size = min(training.batch_size, n)
    steps = math.ceil(n / batch_size)
    schedule = LRSchedule(scheduler, optimizer, training.epochs, steps)
    start = time.perf_counter()
    for epoch in range(1, training.epochs + 1):
        model.train()
        progress.start_epoch()
        schedule.start_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(n, generator=generator).to(x.device) if training.shuffle else None
        total = torch.zeros((), device=x.device)
        correct = torch.zeros((), dtype=torch.long, device=x.device)
        for step in range(steps):
            lo, hi = step * batch_size, min((step + 1) * batch_size, n)
            if order is None:
                xb, yb = x[lo:hi], y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = loss_fn(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.after_batch()
            total += loss.detach() * (hi - lo)
            if classify:
                correct += (out.detach().argmax(dim=1) == yb).sum()
            progress.batch(step + 1, steps)
        train_loss = float(total) / n
        val = evaluate(model, data.validation, loss_fn, data.task, metrics)
        row = {"epoch": epoch, "train_loss": train_loss,
               **({"train_accuracy": correct.item() / n} if classify else {}), "val_loss": val.pop("loss"),
               **{f"val_{k}": v for k, v in val.items()},
               "lr": lr, "time": time.perf_counter() - start}
        for key, value in row.items():
            result.history[key].append(value)
        progress.end_epoch(epoch, training.epochs, {k: v for k, v in row.items() if k not in ("epoch", "lr")})
        schedule.end_epoch(epoch, row)
        if not (math.isfinite(train_loss) and math.isfinite(row["val_loss"])):
            result.status = "diverged"
            result.message = (f"the loss became {train_loss} in epoch {epoch}: lower the learning rate "
                              "(optimizer.lr) or check the scale of the data")
            break
    return result
