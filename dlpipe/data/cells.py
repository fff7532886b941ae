"""A table's cells checked: too long, empty, text among numbers, not finite, free text; each message names the
first cells by their line (or a Parquet file's row) and counts the rest. Also pandas itself, or the extra to install."""

from __future__ import annotations

import numpy as np

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
    """A message naming the first empty cells (line and column) and their count, or None when there are none."""
    empty = frame.isna().to_numpy()
    if not empty.any():
        return None
    rows, cols = np.nonzero(empty)
    cells = [f"{path.at(int(frame.index[r]))} column {frame.columns[c]!r}" for r, c in zip(rows[:SHOWN], cols)]
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return f"{path}: {len(rows)} empty cell(s) (or rows with too few fields): {', '.join(cells)}{more}"

def numeric(path: TableFile, frame, column: str, key: tuple, fix: str | None = None):
    """The column as float64; InvalidValue naming the first cells that are text, or not finite (inf, 1e309).

    fix: what to do about text cells (default: fix them, or read the column as categories)."""
    values = frame[column]
    if values.dtype.kind in "biuf":
        return finite(path, values.astype(np.float64), column, key)
    parsed = pandas().to_numeric(values, errors="coerce")
    bad = values.notna() & parsed.isna()
    if bad.any():
        where = [f"{path.at(int(i))} ({values[i]!r})" for i in values.index[bad][:SHOWN]]
        raise InvalidValue(key, f"{path}: column {column!r} holds numbers and text: {', '.join(where)}"
                                f"{f' and {int(bad.sum()) - SHOWN} more' if bad.sum() > SHOWN else ''}; "
                                f"{fix or f'fix those cells, or list {column!r} under categorical:'}")
    return finite(path, parsed.astype(np.float64), column, key)

def finite(path: TableFile, values, column: str, key: tuple):
    """The numeric column back; InvalidValue naming the first cells holding inf (text inf, -inf, or beyond 1.8e308).

    Empty cells (NaN) are the missing: policy's, not this check's.
    """
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        rows = values.index[infinite]
        where = [f"{path.at(int(i))} ({values[i]})" for i in rows[:SHOWN]]
        more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
        raise InvalidValue(key, f"{path}: column {column!r} holds values that are not finite numbers: "
                                f"{', '.join(where)}{more}; dlpipe does not train on them (one makes every loss NaN): "
                                "fix those cells, or leave them empty and set missing:")
    return values

def free_text(frame, column: str) -> str | None:
    """Why a text column looks like free text rather than categories (mostly distinct, long values), or None."""
    values = frame[column].dropna().astype(str)
    if len(values) < 20:
        return None
    distinct, median = values.nunique(), float(values.str.len().median())
    if distinct * 2 > len(values) and median >= 30:
        return f"{distinct:,} different values in {len(values):,} rows, median {median:.0f} characters"
    return None

def is_text(frame, column: str) -> bool:
    """A column of mostly text: one-hot encoded under categorical: auto (a few text cells are an error instead)."""
    values = frame[column]
    if values.dtype.kind in "biuf":
        return False
    present = values.notna()
    parsed = pandas().to_numeric(values[present], errors="coerce")
    return bool(parsed.isna().sum() * 2 > present.sum())

def pandas():
    """The pandas module, or an InvalidValue naming the extra that installs it."""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidValue(("data", "type"), f"reading tables needs pandas, which is not installed: {EXTRA}") from None
    return pd
