"""A table's cells checked: too long, empty, text among numbers, not finite, free text; each message names the
first cells by their line (or a Parquet file's row) and counts the rest. Also pandas itself, or the extra to install."""

from __future__ import annotations

import numpy as np

from dlpipe.data import schema
from dlpipe.data.csvfile import TableFile
from dlpipe.language.errors import InvalidValue

SHOWN = 5  # problem cells named in a message; the rest are counted
MAX_CELL = 100_000  # characters in one cell
PATH = ("data", "path")
EXTRA = "pip install 'dlpipe[tables]'  (in a checkout: pip install -e '.[tables]')"


def refuse_long_cells(path: TableFile | str, frame, text: dict[str, int] | None = None) -> None:
    """InvalidValue naming the first cell longer than MAX_CELL characters (no number or category is that long),
    or than its text column's max_chars."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind != "O":
            continue
        limit = (text or {}).get(column, MAX_CELL)
        lengths = values.map(lambda v: len(v) if isinstance(v, str) else 0).to_numpy()
        if len(lengths) and lengths.max() > limit:
            row = int(lengths.argmax())
            where = path.where(int(values.index[row])) if isinstance(path, TableFile) else f"{path}, row {row + 1}"
            if column in (text or {}):
                raise InvalidValue(("data", "text", "max_chars"), f"{where}: text column {column!r} holds a cell of "
                                   f"{lengths.max():,} characters, over max_chars ({limit:,}); raise max_chars or "
                                   "shorten that cell")
            raise InvalidValue(PATH, f"{where}: column {column!r} holds a cell of {lengths.max():,} characters; a "
                                     f"cell is at most {MAX_CELL:,} (a number or a category is never that long)")

def missing_cells(path: TableFile, frame) -> str | None:
    """A message naming the first empty cells of columns of numbers (line and column) and their count, or None.

    Empty as schema reads a number: blank, or a missing word (NA, null, ...)."""
    empty = np.stack([schema.empty("numeric", _nan_where_empty(frame[name].to_numpy())) for name in frame.columns],
                     axis=1)
    if not empty.any():
        return None
    rows, cols = np.nonzero(empty)
    cells = [f"{path.at(int(frame.index[r]))} column {frame.columns[c]!r}" for r, c in zip(rows[:SHOWN], cols)]
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return f"{path}: {len(rows)} empty cell(s) (or rows with too few fields): {', '.join(cells)}{more}"


def _nan_where_empty(values) -> np.ndarray:
    if values.dtype.kind in "iuf":
        return values.astype(np.float64)
    return np.array([np.nan if schema.is_empty(v) or schema.is_missing_word(v) else 0.0 for v in values])


def numeric(path: TableFile, frame, column: str, key: tuple, fix: str | None = None):
    """The column as float64 (schema.numbers: the one reading of a number); InvalidValue naming the first cells
    that are text, or not finite (inf, 1e309). fix: what to do about text cells (default: fix them, or read the
    column as categories)."""
    values = frame[column]
    try:
        numbers = schema.numbers(column, values.to_numpy())
    except schema.BadCells as exc:
        raise InvalidValue(key, bad_cells(path, exc, values.index, fix)) from None
    return pandas().Series(numbers, index=values.index, name=column)


def bad_cells(path: TableFile, exc: schema.BadCells, index, fix: str | None = None) -> str:
    """A training message for cells that are not their column's kind, by their line: FILE: column 'x' holds ..."""
    shown = ", ".join(f"{path.at(int(index[r]))} ({v if exc.problem in ('infinite', 'too large') else repr(v)})"
                      for r, v in zip(exc.rows, exc.values))
    more = f" and {len(exc.rows) - SHOWN} more" if len(exc.rows) > SHOWN else ""
    if exc.problem == "infinite":
        return (f"{path}: column {exc.column!r} holds values that are not finite numbers: {shown}{more}; dlpipe does "
                "not train on them (one makes every loss NaN): fix those cells, or leave them empty and set missing:")
    if exc.problem == "too large":
        return f"{path}: column {exc.column!r} holds values too large: {shown}{more}; {exc.why.split(': ', 1)[1]}"
    if exc.why.endswith(("number", "numbers")):
        return (f"{path}: column {exc.column!r} holds numbers and text: {shown}{more}; "
                f"{fix or f'fix those cells, or list {exc.column!r} under categorical:'}")
    return f"{path}: column {exc.column!r}: {shown}{more} {exc.why}; {fix or 'fix those cells'}"


def free_text(frame, column: str) -> str | None:
    """Why a text column looks like free text rather than categories (mostly distinct, long values), or None."""
    values = frame[column].dropna().astype(str)
    if len(values) < 20:
        return None
    distinct, median = values.nunique(), float(values.str.len().median())
    if distinct * 2 > len(values) and median >= 30:
        return f"{distinct:,} different values in {len(values):,} rows, median {median:.0f} characters"
    return None

def pandas():
    """The pandas module, or an InvalidValue naming the extra that installs it."""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidValue(("data", "type"), f"reading tables needs pandas, which is not installed: {EXTRA}") from None
    return pd
