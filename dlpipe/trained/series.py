"""New inputs for a series model: past values in time order (a table of its columns, or the raw windows), turned
into the windows training made, with its stored scaling; every empty, non-numeric or out-of-order value refused.
"""

from __future__ import annotations

import numpy as np
import torch

from dlpipe.data.preprocess import Preprocessing
from dlpipe.data.series import time_order, windows
from dlpipe.trained.errors import InputError
from dlpipe.data import schema
from dlpipe.trained.rows import _columns


def series_values(prep: Preprocessing, data) -> np.ndarray:
    """(rows, channels) raw values of the model's columns, oldest first; InputError for fewer rows than a window."""
    names = [c.name for c in prep.columns]
    if isinstance(data, np.ndarray) and data.ndim == 1 and len(names) == 1:
        data = {names[0]: data}  # a plain run of values of a single-column series
    columns = _columns(prep, data)
    values = []
    for name in names:
        try:
            numbers = schema.numbers(name, np.asarray(columns[name], dtype=object).reshape(-1))
        except schema.BadCells as exc:
            raise InputError(str(exc)) from None
        if np.isnan(numbers).any():
            raise InputError(f"row {int(np.flatnonzero(np.isnan(numbers))[0]) + 1}, column {name!r}: empty; a series "
                             "needs a value at every step (fill it, or leave the row out)")
        values.append(numbers)
    values = np.stack(values, axis=1)
    if len(values) < prep.window:
        raise InputError(f"{len(values)} row(s) of {', '.join(names)}; this model forecasts from the last "
                         f"{prep.window} values: give at least {prep.window} rows, oldest first")
    return values


def check_order(labels, name: str) -> None:
    """InputError at the first time label that is neither a number nor a date, or not after the one before."""
    bad, row = time_order(labels)
    if bad is not None:
        raise InputError(f"row {bad + 1}, column {name!r}: {schema.shown(labels[bad])!r} is neither a number nor a "
                         "date")
    if row is not None:
        raise InputError(f"row {row + 1}, column {name!r}: {schema.shown(labels[row])!r} is not after the row "
                         f"before ({schema.shown(labels[row - 1])!r}); give the rows in time order")


def series_inputs(prep: Preprocessing, data) -> torch.Tensor:
    """Every window of the rows (rows - window + 1 of them), or raw windows (N, window, channels), scaled."""
    if isinstance(data, np.ndarray) and data.ndim == 3:
        if tuple(data.shape[1:]) != tuple(prep.sample_shape):
            raise InputError(f"windows of shape {tuple(data.shape)}; this model takes (N, "
                             f"{', '.join(map(str, prep.sample_shape))})")
        raw = data.astype(np.float64)
        if not np.isfinite(raw).all():
            raise InputError("the windows hold NaN or inf: the model's answer for them could not be right")
        return torch.from_numpy(prep.scaled(raw))
    if not isinstance(data, np.ndarray) and prep.time is not None:
        columns = _columns(prep, data) if not isinstance(data, dict) else data
        if prep.time in columns:
            check_order(list(columns[prep.time]), prep.time)
    values = series_values(prep, data)
    mean, std = np.asarray(prep.mean), np.asarray(prep.std)
    return torch.from_numpy(windows((values - mean) / std, prep.window))


def series_samples(prep: Preprocessing, data) -> tuple[torch.Tensor, torch.Tensor]:
    """(windows, targets) of every window whose target the rows hold: what `evaluate --data` scores."""
    x = series_inputs(prep, data)
    values = series_values(prep, data)
    count = len(values) - prep.window - prep.horizon + 1
    if count < 1:
        raise InputError(f"{len(values)} rows give no window with a known target: evaluating needs at least "
                         f"{prep.window + prep.horizon} (window {prep.window} + horizon {prep.horizon})")
    mean, std = prep.target_scale
    y = (values[prep.window - 1 + prep.horizon:, :1] - mean) / std
    return x[:count], torch.from_numpy(y.astype(np.float32))
