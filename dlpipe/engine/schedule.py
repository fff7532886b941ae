"""Learning-rate schedules: a torch scheduler stepped at the right moments, after an optional warmup."""

from __future__ import annotations

from typing import Callable

import torch
from torch.optim import lr_scheduler

from dlpipe.language.optim import (
    CosineSchedule,
    ExponentialSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    PlateauSchedule,
    StepSchedule,
)

# Each builder gets (config, optimizer, epochs after warmup, batches per epoch). Adding a schedule: its config
# class in dlpipe/language/optim.py (listed in SCHEDULERS; PER_BATCH if it steps every batch) and one row here.
SCHEDULE_BUILDERS: dict[type, Callable] = {
    StepSchedule: lambda c, opt, epochs, steps: lr_scheduler.StepLR(opt, step_size=c.step_size, gamma=c.gamma),
    MultiStepSchedule: lambda c, opt, epochs, steps: lr_scheduler.MultiStepLR(opt, milestones=sorted(c.milestones),
                                                                              gamma=c.gamma),
    ExponentialSchedule: lambda c, opt, epochs, steps: lr_scheduler.ExponentialLR(opt, gamma=c.gamma),
    CosineSchedule: lambda c, opt, epochs, steps: lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs),
                                                                                 eta_min=c.min_lr),
    OneCycleSchedule: lambda c, opt, epochs, steps: lr_scheduler.OneCycleLR(
        opt, max_lr=c.max_lr or opt.param_groups[0]["lr"], total_steps=epochs * steps, pct_start=c.pct_start),
    PlateauSchedule: lambda c, opt, epochs, steps: lr_scheduler.ReduceLROnPlateau(
        opt, mode="max" if c.higher_is_better else "min", factor=c.factor, patience=c.patience, min_lr=c.min_lr),
}


class LRSchedule:
    """Drives one schedule through training: call start_epoch, after_batch and end_epoch from the loop."""

    def __init__(self, config, optimizer: torch.optim.Optimizer, epochs: int, steps: int):
        self.config = config
        self.optimizer = optimizer
        self.warmup = getattr(config, "warmup_epochs", 0)
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.inner = SCHEDULE_BUILDERS[type(config)](config, optimizer, epochs - self.warmup, steps) if config else None
        self.per_batch = bool(config and config.PER_BATCH)
        self.monitor = getattr(config, "monitor", None)  # a schedule that watches a recorded value

    def _set(self, scale: float) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base):
            group["lr"] = base * scale

    def start_epoch(self, epoch: int) -> None:
        """Linear warmup: epoch e of w runs at e/(w+1) of the lr; the full lr comes back after it."""
        if epoch <= self.warmup:
            self._set(epoch / (self.warmup + 1))
        elif self.warmup and epoch == self.warmup + 1:
            self._set(1.0)

    def after_batch(self) -> None:
        if self.per_batch:
            self.inner.step()

    def end_epoch(self, epoch: int, row: dict[str, float]) -> None:
        if self.inner is None or self.per_batch or epoch <= self.warmup:
            return
        if self.monitor is not None:
            self.inner.step(row[self.monitor])
        else:
            self.inner.step()

    def state_dict(self) -> dict:
        return self.inner.state_dict() if self.inner is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.inner is not None and state:
            self.inner.load_state_dict(state)
