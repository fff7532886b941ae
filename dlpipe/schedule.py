"""Learning-rate schedules: a torch scheduler stepped at the right moments, after an optional warmup."""

from __future__ import annotations

import torch
from torch.optim import lr_scheduler

from dlpipe.config_optim import (
    CosineSchedule,
    ExponentialSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    PlateauSchedule,
    SchedulerConfig,
    StepSchedule,
)


def build_torch_scheduler(config: SchedulerConfig, optimizer: torch.optim.Optimizer, epochs: int, steps: int):
    """The torch scheduler for `epochs` epochs (after warmup) of `steps` batches each."""
    match config:
        case StepSchedule(step_size=size, gamma=gamma):
            return lr_scheduler.StepLR(optimizer, step_size=size, gamma=gamma)
        case MultiStepSchedule(milestones=milestones, gamma=gamma):
            return lr_scheduler.MultiStepLR(optimizer, milestones=sorted(milestones), gamma=gamma)
        case ExponentialSchedule(gamma=gamma):
            return lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        case CosineSchedule(min_lr=min_lr):
            return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs), eta_min=min_lr)
        case OneCycleSchedule(max_lr=max_lr, pct_start=pct):
            peak = max_lr or optimizer.param_groups[0]["lr"]
            return lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=epochs * steps, pct_start=pct)
        case PlateauSchedule(mode=mode, factor=factor, patience=patience, min_lr=min_lr):
            return lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience,
                                                  min_lr=min_lr)
    raise ValueError(f"unknown schedule {config!r}")


class LRSchedule:
    """Drives one schedule through training: call start_epoch, after_batch and end_epoch from the loop."""

    def __init__(self, config: SchedulerConfig | None, optimizer: torch.optim.Optimizer, epochs: int, steps: int):
        self.config = config
        self.optimizer = optimizer
        self.warmup = getattr(config, "warmup_epochs", 0)
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.inner = build_torch_scheduler(config, optimizer, epochs - self.warmup, steps) if config else None
        self.per_batch = isinstance(config, OneCycleSchedule)

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
        if isinstance(self.config, PlateauSchedule):
            self.inner.step(row[self.config.monitor])
        else:
            self.inner.step()

    def state_dict(self) -> dict:
        return self.inner.state_dict() if self.inner is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.inner is not None and state:
            self.inner.load_state_dict(state)
