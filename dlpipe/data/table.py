"""Reading a CSV table: the file, its delimiter and header, every cell checked, errors that name the line.

pandas reads the file with its C parser: on a 1,000,000 x 20 table here (benchmarks/csv_load.py,
2 cores) it took 0.5 s, against 0.6-0.7 s for its pyarrow engine and for pyarrow.csv plus the
conversion, and it names the line of a ragged row; pyarrow would be a second dependency for
nothing. pandas is imported only when a CSV pipeline runs: the `tables` extra installs it.
"""

from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path

import numpy as np

from dlpipe.data.memory import check_fits
from dlpipe.language.errors import InvalidValue
from dlpipe.language.files import CSVData

EXTRA = "pip install 'dlpipe[tables]'  (in a checkout: pip install -e '.[tables]')"
SNIFF_BYTES = 64 * 1024
SHOWN = 5  # problem cells named in a message; the rest are counted
PATH, TARGET, FEATURES = ("data", "path"), ("data", "target"), ("data", "features")


def pandas():
    """The pandas module, or an InvalidValue naming the extra that installs it."""
    try:
        import pandas as pd
    except ImportError:
        raise InvalidValue(("data", "type"), f"reading CSV files needs pandas, which is not installed: {EXTRA}") from None
    return pd


def check_file(path: Path, key: tuple = PATH, kinds: tuple[str, ...] = (".csv", ".tsv", ".txt")) -> None:
    """An existing, non-empty file; else InvalidValue with the neighbouring file names to choose from."""
    if path.is_file():
        if path.stat().st_size == 0:
            raise InvalidValue(key, f"{path}: the file is empty")
        return
    if path.is_dir():
        raise InvalidValue(key, f"{path}: is a folder; expected a file")
    folder = path.parent
    near = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    close = difflib.get_close_matches(path.name, near, n=2, cutoff=0.8)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    listing = [n for n in near if n.endswith(kinds)][:10]
    there = f" ({folder} holds: {', '.join(listing)})" if listing and not close else ""
    where = "" if folder.is_dir() else f" (the folder {folder} does not exist)"
    raise InvalidValue(key, f"{path}: no such file{where}{hint}{there}")


def sniff_delimiter(path: Path, given: str | None) -> str:
    """The configured delimiter, or the one csv.Sniffer sees in the first 64 KB (comma when unsure)."""
    if given:
        return given
    with open(path, "rb") as handle:
        return sniff_text(handle.read(SNIFF_BYTES).decode("utf-8", errors="replace"))


def sniff_text(head: str) -> str:
    """The delimiter csv.Sniffer sees in the first 50 lines of `head` (comma when unsure)."""
    lines = head.splitlines()[:50]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def header(path: Path, delimiter: str) -> list[str]:
    """The column names of the first line; InvalidValue when it looks like data or names a column twice."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        first = next(csv.reader(handle, delimiter=delimiter), [])
    names = [name.strip() for name in first]
    if not any(names):
        raise InvalidValue(PATH, f"{path}: the first line is empty; expected a header naming the columns")
    if all(is_number(name) for name in names):
        raise InvalidValue(PATH, f"{path}: the first line ({', '.join(names[:5])}...) holds numbers; a header row "
                                 "naming the columns is required: add one")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidValue(PATH, f"{path}: the header names column(s) {', '.join(map(repr, twice))} twice")
    return names


def need_column(path: Path, names: list[str], column: str, key: tuple) -> None:
    """InvalidValue for a column the table does not have, with did-you-mean and the list of columns."""
    if column in names:
        return
    close = difflib.get_close_matches(column, names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    raise InvalidValue(key, f"{path} has no column {column!r}; {hint}its columns: {shown}")


def read(config: CSVData, columns: list[str], delimiter: str, nrows: int | None = None):
    """The named columns as a DataFrame (index = data row 0, 1, ...); InvalidValue for a malformed file."""
    pd, path = pandas(), Path(config.path)
    if nrows is None:
        check_fits(estimate_bytes(path, len(header(path, delimiter))), f"{path} ({path.stat().st_size / 1e6:.0f} MB of "
                                                                      "CSV)", PATH)
    try:
        # Every column is read (not usecols=), so that a row with too many fields is an error, not ignored.
        frame = pd.read_csv(path, sep=delimiter, nrows=nrows, skipinitialspace=True, encoding="utf-8-sig",
                            engine="c", low_memory=False)
    except pd.errors.EmptyDataError:
        raise InvalidValue(PATH, f"{path}: holds no table (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise InvalidValue(PATH, _ragged(path, str(exc))) from None
    except UnicodeDecodeError as exc:
        raise InvalidValue(PATH, f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise InvalidValue(PATH, f"{path}: holds a header and no rows")
    return frame[columns]


def estimate_bytes(path: Path, columns: int) -> int:
    """Memory a table takes once read: rows (from the first 64 KB's line length) x columns x 8 bytes x 3 copies."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    lines = max(head.count(b"\n"), 1)
    rows = path.stat().st_size / (len(head) / lines)
    return int(rows * columns * 8 * 3)


def _ragged(path: Path, message: str) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        expected, line, saw = found.groups()
        return f"{path}:{line}: this row has {saw} fields, the header has {expected}; every row needs one per column"
    return f"{path}: cannot be read as CSV: {message.strip().splitlines()[-1]}"


def line_of(row: int) -> int:
    """The file line of data row `row` (the header is line 1); quoted line breaks aside."""
    return row + 2


def missing_cells(path: Path, frame) -> str | None:
    """A message naming the first empty cells (line and column) and their count, or None when there are none."""
    empty = frame.isna().to_numpy()
    if not empty.any():
        return None
    rows, cols = np.nonzero(empty)
    cells = [f"line {line_of(int(frame.index[r]))} column {frame.columns[c]!r}" for r, c in zip(rows[:SHOWN], cols)]
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return f"{path}: {len(rows)} empty cell(s) (or rows with too few fields): {', '.join(cells)}{more}"


def numeric(path: Path, frame, column: str, key: tuple):
    """The column as float64; InvalidValue naming the first cells that are text, or not finite (inf, 1e309)."""
    values = frame[column]
    if values.dtype.kind in "biuf":
        return finite(path, values.astype(np.float64), column, key)
    parsed = pandas().to_numeric(values, errors="coerce")
    bad = values.notna() & parsed.isna()
    if bad.any():
        where = [f"line {line_of(int(i))} ({values[i]!r})" for i in values.index[bad][:SHOWN]]
        raise InvalidValue(key, f"{path}: column {column!r} holds numbers and text: {', '.join(where)}"
                                f"{f' and {int(bad.sum()) - SHOWN} more' if bad.sum() > SHOWN else ''}; "
                                f"fix those cells, or list {column!r} under categorical:")
    return finite(path, parsed.astype(np.float64), column, key)


def finite(path: Path, values, column: str, key: tuple):
    """The numeric column back; InvalidValue naming the first cells holding inf (text inf, -inf, or beyond 1.8e308).

    Empty cells (NaN) are the missing: policy's, not this check's.
    """
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        rows = values.index[infinite]
        where = [f"line {line_of(int(i))} ({values[i]})" for i in rows[:SHOWN]]
        more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
        raise InvalidValue(key, f"{path}: column {column!r} holds values that are not finite numbers: "
                                f"{', '.join(where)}{more}; dlpipe does not train on them (one makes every loss NaN): "
                                "fix those cells, or leave them empty and set missing:")
    return values


def is_text(frame, column: str) -> bool:
    """A column of mostly text: one-hot encoded under categorical: auto (a few text cells are an error instead)."""
    values = frame[column]
    if values.dtype.kind in "biuf":
        return False
    present = values.notna()
    parsed = pandas().to_numeric(values[present], errors="coerce")
    return bool(parsed.isna().sum() * 2 > present.sum())


def is_number(text: str) -> bool:
    """Whether text reads as a number (a header line of numbers is data, not a header)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
