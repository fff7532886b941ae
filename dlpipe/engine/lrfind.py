"""The learning-rate range test (Smith 2015; fastai's and Lightning's lr_find): train a few hundred steps while the
learning rate rises exponentially, and read off where the loss falls fastest before it blows up.

The model and optimizer are the pipeline's, freshly built (its weights are thrown away after). The loss is
smoothed (an exponential moving average, bias-corrected) because one batch's loss is noisy; the test stops
when the smoothed loss exceeds DIVERGED times its lowest, or is not a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

START, END = 1.0e-7, 10.0  # the learning rates the test rises from and to
MIN_STEPS, MAX_STEPS = 100, 300  # steps: one epoch, but at least MIN_STEPS (small data cycles) and at most MAX_STEPS
SMOOTHING = 0.9  # of the moving average of the batch losses
DIVERGED = 4.0  # the smoothed loss this many times its lowest: the learning rate is past any use
# How the suggestion is read off the curve: for a constant (or decaying) learning rate, and for a one-cycle peak.
RULES = {"lr": (10, "one tenth of the learning rate at which the smoothed loss was lowest: there the loss still "
                    "falls fast, an order of magnitude short of where it starts to blow up"),
         "peak": (3, "a third of the learning rate at which the smoothed loss was lowest (Smith's one-cycle peak: "
                     "the warm-up and the annealing around it tame steps a constant rate could not take)")}


@dataclass
class RangeTest:
    """The learning rates tried, the smoothed loss at each, why it stopped, and the suggestion."""

    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    stopped: str = ""
    rule: str = "lr"  # RULES' key: lr, or peak (a onecycle schedule's max_lr)

    @property
    def lowest(self) -> int:
        return min(range(len(self.losses)), key=self.losses.__getitem__)

    @property
    def suggestion(self) -> float | None:
        """The rule's learning rate; None when the loss never fell (nothing to read off)."""
        if len(self.losses) < 10 or self.losses[self.lowest] >= self.losses[0]:
            return None
        return self.lrs[self.lowest] / RULES[self.rule][0]


def steps_for(batches_per_epoch: int) -> int:
    return max(MIN_STEPS, min(MAX_STEPS, batches_per_epoch))


def range_test(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
               batches: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int, forward: Callable | None = None,
               start: float = START, end: float = END, stop: Callable[[], bool] = lambda: False,
               rule: str = "lr") -> RangeTest:
    """Train `steps` batches at learning rates from `start` to `end` (a constant factor a step); the curve."""
    forward, found = forward or model, RangeTest(rule=rule)
    factor, average = (end / start) ** (1 / max(steps - 1, 1)), 0.0
    model.train()
    for step, (xb, yb) in enumerate(batches, 1):
        lr = start * factor ** (step - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = loss_fn(forward(xb), yb)
        value = loss.item()
        if not math.isfinite(value):
            found.stopped = f"the loss became {value} at learning rate {lr:.2g}"
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        smoothed = average / (1 - SMOOTHING ** step)
        found.lrs.append(lr)
        found.losses.append(smoothed)
        if step > 10 and smoothed > DIVERGED * min(found.losses):
            found.stopped = f"the loss rose to {DIVERGED:g}x its lowest at learning rate {lr:.2g}"
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= steps or stop():
            found.stopped = f"{step} steps, up to learning rate {lr:.2g}" if step >= steps else "stopped"
            break
    return found
