"""A time series from a CSV table: every value checked at its line, windows of the past, a chronological split.

Sample i is rows i .. i + window - 1 (oldest first; the column, then each feature: shape
(window, channels)), its target the column's value `horizon` rows after the window's last.
Samples are split in time order, `gap` samples dropped at each boundary; the scaling is
fitted on the rows the training samples see (inputs and targets) and applied to all. The
target shares the column's scaling, so the naive forecast (the last value carried forward)
is simply the window's last value of the column, kept for the report and metrics.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data import cells, schema, table
from dlpipe.data.csvfile import TableFile
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.memory import check_fits
from dlpipe.data.preprocess import Column, Preprocessing
from dlpipe.language.errors import InvalidValue
from dlpipe.language.source import MIN_SPLIT
from dlpipe.language.series import SeriesData


@dataclass(frozen=True)
class Series:
    """The file's values as read: (rows, channels) float64, the column first; each row's time label."""

    values: np.ndarray
    times: tuple[str, ...]
    names: tuple[str, ...]
    file: TableFile


def read(config: SeriesData) -> Series:
    """Every value of the column and features, numeric and present, in rows whose time increases."""
    path = Path(config.path)
    table.check_file(path)
    delimiter = table.sniff_delimiter(path, config.delimiter)
    header = table.header(path, delimiter)
    keys = [("data", "column"), *(("data", "features", i) for i in range(len(config.features)))]
    names = [config.column, *config.features]
    for name, key in zip(names, keys):
        table.need_column(path, header, name, key)
    if config.time:
        table.need_column(path, header, config.time, ("data", "time"))
    frame = table.read(config, names + ([config.time] if config.time else []), delimiter)
    file = TableFile(path, delimiter)
    empty = cells.missing_cells(file, frame[names])
    if empty:
        raise InvalidValue(keys[0], f"{empty}; a series needs a value at every step: fill them (interpolate, or "
                                    "carry the last value) or remove those rows")
    fix = "fix those cells: every value of a series is a number"
    values = np.stack([cells.numeric(file, frame, name, key, fix).to_numpy() for name, key in zip(names, keys)],
                      axis=1)
    times = _times(file, frame[config.time]) if config.time else tuple(str(i + 1) for i in range(len(frame)))
    return Series(values, times, tuple(names), file)


def _times(file: TableFile, cells) -> tuple[str, ...]:
    """The time labels; InvalidValue at the first one that is empty, not a number or date, or not after the last."""
    key = ("data", "time")
    if cells.isna().any():
        row = int(np.flatnonzero(cells.isna().to_numpy())[0])
        raise InvalidValue(key, f"{file}:{file.line(row)}: the time column {cells.name!r} is empty; every row needs "
                                "its time")
    bad, row = time_order(cells)
    if bad is not None:
        raise InvalidValue(key, f"{file}:{file.line(bad)}: time {schema.shown(cells.iloc[bad])!r} is neither a number nor a date "
                                "(such as 1950-01 or 2024-03-01 12:00)")
    if row is not None:
        raise InvalidValue(key, f"{file}:{file.line(row)}: time {schema.shown(cells.iloc[row])!r} is not after the row before "
                                f"({schema.shown(cells.iloc[row - 1])!r}); rows must be in time order, each time once (sort the "
                                "file by its time column)")
    return tuple(str(v) for v in cells.tolist())


def time_order(cells) -> tuple[int | None, int | None]:
    """(the first position holding neither a number nor a date, the first not after the one before): None where
    there is none. Numbers are compared as numbers, anything else as dates (1950-01, 2024-03-01 12:00)."""
    pd = table.pandas()
    cells = pd.Series(list(cells))
    numbers = pd.to_numeric(cells, errors="coerce")
    if numbers.notna().all():  # integers stay integers: nanosecond epoch times differ below float64's precision
        order = numbers.to_numpy(dtype=np.int64 if numbers.dtype.kind in "iu" else np.float64)
        if order.dtype.kind == "f" and not np.isfinite(order).all():  # inf is no time
            return int(np.flatnonzero(~np.isfinite(order))[0]), None
    else:  # utc: offsets that change within the column (a daylight-saving export) are one clock
        dates = pd.to_datetime(cells.astype(str), errors="coerce", format="mixed", utc=True)
        if dates.isna().any():
            return int(np.flatnonzero(dates.isna().to_numpy())[0]), None
        order = (dates - dates.min()).dt.total_seconds().to_numpy()
    back = np.flatnonzero(np.diff(order) <= 0)
    return None, (int(back[0]) + 1 if len(back) else None)


def samples_in(config: SeriesData, rows: int) -> int:
    """How many (window, target) samples `rows` values give; InvalidValue when a split would get too few."""
    count, gap = rows - config.window - config.horizon + 1, config.separation
    parts = [b - a for a, b in cuts(config, count)] if count - 2 * gap >= 3 else [max(count - 2 * gap, 0)] * 3
    if config.split.folds and count - 2 * gap >= 3:  # the first fold trains on the least: refused at any fold
        first = config.model_copy(update={"split": config.split.model_copy(update={"fold": 1})})
        parts = [min(a, b - c) for a, (c, b) in zip(parts, cuts(first, count))]
    if min(parts) < MIN_SPLIT:
        folds = config.split.folds
        how = f"fold {config.split.fold} of {folds} (expanding windows: {folds + 1} blocks in time order)" if folds \
            else "the split"
        raise InvalidValue(("data", "split", "folds") if folds else ("data", "window"),
                           f"{config.path} holds {rows} values: window {config.window} and horizon {config.horizon} "
                           f"leave {max(count, 0)} samples, which {how} (with a gap of {gap} twice) cuts into "
                           f"{'/'.join(map(str, parts))} for training/validation/test; each needs at least "
                           f"{MIN_SPLIT}; use {'fewer folds, ' if folds else ''}a shorter window or horizon, a larger "
                           "split share, or a longer series")
    return count


def cuts(config: SeriesData, count: int) -> list[tuple[int, int]]:
    """(start, end) of the training, validation and test samples, in time order with `gap` samples between.

    K-fold (split.folds): expanding windows. The samples are cut into K + 1 blocks; fold k tests on block k
    (the first block is never a test), and trains and validates on everything before it."""
    gap, split = config.separation, config.split
    if split.folds is None:
        n_train, n_val, n_test = split.sizes(count - 2 * gap)
        return [(0, n_train), (n_train + gap, n_train + gap + n_val), (count - n_test, count)]
    block = count // (split.folds + 1)
    start = count - (split.folds - split.fold + 1) * block
    before = start - gap  # the samples training and validation may use
    n_val = max(1, round(split.validation_share * (before - gap)))
    return [(0, max(before - gap - n_val, 0)), (before - n_val, before), (start, start + block)]


def windows(values: np.ndarray, window: int) -> np.ndarray:
    """Every run of `window` consecutive rows: (rows - window + 1, window, channels), a copy in float32."""
    return np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
                                .transpose(0, 2, 1), dtype=np.float32)


def describe(config: SeriesData, seed: int = 0) -> DataInfo:
    """Shape (window, channels); the file read and checked so that `dlpipe validate` finds what load() would."""
    samples_in(config, len(read(config).values))
    return DataInfo("regression", (config.window, 1 + len(config.features)), 1)


def load(config: SeriesData, seed: int, progress: Progress) -> Dataset:
    """Windows and targets split in time order, scaled by the training rows' mean and std."""
    series = read(config)
    count, gap = samples_in(config, len(series.values)), config.separation
    check_fits(count * config.window * series.values.shape[1] * 4 * 2, f"{count:,} windows of {config.window}",
               ("data", "window"), fix="use a shorter window")
    parts = cuts(config, count)
    (_, n_train), (n_test_start, n_test_end) = parts[0], parts[2]
    n_test = n_test_end - n_test_start
    seen = series.values[:n_train - 1 + config.window + config.horizon]  # every row a training sample sees
    mean, std = seen.mean(axis=0), seen.std(axis=0)
    flat = [name for name, s in zip(series.names, std) if not s > 0]
    std = np.where(std > 0, std, 1.0)
    scaled = (series.values - mean) / std
    x = torch.from_numpy(windows(scaled[:count + config.window - 1], config.window))
    y = torch.from_numpy(scaled[config.window - 1 + config.horizon:, :1].astype(np.float32))
    train, validation, test = (Samples(x[a:b], y[a:b]) for a, b in parts)
    first_test = n_test_start + config.window - 1 + config.horizon  # the row of the first test target
    prep = Preprocessing(
        kind="series", task="regression", sample_shape=(config.window, len(series.names)), target=config.column,
        target_scale=(float(mean[0]), float(std[0])), mean=tuple(map(float, mean)), std=tuple(map(float, std)),
        columns=tuple(Column(n, "numeric", float(m), float(s)) for n, m, s in zip(series.names, mean, std)),
        window=config.window, horizon=config.horizon, time=config.time,
        notes=tuple(f"column {name!r} does not change over the training rows: it is left unscaled" for name in flat))
    forecast = {"times": series.times[first_test:first_test + n_test], "naive": test.x[:, -1, :1].clone(),
                "gap": gap, "split": tuple(b - a for a, b in parts)}
    return Dataset(DataInfo("regression", prep.sample_shape, 1), train, validation, test, files=(Path(config.path),),
                   preprocessing=prep, forecast=forecast)
