"""Data stage: turn a data config into in-memory tensors split into train/validation/test.

The synthetic sources draw x uniformly from x_range and add Gaussian noise to
y = f(x); everything is seeded, so the same seed gives the same samples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dlpipe.config import DataConfig, FashionMNISTData, ImageData, LinearData, MNISTData, PolynomialData, SineData
from dlpipe.idx import FASHION_MNIST, MNIST, IdxDataset, read_arrays


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
    classes: tuple[str, ...] = ()
    pixel_mean_std: tuple[float, float] = (0.0, 1.0)  # to turn normalised images back into pixels
    files: tuple[Path, ...] = ()

    def to(self, device: torch.device) -> Dataset:
        moved = {name: getattr(self, name).to(device) for name in ("train", "validation", "test")}
        return dataclasses.replace(self, **moved)


def sample_shape(config: DataConfig) -> tuple[int, ...]:
    """Shape of one input sample, known without loading any data."""
    match config:
        case SineData() | PolynomialData() | LinearData():
            return (1,)
        case ImageData():
            return (1, 28, 28)
    raise ValueError(f"unknown data source {config!r}")


def target_size(config: DataConfig) -> int:
    """Width of the model's output: 1 for the regressions, the number of classes otherwise."""
    return len(idx_spec(config).classes) if isinstance(config, ImageData) else 1


def idx_spec(config: ImageData) -> IdxDataset:
    """The file table, mirrors and class names of an image source."""
    match config:
        case MNISTData():
            return MNIST
        case FashionMNISTData():
            return FASHION_MNIST
    raise ValueError(f"unknown image source {config!r}")


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


def load_data(config: DataConfig, seed: int, files: dict[str, Path] | None = None) -> Dataset:
    """Generate or read the samples and split them, all seeded; image sources need their `files`."""
    if isinstance(config, ImageData):
        return load_images(config, seed, files or {})
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


def load_images(config: ImageData, seed: int, files: dict[str, Path]) -> Dataset:
    """Official test set as test; validation carved from training; optional class-balanced limit."""
    spec = idx_spec(config)
    arrays = read_arrays(files, spec)
    rng = np.random.default_rng(seed)
    labels = arrays["train_labels"]
    order = rng.permutation(len(labels))
    n_val = config.validation if isinstance(config.validation, int) else round(config.validation * len(labels))
    if not 0 < n_val < len(labels) - 10:
        raise ValueError(f"data.validation: {n_val} images leaves too few of {len(labels)} for training")
    val_idx, train_idx = order[:n_val], order[n_val:]
    if config.limit is not None:
        train_idx = _balanced(train_idx, labels, config.limit, len(spec.classes), rng)
    # Float once, up front (~190 MB for all of MNIST): no conversion in the training loop.
    images = torch.from_numpy(arrays["train_images"]).unsqueeze(1)
    train_x = images[torch.from_numpy(train_idx)].float().div_(255)
    mean, std = (train_x.mean().item(), train_x.std().item()) if config.normalize else (0.0, 1.0)

    def split(pixels: torch.Tensor, y: np.ndarray) -> Split:
        return Split(pixels.sub_(mean).div_(std), torch.from_numpy(y.astype(np.int64)))

    test_x = torch.from_numpy(arrays["test_images"]).unsqueeze(1).float().div_(255)
    return Dataset("classification", split(train_x, labels[train_idx]),
                   split(images[torch.from_numpy(val_idx)].float().div_(255), labels[val_idx]),
                   split(test_x, arrays["test_labels"]), (1, 28, 28), len(spec.classes), classes=spec.classes,
                   pixel_mean_std=(mean, std), files=tuple(files.values()))


def _balanced(pool: np.ndarray, labels: np.ndarray, limit: int, classes: int, rng) -> np.ndarray:
    """`limit` indices from `pool` with the classes as equal as possible, in random order."""
    per_class = [pool[labels[pool] == c] for c in range(classes)]
    quota = [limit // classes + (1 if c < limit % classes else 0) for c in range(classes)]
    chosen = np.concatenate([members[:q] for members, q in zip(per_class, quota)])
    return rng.permutation(chosen)
