"""Data stage: turn a data config into in-memory tensors split into train/validation/test.

The synthetic sources draw x uniformly from x_range and add Gaussian noise to
y = f(x); everything is seeded, so the same seed gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from dlpipe.config import DataConfig, LinearData, PolynomialData, SineData


@dataclass(frozen=True)
class Split:
    """Inputs and targets of one split, as tensors of equal length."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class Dataset:
    """Everything the later stages need to know about the data."""

    task: str
    train: Split
    validation: Split
    test: Split
    sample_shape: tuple[int, ...]
    target_size: int
    true_function: Callable[[np.ndarray], np.ndarray] | None = None
    x_range: tuple[float, float] | None = None

    def to(self, device: torch.device) -> Dataset:
        moved = {name: getattr(self, name).to(device) for name in ("train", "validation", "test")}
        return Dataset(self.task, **moved, sample_shape=self.sample_shape, target_size=self.target_size,
                       true_function=self.true_function, x_range=self.x_range)


def sample_shape(config: DataConfig) -> tuple[int, ...]:
    """Shape of one input sample, known without loading any data."""
    match config:
        case SineData() | PolynomialData() | LinearData():
            return (1,)
    raise ValueError(f"unknown data source {config!r}")


def target_size(config: DataConfig) -> int:
    """Values per target: 1 for the synthetic regressions."""
    return 1


def true_function(config: DataConfig) -> Callable[[np.ndarray], np.ndarray]:
    """The noise-free function a synthetic source samples."""
    match config:
        case SineData(amplitude=a, frequency=f, phase=p):
            return lambda x: a * np.sin(f * x + p)
        case PolynomialData(coefficients=c):
            return lambda x: np.polynomial.polynomial.polyval(x, c)
        case LinearData(w=w, b=b):
            return lambda x: w * x + b
    raise ValueError(f"no true function for {config!r}")


def load_data(config: DataConfig, seed: int) -> Dataset:
    """Generate (or later, read) the samples and split them, all seeded."""
    rng = np.random.default_rng(seed)
    f = true_function(config)
    low, high = config.x_range
    x = rng.uniform(low, high, size=(config.samples, 1))
    y = f(x) + rng.normal(0.0, config.noise, size=x.shape)
    x_t = torch.from_numpy(x.astype(np.float32))
    y_t = torch.from_numpy(y.astype(np.float32))
    train, validation, test = _split(x_t, y_t, config.split, rng)
    return Dataset("regression", train, validation, test, sample_shape(config), target_size(config), f, (low, high))


def _split(x: torch.Tensor, y: torch.Tensor, fractions, rng: np.random.Generator) -> tuple[Split, Split, Split]:
    """Shuffle once, then cut into train/validation/test by the configured fractions."""
    order = torch.from_numpy(rng.permutation(len(x)))
    n_train = min(max(1, round(fractions.train * len(x))), len(x) - 2)
    n_val = min(max(1, round(fractions.validation * len(x))), len(x) - n_train - 1)
    cuts = [order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]]
    return tuple(Split(x[idx], y[idx]) for idx in cuts)
