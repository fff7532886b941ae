"""The data-source registry: for each config class, how to describe it and how to load it.

Adding a source: its config class in dlpipe/language/data.py (listed in DATA_SOURCES)
and one row here. `describe` must not read the samples (it runs in `dlpipe validate`);
`load` may download, and raises InvalidValue for a setting the data cannot satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dlpipe.archive.log import Progress
from dlpipe.data import arrays, cifar, corpus, folder, images, series, synthetic, tabular
from dlpipe.data.dataset import DataInfo, Dataset
from dlpipe.language.data import CIFAR10Data, FashionMNISTData, LinearData, MNISTData, PolynomialData, SineData
from dlpipe.language.files import ArraysData, CSVData, ImageFolderData, SpamAssassinData
from dlpipe.language.loader import Loaded, load_pipeline
from dlpipe.language.series import SeriesData


@dataclass(frozen=True)
class Source:
    """A data source's builder.

    describe(config, seed) -> DataInfo; load(config, seed, progress) -> Dataset;
    decide_task(config) -> (task, reason), for a source whose task may be auto.
    """

    describe: Callable[..., DataInfo]
    load: Callable[..., Dataset]
    decide_task: Callable[..., tuple[str, str]] | None = None


SYNTHETIC = Source(synthetic.describe, synthetic.load)
IMAGES = Source(images.describe, images.load)

SOURCES: dict[type, Source] = {
    SineData: SYNTHETIC,
    PolynomialData: SYNTHETIC,
    LinearData: SYNTHETIC,
    MNISTData: IMAGES,
    FashionMNISTData: IMAGES,
    CIFAR10Data: Source(cifar.describe, cifar.load),
    CSVData: Source(tabular.describe, tabular.load, tabular.decide_task),
    SpamAssassinData: Source(corpus.describe, corpus.load, corpus.decide_task),
    ArraysData: Source(arrays.describe, arrays.load, arrays.decide_task),
    ImageFolderData: Source(folder.describe, folder.load),
    SeriesData: Source(series.describe, series.load),
}


def describe(config, seed: int = 0) -> DataInfo:
    """What the configured source is (task, sample shape, target size), reading as little as it can."""
    return SOURCES[type(config)].describe(config, seed)


def decide_task(config) -> tuple[str, str]:
    """(task, reason) for a source whose task is auto: its targets read and judged."""
    decider = SOURCES[type(config)].decide_task
    return decider(config) if decider is not None else (config.TASK, "")


def read_pipeline(path: str | Path, overrides: tuple[str, ...] = ()) -> Loaded:
    """load_pipeline with the data stage deciding an auto task (the way the CLI and the Python API read files)."""
    return load_pipeline(path, overrides, decide_task=decide_task)


def load_data(config, seed: int, progress: Progress | None = None) -> Dataset:
    """Read (or generate) the samples and split them, all seeded; may download; DataUnavailable if it cannot."""
    return SOURCES[type(config)].load(config, seed, progress or Progress(quiet=True))
