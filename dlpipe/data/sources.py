"""The data-source registry: for each config class, how to describe it and how to load it.

Adding a source: its config class in dlpipe/language/data.py (listed in DATA_SOURCES)
and one row here. `describe` must not read the samples (it runs in `dlpipe validate`);
`load` may download, and raises InvalidValue for a setting the data cannot satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dlpipe.archive.log import Progress
from dlpipe.data import images, synthetic
from dlpipe.data.dataset import DataInfo, Dataset
from dlpipe.language.data import FashionMNISTData, LinearData, MNISTData, PolynomialData, SineData


@dataclass(frozen=True)
class Source:
    """A data source's builder: describe(config) -> DataInfo; load(config, seed, progress) -> Dataset."""

    describe: Callable[..., DataInfo]
    load: Callable[..., Dataset]


SYNTHETIC = Source(synthetic.describe, synthetic.load)
IMAGES = Source(images.describe, images.load)

SOURCES: dict[type, Source] = {
    SineData: SYNTHETIC,
    PolynomialData: SYNTHETIC,
    LinearData: SYNTHETIC,
    MNISTData: IMAGES,
    FashionMNISTData: IMAGES,
}


def describe(config) -> DataInfo:
    """What the configured source is (task, sample shape, target size), without reading its samples."""
    return SOURCES[type(config)].describe(config)


def load_data(config, seed: int, progress: Progress | None = None) -> Dataset:
    """Read (or generate) the samples and split them, all seeded; may download; DataUnavailable if it cannot."""
    return SOURCES[type(config)].load(config, seed, progress or Progress(quiet=True))
