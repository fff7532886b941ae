"""Rows for a table model: every feature cell read through the run's fitted schema, as training read it.

The cells go through the same functions training used (dlpipe/data/schema.py), and the run's `missing:` policy
through the same code (dlpipe/data/missing.py): `error` refuses a row with an empty cell (naming the row and
column), `drop` leaves such rows out, `mean` fills a number with the training mean and leaves an empty category
all zeros. Text in a numeric column, or a value that is not finite (inf, 1e309), is refused whatever the policy; a
category the training rows never held is encoded as all zeros, and the note names its row, column and value.
Nothing is filled in or left out without a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dlpipe.data import missing, schema
from dlpipe.data.preprocess import Column, Preprocessing
from dlpipe.trained.errors import InputError

SHOWN = 5  # cells named in a message or note; the rest are counted


@dataclass(frozen=True)
class Rows:
    """Model inputs for the rows that get a prediction, and which input rows those are (0-based)."""

    x: np.ndarray
    kept: np.ndarray
    outside: tuple[int, int] = (0, 0)  # text tokens outside the vocabulary, of all tokens


def row_number(row: int) -> str:
    return f"row {row + 1}"


@dataclass(frozen=True)
class Cleaned:
    """The rows that get a prediction (0-based input rows), their cells cleaned as training read them, by column."""

    clean: dict
    kept: np.ndarray


def table_rows(prep: Preprocessing, data, notes: list[str], where: Callable[[int], str] = row_number) -> Rows:
    """Rows (a DataFrame, a dict of columns, a list of dicts, or an (N, columns) array) as model inputs.

    where: names row i in a message (a file's reader names its line)."""
    found, outside = cleaned(prep, data, notes, where), [0, 0]
    x, _ = prep.encode(found.clean, outside)
    say_outside(prep, outside, notes)
    return Rows(x, found.kept, (outside[0], outside[1]))


def cleaned(prep: Preprocessing, data, notes: list[str], where: Callable[[int], str] = row_number) -> Cleaned:
    """The rows' cells through the fitted schema and the run's missing: policy, before encoding (which predict
    does a chunk at a time: a tf-idf row is as wide as the vocabulary)."""
    data = _columns(prep, data)
    rows = len(np.asarray(data[prep.columns[0].name], dtype=object).reshape(-1))
    if rows == 0:
        raise InputError("no rows: the input is empty")
    empty, clean = np.zeros((rows, len(prep.columns)), dtype=bool), {}
    for j, column in enumerate(prep.columns):
        values = np.asarray(data[column.name])
        try:
            clean[column.name] = schema.clean(column, values.reshape(-1) if values.ndim else values[None])
        except schema.BadCells as exc:
            raise InputError(exc.message(where)) from None
        empty[:, j] = schema.empty(column.kind, clean[column.name])
        if column.kind == "categorical":
            _unseen(column, clean[column.name], notes, where)
    try:
        fills = [f"{c.fill:.6g}" if c.kind in ("numeric", "boolean", "date") else "no category" for c in prep.columns]
        kept = missing.keep(prep.missing, [c.name for c in prep.columns], empty, where, notes, fills=fills)
    except missing.MissingCells as exc:
        raise InputError(f"{exc}; this run was trained with missing: error, so every feature needs a value (fill "
                         "them in, or train with missing: mean or missing: drop)") from None
    if not len(kept):
        raise InputError(f"every row holds an empty cell; this run leaves such rows out (missing: {prep.missing}), so "
                         "nothing is left to predict")
    return Cleaned({name: values[kept] for name, values in clean.items()}, kept)


def say_outside(prep: Preprocessing, outside: list[int], notes: list[str]) -> None:
    """The note on text tokens outside the vocabulary, once for all the rows (outside: [outside, all])."""
    if outside[0]:
        notes.append(f"text {', '.join(prep.text.columns)}: {outside[0]:,} of {outside[1]:,} tokens "
                     f"({outside[0] / outside[1]:.1%}) are outside the vocabulary training fitted "
                     f"({'read as unknown' if prep.sequence else 'not counted'})")


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

        spare = [h for h in have if h not in names]  # (a column the model already reads is no one's misspelling)
        hints = [f"{name!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
            name, spare, n=1, cutoff=0.6)) else "") for name in absent]
        raise InputError(f"no column {', '.join(hints)}; the model's features: {', '.join(names)}; the input has: "
                         f"{', '.join(have) or 'no columns'}")
    return data


def _unseen(column: Column, clean: np.ndarray, notes: list[str], where: Callable[[int], str]) -> None:
    """A note naming the rows whose category the training rows never held (they are encoded as all zeros)."""
    known = set(column.categories)
    rows = [i for i, value in enumerate(clean) if value is not None and value not in known]
    if rows:
        cells = ", ".join(f"{where(r)} {schema.shown(clean[r])!r}" for r in rows[:SHOWN])
        more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
        notes.append(f"column {column.name!r}: {len(rows)} cell(s) hold a category the training rows do not, "
                     f"encoded as all zeros: {cells}{more}")
