"""The MNIST and Fashion-MNIST sources: locate (or download) the IDX files, read and split them.

The official test set is the test split; validation images are carved from the
training set; `limit` trains on a class-balanced subset for quick runs.
"""

from __future__ import annotations

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.download import locate
from dlpipe.data.preprocess import Preprocessing
from dlpipe.data.idx import FASHION_MNIST, MNIST, IdxDataset, read_arrays
from dlpipe.language.data import FashionMNISTData, ImageData, MNISTData
from dlpipe.language.errors import InvalidValue

SPECS: dict[type[ImageData], IdxDataset] = {MNISTData: MNIST, FashionMNISTData: FASHION_MNIST}
TRAIN_IMAGES = 60_000  # both datasets (their checksums pin it)


def describe(config: ImageData, seed: int = 0) -> DataInfo:
    """One 28x28 grey image in, one score per class out; InvalidValue for a validation split that cannot be."""
    validation_count(config)
    classes = SPECS[type(config)].classes
    return DataInfo("classification", (1, 28, 28), len(classes), classes=tuple(classes))


def validation_count(config: ImageData, available: int = TRAIN_IMAGES) -> int:
    """How many training images validation takes; InvalidValue when too few would be left to train on."""
    n_val = config.validation if isinstance(config.validation, int) else round(config.validation * available)
    if not 0 < n_val < available - 10:
        raise InvalidValue(("data", "validation"), f"{n_val} validation images leave too few of the {available} "
                                                   f"training images to train on; use at most {available - 11} "
                                                   "or a fraction such as 0.1")
    return n_val


def load(config: ImageData, seed: int, progress: Progress) -> Dataset:
    """Official test set as test; validation carved from training; optional class-balanced limit."""
    spec = SPECS[type(config)]
    files = locate(spec, config.root, config.download, progress=progress)
    arrays = read_arrays(files, spec)
    labels = arrays["train_labels"]
    train_idx, val_idx = carve(config, labels, len(spec.classes), seed)
    # Float once, up front (~190 MB for all of MNIST): no conversion in the training loop.
    images = torch.from_numpy(arrays["train_images"]).unsqueeze(1)
    train_x = images[torch.from_numpy(train_idx)].float().div_(255)
    mean, std = (train_x.mean().item(), train_x.std().item()) if config.normalize else (0.0, 1.0)

    def split(pixels: torch.Tensor, y: np.ndarray) -> Samples:
        return Samples(pixels.sub_(mean).div_(std), torch.from_numpy(y.astype(np.int64)))

    test_x = torch.from_numpy(arrays["test_images"]).unsqueeze(1).float().div_(255)
    return Dataset(describe(config), split(train_x, labels[train_idx]),
                   split(images[torch.from_numpy(val_idx)].float().div_(255), labels[val_idx]),
                   split(test_x, arrays["test_labels"]), classes=spec.classes, pixel_mean_std=(mean, std),
                   files=tuple(files.values()), preprocessing=Preprocessing(
                       "images", "classification", (1, 28, 28), spec.classes, mean=(mean,), std=(std,), size=(28, 28),
                       channels=1))


def carve(config: ImageData, labels: np.ndarray, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices of the training images: validation carved at random, then the optional limit."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    n_val = validation_count(config, len(labels))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if config.limit is not None:
        train_idx = balanced(train_idx, labels, config.limit, classes, rng)
    return train_idx, val_idx


def balanced(pool: np.ndarray, labels: np.ndarray, limit: int, classes: int, rng) -> np.ndarray:
    """`limit` indices from `pool` with the classes as equal as possible, in random order."""
    per_class = [pool[labels[pool] == c] for c in range(classes)]
    quota = [limit // classes + (1 if c < limit % classes else 0) for c in range(classes)]
    chosen = np.concatenate([members[:q] for members, q in zip(per_class, quota)])
    return rng.permutation(chosen)
