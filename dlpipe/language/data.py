"""Data sections of the pipeline language (torch-free): one config class per source, and DATA_SOURCES.

Adding a source: a class here (with its TASK), added to DATA_SOURCES, and its builder
in the SOURCES table of dlpipe/data/sources.py.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from dlpipe.language.files import ArraysData, CSVData, ImageFolderData, SpamAssassinData
from dlpipe.language.series import SeriesData
from dlpipe.language.source import AUGMENT, MAX_ABS_X, MIN_SPLIT, Augment, DataSource, SplitFractions


class SyntheticData(DataSource):
    """Fields shared by the synthetic regression sources: y = f(x) + noise."""

    TASK = "regression"
    samples: int = Field(1000, ge=10, le=10_000_000, description="Number of (x, y) samples to draw.")
    x_range: tuple[float, float] = Field(
        (-math.pi, math.pi), description="[low, high]: x is drawn uniformly from this interval."
    )
    noise: float = Field(0.05, ge=0, description="Standard deviation of Gaussian noise added to y.")
    split: SplitFractions = Field(default_factory=SplitFractions, description="Train/validation/test fractions.")

    @field_validator("x_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(math.isfinite(v) and abs(v) <= MAX_ABS_X for v in value):
            raise ValueError(f"x_range must hold finite numbers within ±{MAX_ABS_X:g} (got {list(value)})")
        if not value[0] < value[1]:
            raise ValueError(f"x_range must be [low, high] with low < high (got {list(value)})")
        return value

    @model_validator(mode="after")
    def _every_split_has_enough(self) -> SyntheticData:
        sizes = self.split.sizes(self.samples)
        if min(sizes) < MIN_SPLIT:
            needed = next(n for n in range(self.samples, 10**8) if min(self.split.sizes(n)) >= MIN_SPLIT)
            raise ValueError(f"samples: {self.samples} samples split {self.split.train:g}/{self.split.validation:g}/"
                             f"{self.split.test:g} leave {sizes[0]}/{sizes[1]}/{sizes[2]} for train/validation/test;"
                             f" every split needs at least {MIN_SPLIT} (use samples: {needed} or more)")
        return self


class SineData(SyntheticData):
    """y = amplitude * sin(frequency * x + phase) + noise."""

    type: Literal["sine"] = Field(description="Sine wave regression.")
    amplitude: float = Field(1.0, description="Peak height of the sine.")
    frequency: float = Field(1.0, description="Angular frequency (radians per unit of x).")
    phase: float = Field(0.0, description="Phase shift in radians.")


class PolynomialData(SyntheticData):
    """y = c0 + c1 x + c2 x^2 + ... + noise."""

    type: Literal["polynomial"] = Field(description="Polynomial regression.")
    coefficients: list[float] = Field(
        min_length=1, description="Coefficients, lowest power first: [10, 0, 0, 5] is 5x^3 + 10."
    )


class LinearData(SyntheticData):
    """y = w x + b + noise: the simplest regression there is."""

    type: Literal["linear"] = Field(description="Straight-line regression.")
    w: float = Field(2.0, description="True slope.")
    b: float = Field(1.0, description="True intercept.")


class ImageData(DataSource):
    """Fields shared by the built-in image datasets (MNIST, Fashion-MNIST, CIFAR-10)."""

    TASK = "classification"
    FLIPS: ClassVar[tuple[str, ...]] = ()  # the flips that keep an image what it is (digits: none)
    root: str | None = Field(None, description="Folder holding the dataset's files; searched first.")
    augment: Augment | None = Field(None, description=AUGMENT)
    validation: Union[int, float] = Field(
        5000, gt=0, description="Validation images carved from the training set: a count, or a fraction < 1.")
    limit: int | None = Field(
        None, ge=10, description="Train on this many training images only (class-balanced), for quick runs.")
    normalize: bool = Field(True, description="Scale pixels to zero mean, unit std (the training set's).")
    download: bool = Field(True, description="Download missing files (checksums verified) when online.")

    @field_validator("validation")
    @classmethod
    def _count_or_fraction(cls, value: Union[int, float]) -> Union[int, float]:
        if isinstance(value, float) and not value < 1:
            raise ValueError(f"validation is a count (an integer) or a fraction below 1 (got {value})")
        return value


class MNISTData(ImageData):
    """MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28, 10 classes."""

    type: Literal["mnist"] = Field(description="MNIST digits.")


class FashionMNISTData(ImageData):
    """Fashion-MNIST clothing: same format as MNIST, 10 kinds of garment."""

    FLIPS = ("horizontal",)  # a mirrored shoe is a shoe; one upside down is not how shoes are photographed
    type: Literal["fashion_mnist"] = Field(description="Fashion-MNIST clothing images.")


class CIFAR10Data(ImageData):
    """CIFAR-10 colour photos: 50,000 training and 10,000 test images, 3x32x32, 10 classes."""

    FLIPS = ("horizontal",)
    type: Literal["cifar10"] = Field(description="CIFAR-10 colour images (the official python-version archive).")


# The data-source registry: the union of `data:` and the data stage's SOURCES table follow this tuple.
DATA_SOURCES = (SineData, PolynomialData, LinearData, MNISTData, FashionMNISTData, CIFAR10Data, CSVData,
                SpamAssassinData, ArraysData, ImageFolderData, SeriesData)
