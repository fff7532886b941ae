"""The CIFAR-10 source: the official python-version archive, verified, read without unpickling arbitrary objects.

The archive is found like MNIST's files (data.root, $DLPIPE_DATA/cifar10, the XDG cache)
or downloaded; it is used only when its SHA-256 matches the published file (whose MD5,
c58f30108f718f92721af3b95e74349a, is the one on the CIFAR page). Its batches are Python
pickles: a restricted unpickler admits only the dicts, lists, bytes and NumPy arrays the
format holds, so a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.download import locate
from dlpipe.data.idx import DataUnavailable, IdxDataset, IdxFile
from dlpipe.data.images import carve, validation_count
from dlpipe.data.preprocess import Preprocessing
from dlpipe.language.data import CIFAR10Data

ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
ARCHIVE_BYTES = 170_498_071
CIFAR10 = IdxDataset(
    title="CIFAR-10", folder="cifar10",
    files={"archive": IdxFile("cifar-10-python.tar.gz", ARCHIVE_SHA256, ARCHIVE_SHA256)},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
)
TRAIN_IMAGES, SHAPE = 50_000, (3, 32, 32)
BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # Python 3's protocol-2 bytes


class _ArraysOnly(pickle.Unpickler):
    """An unpickler for CIFAR's batches: NumPy arrays and builtins, nothing that could run code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of the CIFAR-10 format")
        if module == "numpy":
            return getattr(np, name)
        if module == "_codecs":
            import codecs

            return codecs.encode
        core = getattr(np, "_core", None) or np.core  # numpy 2 moved it; its pickles name either module
        return core.multiarray._reconstruct


def verify(path: Path, sha256: str = ARCHIVE_SHA256) -> None:
    """DataUnavailable unless `path` is the published archive (checked by its SHA-256, streamed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise DataUnavailable(f"{path}: checksum does not match the published cifar-10-python.tar.gz "
                              f"({path.stat().st_size} bytes; the official one has {ARCHIVE_BYTES}); the file is not "
                              "used. Replace it with a good copy.")


def read_archive(path: Path) -> dict[str, np.ndarray]:
    """train/test images (N, 3, 32, 32) uint8 and labels, read from the archive's six batches."""
    parts: dict[str, list] = {"train_images": [], "train_labels": [], "test_images": [], "test_labels": []}
    try:
        with tarfile.open(path, "r:*") as archive:
            for name in (*BATCHES, "test_batch"):
                batch = _batch(archive, f"cifar-10-batches-py/{name}", path)
                split = "test" if name == "test_batch" else "train"
                parts[f"{split}_images"].append(batch[b"data"].reshape(-1, *SHAPE))
                parts[f"{split}_labels"].append(np.asarray(batch[b"labels"], dtype=np.int64))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataUnavailable(f"{path}: not a readable CIFAR-10 archive ({exc})") from None
    arrays = {key: np.concatenate(value) for key, value in parts.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
            raise DataUnavailable(f"{path}: the {split} batches hold {len(images)} images and {len(labels)} labels "
                                  "(labels 0..9 expected, one per image)")
    return arrays


def _batch(archive: tarfile.TarFile, member: str, path: Path) -> dict:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        raise DataUnavailable(f"{path}: has no {member}; expected the python-version archive") from None
    try:
        batch = _ArraysOnly(io.BytesIO(handle.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise DataUnavailable(f"{path}: {member} is not a CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataUnavailable(f"{path}: {member} is not a CIFAR-10 batch (no data and labels)")
    return batch


def describe(config: CIFAR10Data, seed: int = 0) -> DataInfo:
    """One 3x32x32 colour image in, one score per class out."""
    validation_count(config, TRAIN_IMAGES)
    return DataInfo("classification", SHAPE, len(CIFAR10.classes))


def load(config: CIFAR10Data, seed: int, progress: Progress, spec: IdxDataset = CIFAR10) -> Dataset:
    """Official test batch as test; validation carved from training; per-channel normalization from training."""
    path = locate(spec, config.root, config.download, progress=progress)["archive"]
    verify(path, spec.files["archive"].gz_sha256)
    arrays = read_archive(path)
    return from_arrays(config, arrays, seed)


def from_arrays(config: CIFAR10Data, arrays: dict[str, np.ndarray], seed: int) -> Dataset:
    """Split, limit and normalize the decoded archive (as the MNIST source does, per channel)."""
    labels = arrays["train_labels"]
    train_idx, val_idx = carve(config, labels, len(CIFAR10.classes), seed)
    images = torch.from_numpy(arrays["train_images"])
    x = [images[torch.from_numpy(train_idx)].float().div_(255), images[torch.from_numpy(val_idx)].float().div_(255),
         torch.from_numpy(arrays["test_images"]).float().div_(255)]
    mean = tuple(x[0][:, c].mean().item() for c in range(3)) if config.normalize else ()
    std = tuple(x[0][:, c].std().item() for c in range(3)) if config.normalize else ()
    for part in x:
        for c in range(len(mean)):
            part[:, c].sub_(mean[c]).div_(std[c])
    y = [labels[train_idx], labels[val_idx], arrays["test_labels"]]
    prep = Preprocessing("images", "classification", SHAPE, CIFAR10.classes, mean=mean, std=std, size=(32, 32),
                         channels=3)
    return Dataset(describe(config), *(Samples(xs, torch.from_numpy(ys)) for xs, ys in zip(x, y)),
                   classes=CIFAR10.classes, preprocessing=prep)
