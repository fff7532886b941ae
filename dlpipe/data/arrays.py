"""The arrays source: NumPy inputs and targets from one .npz, or from two .npy files; any sample shape.

Shapes are read from the array headers before any data, so the memory check and
`dlpipe validate` cost nothing. Inputs are standardized per feature (2-D inputs) or
per channel (axis 1 of 3-D and larger inputs) with the training split's statistics.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data import targets
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.memory import check_fits
from dlpipe.data.npy import read_header, refused_kind
from dlpipe.data.preprocess import Preprocessing
from dlpipe.data.table import check_file
from dlpipe.language.errors import InvalidValue
from dlpipe.language.files import ArraysData


def _where(config: ArraysData, role: str) -> tuple[Path, str | None, tuple]:
    """(file, name inside the .npz or None, the pipeline key that named it) of x or y."""
    if config.path is not None:
        return Path(config.path), getattr(config, role), ("data", "path")
    return Path(getattr(config, role)), None, ("data", role)


def header(config: ArraysData, role: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of x or y from its .npy header (inside the .npz or alone), without reading the data."""
    path, name, key = _where(config, role)
    check_file(path, key, (".npz", ".npy"))
    try:
        if name is None:
            with open(path, "rb") as handle:
                shape, dtype = read_header(handle, path.stat().st_size)
        else:
            with zipfile.ZipFile(path) as archive:
                members = [m.removesuffix(".npy") for m in archive.namelist()]
                if name not in members:
                    raise InvalidValue(("data", role), f"{path} has no array {name!r}; it holds: "
                                                       f"{', '.join(members)} (set data.{role} to one of them)")
                with archive.open(f"{name}.npy") as handle:
                    shape, dtype = read_header(handle, archive.getinfo(f"{name}.npy").file_size)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, InvalidValue):
            raise
        kind = ".npy" if name is None else ".npz"
        what = f"{role} " if name is not None else ""
        raise InvalidValue(key, f"{path}: {what}{exc}" if isinstance(exc, ValueError) and str(exc).startswith(
            ("is truncated", "its header")) else f"{path}: not a NumPy {kind} file ({exc})") from None
    if (why := refused_kind(dtype, role)) is not None:
        raise InvalidValue(key, f"{path}: {role} {why}")
    return shape, dtype


def _read(config: ArraysData, role: str) -> np.ndarray:
    path, name, key = _where(config, role)
    try:
        if name is None:
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            return archive[name]
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:  # the header was checked: a damaged body
        raise InvalidValue(key, f"{path}: {role} cannot be read ({exc})") from None


def _shapes(config: ArraysData) -> tuple[tuple[int, ...], tuple[int, ...], np.dtype]:
    (x_shape, x_type), (y_shape, y_type) = header(config, "x"), header(config, "y")
    if x_shape[:1] == (0,):
        raise InvalidValue(_where(config, "x")[2], f"{config.path or config.x}: x holds no samples (shape {x_shape})")
    if not x_shape or not y_shape or x_shape[0] != y_shape[0]:
        raise InvalidValue(("data", "y"), f"x has shape {x_shape} and y {y_shape}: they need the same length "
                                          "(one target per sample, along the first axis)")
    check_fits(x_shape[0] * math.prod(x_shape[1:] or (1,)) * 4 * 3 + x_shape[0] * 8 * 3,
               f"x {x_shape} ({x_type})", ("data", "x"))
    return x_shape, y_shape, y_type


def decide_task(config: ArraysData) -> tuple[str, str]:
    """(task, reason) from y (x is not read)."""
    _, y_shape, _ = _shapes(config)
    if len(y_shape) > 1 and int(np.prod(y_shape[1:])) > 1:
        return "regression", f"y holds {int(np.prod(y_shape[1:]))} values per sample: regression"
    return targets.decide(_read(config, "y").reshape(-1), "y")


def describe(config: ArraysData, seed: int = 0) -> DataInfo:
    """Sample shape from x's header; classes from y (read) for a classification."""
    x_shape, y_shape, _ = _shapes(config)
    sample = tuple(x_shape[1:]) or (1,)
    task = config.task_name if config.task_name != "auto" else decide_task(config)[0]
    if task == "classification":
        return DataInfo("classification", sample, len(np.unique(_read(config, "y"))))
    return DataInfo("regression", sample, int(np.prod(y_shape[1:] or (1,))))


def load(config: ArraysData, seed: int, progress: Progress) -> Dataset:
    """Read, split, standardize with the training split's statistics."""
    _shapes(config)
    x = _read(config, "x").astype(np.float32)  # beyond float32's 3.4e38 becomes inf: refused below with the rest
    x = x[:, None] if x.ndim == 1 else x
    targets.refuse_non_finite(x, "x", str(config.path or config.x), key=_where(config, "x")[2])
    raw_y = _read(config, "y")
    where, notes = str(config.path or config.y), []
    task = config.task_name if config.task_name != "auto" else targets.decide(raw_y.reshape(-1), "y")[0]
    parts = targets.split_rows(len(x), config.split, np.random.default_rng(seed), where,
                               labels=raw_y.reshape(-1) if task == "classification" else None)
    if task == "classification":
        labels, classes = targets.class_labels(raw_y.reshape(-1), "y", where, key=_where(config, "y")[2])
        notes = targets.class_support([labels[idx] for idx in parts], classes, where, _where(config, "y")[2])
        y, scale = torch.from_numpy(labels), (0.0, 1.0)
    else:
        values, classes = targets.regression_values(raw_y.reshape(len(x), -1), "y", where, key=_where(config, "y")[2]), ()
        scale = targets.target_scale(values[parts[0]], config.scale_target)
        y = torch.from_numpy(((values - scale[0]) / scale[1]).astype(np.float32))
    mean, std = _statistics(x[parts[0]]) if config.standardize else ((), ())
    prep = Preprocessing("arrays", task, tuple(x.shape[1:]), classes, "y", scale, mean=mean, std=std,
                         notes=tuple(notes))
    x_t = torch.from_numpy(prep.scaled(x))
    splits = [Samples(x_t[torch.from_numpy(idx)], y[torch.from_numpy(idx)]) for idx in parts]
    info = DataInfo(task, prep.sample_shape, len(classes) if classes else int(y.shape[1]))
    files = (Path(config.path),) if config.path else (Path(config.x), Path(config.y))
    return Dataset(info, *splits, classes=classes, files=files, preprocessing=prep)


def _statistics(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std per feature (2-D) or per channel (axis 1 of larger arrays); std 0 becomes 1."""
    axes = (0,) if x.ndim == 2 else (0, *range(2, x.ndim))
    mean, std = x.mean(axis=axes, dtype=np.float64), x.std(axis=axes, dtype=np.float64)
    return tuple(float(v) for v in mean), tuple(float(v) if v > 0 else 1.0 for v in std)
