"""Synthetic regression sources: y = f(x) + noise, x drawn uniformly from x_range, all seeded."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data.dataset import DataInfo, Dataset, split_three
from dlpipe.data.preprocess import Preprocessing
from dlpipe.language.data import LinearData, PolynomialData, SineData, SyntheticData


def true_function(config: SyntheticData) -> Callable[[np.ndarray], np.ndarray]:
    """The noise-free function a synthetic source samples."""
    match config:
        case SineData(amplitude=a, frequency=f, phase=p):
            return lambda x: a * np.sin(f * x + p)
        case PolynomialData(coefficients=c):
            return lambda x: np.polynomial.polynomial.polyval(x, c)
        case LinearData(w=w, b=b):
            return lambda x: w * x + b
    raise TypeError(f"no true function for {type(config).__name__}")


def describe(config: SyntheticData, seed: int = 0) -> DataInfo:
    """One x in, one y out; the true function is known."""
    return DataInfo("regression", (1,), 1, true_function(config), tuple(config.x_range))


def load(config: SyntheticData, seed: int, progress: Progress) -> Dataset:
    """Draw the samples and split them; the same seed gives the same samples."""
    rng = np.random.default_rng(seed)
    info = describe(config)
    x = rng.uniform(*config.x_range, size=(config.samples, 1))
    y = info.true_function(x) + rng.normal(0.0, config.noise, size=x.shape)
    x_t = torch.from_numpy(x.astype(np.float32))
    y_t = torch.from_numpy(y.astype(np.float32))
    train, validation, test = split_three(x_t, y_t, config.split, rng)
    return Dataset(info, train, validation, test, preprocessing=Preprocessing("arrays", "regression", (1,)))
