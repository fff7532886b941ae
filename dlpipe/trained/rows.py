"""Rows for a table model: every feature cell checked, empty cells handled as the run's training handled them.

The run's `missing:` policy travels in its Preprocessing: `error` refuses a row with an
empty cell (naming the row and column), `drop` leaves such rows out, `mean` fills a numeric
cell with the training mean and leaves an empty category all zeros, as training did. Text
in a numeric column, or a value that is not finite (inf, 1e309), is refused whatever the
policy; a category the training rows never held is encoded as all zeros, and the note
names its row, column and value. A text column's empty cell is empty text, as in training.
Nothing is filled in or left out without a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlpipe.data.preprocess import Column, Preprocessing
from dlpipe.data.table import is_number
from dlpipe.trained.errors import InputError

SHOWN = 5  # cells named in a message or note; the rest are counted


@dataclass(frozen=True)
class Rows:
    """Model inputs for the rows that get a prediction, and which input rows those are (0-based)."""

    x: np.ndarray
    kept: np.ndarray


def table_rows(prep: Preprocessing, data, notes: list[str]) -> Rows:
    """Rows (a DataFrame, a dict of columns, a list of dicts, or an (N, columns) array) as model inputs."""
    data = _columns(prep, data)
    rows = len(np.asarray(data[prep.columns[0].name]).reshape(-1))
    if rows == 0:
        raise InputError("no rows: the input is empty")
    empty, clean = np.zeros((rows, len(prep.columns)), dtype=bool), {}
    for j, column in enumerate(prep.columns):
        native = np.asarray(data[column.name]).reshape(-1)
        if column.kind == "numeric" and native.dtype.kind in "biuf":  # a parsed number column: no cell by cell
            empty[:, j] = np.isnan(native) if native.dtype.kind == "f" else False
            clean[column.name] = _finite(native.astype(np.float64), empty[:, j], column.name)
            continue
        values = native.astype(object)
        if column.kind == "text":  # an empty cell is empty text, as in training: never missing
            clean[column.name] = np.array(["" if blank else str(value) for value, blank in zip(values, _blank(values))],
                                          dtype=object)
            continue
        empty[:, j] = _blank(values)
        if column.kind == "numeric":
            clean[column.name] = _numbers(values, empty[:, j], column.name)
        else:
            text = np.array(["" if blank else str(value) for value, blank in zip(values, empty[:, j])], dtype=object)
            clean[column.name] = text  # object, not a fixed-width str array: that pads every cell to the longest
            _unseen(column, text, empty[:, j], notes)
    kept = _apply_missing(prep, empty, notes)
    x, _ = prep.table_inputs({name: values[kept] for name, values in clean.items()})
    return Rows(x, kept)


def _columns(prep: Preprocessing, data):
    """The input as something indexed by column name; InputError saying what the model takes otherwise."""
    names = [c.name for c in prep.columns]
    takes = (f"this model takes rows of its {len(names)} column(s) {', '.join(names)}: a DataFrame, a dict of "
             f"columns, a list of dicts, or an array of shape (N, {len(names)}) in that order")
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        data = {name: [row.get(name) for row in data] for name in dict.fromkeys(k for row in data for k in row)}
    if isinstance(data, (np.ndarray, list, tuple)) and not isinstance(data, dict):
        array = np.asarray(data, dtype=object)
        if array.ndim == 1 and len(array) == len(names):
            array = array[None]  # one row
        if array.ndim != 2 or array.shape[1] != len(names):
            encoded = (f" ({len(prep.input_names)} is the width of the encoded inputs that the exported model "
                       "takes, not of the rows)") if array.ndim == 2 and array.shape[1] == len(prep.input_names) \
                else ""
            raise InputError(f"an array of shape {array.shape}; {takes}{encoded}")
        return {name: array[:, i] for i, name in enumerate(names)}
    have = [str(h) for h in data.keys()] if hasattr(data, "keys") else None
    if have is None:
        raise InputError(f"a {type(data).__name__}; {takes}")
    absent = [name for name in names if name not in have]
    if absent:
        import difflib

        hints = [f"{name!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
            name, have, n=1, cutoff=0.6)) else "") for name in absent]
        raise InputError(f"no column {', '.join(hints)}; the model's features: {', '.join(names)}; the input has: "
                         f"{', '.join(have) or 'no columns'}")
    return data


NA_TEXT = ("", "nan", "na", "n/a", "null", "none")  # what pandas reads as empty, spelled out in a cell


def _blank(values: np.ndarray) -> np.ndarray:
    """True where a cell is empty: None, NaN (pandas' empty cell), pd.NA, or NA_TEXT (spaces around allowed)."""
    return np.fromiter((_is_blank(v) for v in values), dtype=bool, count=len(values))


def _is_blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in NA_TEXT
    try:
        return bool(value != value)  # NaN is the one value unequal to itself
    except (TypeError, ValueError):  # pd.NA answers NA, which has no truth value
        return True


def _finite(numbers: np.ndarray, blank: np.ndarray, name: str) -> np.ndarray:
    """A column of numbers back; InputError naming the first that is infinite (NaN is an empty cell)."""
    bad = np.flatnonzero(np.isinf(numbers) & ~blank)
    if len(bad):
        raise InputError(f"row {bad[0] + 1}, column {name!r}: {float(numbers[bad[0]])} is not a finite number; the model's "
                         "answer for it could not be right")
    return numbers


def _numbers(values: np.ndarray, blank: np.ndarray, name: str) -> np.ndarray:
    """A numeric column as float64 (NaN where empty); InputError for text or a value that is not finite."""
    out = np.full(len(values), np.nan)
    for row, value in enumerate(values):
        if blank[row]:
            continue
        if isinstance(value, (bool, np.bool_)) or not (isinstance(value, (int, float, np.number))
                                                       or (isinstance(value, str) and is_number(value))):
            raise InputError(f"row {row + 1}, column {name!r}: {value!r} is not a number")
        number = float(value)
        if not np.isfinite(number):
            raise InputError(f"row {row + 1}, column {name!r}: {value!r} is not a finite number; the model's "
                             "answer for it could not be right")
        out[row] = number
    return out


def _unseen(column: Column, text: np.ndarray, blank: np.ndarray, notes: list[str]) -> None:
    """A note naming the rows whose category the training rows never held (they are encoded as all zeros)."""
    known = set(column.categories)
    rows = np.array([i for i, (value, empty) in enumerate(zip(text, blank)) if not empty and value not in known],
                    dtype=np.int64)
    if len(rows):
        cells = ", ".join(f"row {r + 1} {str(text[r])!r}" for r in rows[:SHOWN])
        more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
        notes.append(f"column {column.name!r}: a category the training rows do not hold, encoded as all zeros: "
                     f"{cells}{more}")


def _apply_missing(prep: Preprocessing, empty: np.ndarray, notes: list[str]) -> np.ndarray:
    """The rows to keep under the run's missing: policy (error refuses, drop leaves out, mean fills), noted."""
    everything = np.arange(len(empty))
    if not empty.any():
        return everything
    rows, cols = np.nonzero(empty)
    fills = [c.fill for c in prep.columns]
    cells = ", ".join(f"row {r + 1} column {prep.columns[c].name!r}" for r, c in zip(rows[:SHOWN], cols))
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    if prep.missing == "error":
        raise InputError(f"{len(rows)} empty cell(s): {cells}{more}; this run was trained with missing: error, so "
                         "every feature needs a value (fill them in, or train with missing: mean or missing: drop)")
    if prep.missing == "drop":
        kept = everything[~empty.any(axis=1)]
        dropped = sorted(set(rows.tolist()))
        notes.append(f"{len(dropped)} row(s) left out, as in training (missing: drop), for empty cells: {cells}"
                     f"{more}")
        if not len(kept):
            raise InputError(f"every row holds an empty cell ({cells}{more}); this run drops such rows "
                             "(missing: drop), so nothing is left to predict")
        return kept
    filled = ", ".join(f"row {r + 1} column {prep.columns[c].name!r} -> "
                       + (f"{fills[c]:.6g}" if prep.columns[c].kind == "numeric" else "no category")
                       for r, c in zip(rows[:SHOWN], cols))
    notes.append(f"{len(rows)} empty cell(s) filled as in training (missing: mean: a number with the training "
                 f"mean, a category as all zeros): {filled}{more}")
    return everything
