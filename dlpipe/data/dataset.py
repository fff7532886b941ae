"""What the data stage hands on: samples split three ways, and what is known about them up front."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dlpipe.data.preprocess import Preprocessing
from dlpipe.data.targets import split_rows


@dataclass(frozen=True)
class Samples:
    """Inputs and targets of one split, as tensors of equal length."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device) -> Samples:
        """On `device`; to a GPU from pinned memory without blocking (the copies overlap, then the batches
        are gathered on the GPU itself)."""
        if device.type == "cuda" and self.x.device.type == "cpu":
            return Samples(self.x.pin_memory().to(device, non_blocking=True),
                           self.y.pin_memory().to(device, non_blocking=True))
        return Samples(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class DataInfo:
    """What a source is, known before its samples are read: checks and model building need only this.

    task: regression or classification; sample_shape: one input without the batch
    dimension; target_size: values per target (regression) or classes; true_function:
    the noise-free y = f(x) of a synthetic source, over x_range.
    """

    task: str
    sample_shape: tuple[int, ...]
    target_size: int
    true_function: Callable[[np.ndarray], np.ndarray] | None = None
    x_range: tuple[float, float] | None = None
    vocabulary: int | None = None  # token sequences: the distinct ids an embedding layer needs rows for
    classes: tuple[str, ...] = ()  # the class names, where the source knows them without reading samples


@dataclass(frozen=True)
class Dataset:
    """Everything the later stages need to know about the data."""

    info: DataInfo
    train: Samples
    validation: Samples
    test: Samples
    classes: tuple[str, ...] = ()
    pixel_mean_std: tuple[float, float] = (0.0, 1.0)  # to turn normalised images back into pixels
    files: tuple[Path, ...] = ()
    preprocessing: Preprocessing | None = None  # what was fitted on the training split (stored with the model)
    text: dict | None = None  # text columns: vocabulary size, tokens per row, test tokens outside the vocabulary
    test_text: dict | None = None  # the test rows' text cells by column (the report's misclassified messages)
    # a series: the test targets' times, the naive forecast of each (scaled as the targets), the gap and split sizes
    forecast: dict | None = None
    columns: list | None = None  # a table: each feature's name, kind and what it became (the report's data table)
    unseen: dict | None = None  # a table: per categorical column, the share of validation and test rows unseen

    @property
    def target_scale(self) -> tuple[float, float]:
        """(mean, std) a regression target was standardized with for training; metrics undo it."""
        return self.preprocessing.target_scale if self.preprocessing is not None else (0.0, 1.0)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the data stage did that the report should say (rows left out, unseen categories, skipped files)."""
        return self.preprocessing.notes if self.preprocessing is not None else ()

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.info.sample_shape

    @property
    def target_size(self) -> int:
        return self.info.target_size

    @property
    def is_image(self) -> bool:
        """(channels, height, width) samples with 1 (grey) or 3 (colour) channels: the report can show them."""
        return len(self.sample_shape) == 3 and self.sample_shape[0] in (1, 3)

    def to(self, device: torch.device) -> Dataset:
        moved = {name: getattr(self, name).to(device) for name in ("train", "validation", "test")}
        return dataclasses.replace(self, **moved)


def split_three(x: torch.Tensor, y: torch.Tensor, fractions, rng: np.random.Generator
                ) -> tuple[Samples, Samples, Samples]:
    """Shuffle once, then cut into train/validation/test by the configured fractions (or fold K of folds)."""
    cuts = split_rows(len(x), fractions, rng, "the samples")
    return tuple(Samples(x[torch.from_numpy(idx)], y[torch.from_numpy(idx)]) for idx in cuts)
