"""Reading a table (CSV text, or JSON Lines and Parquet through formats.py): the file, its delimiter and header,
every cell checked, errors that name the line (or a Parquet file's row).

pandas reads CSV with its C parser: on a 1,000,000 x 20 table here (benchmarks/csv_load.py, 2 cores)
it took 0.3-0.5 s, no slower than its pyarrow engine or pyarrow.csv plus the conversion, and it
names the line of a ragged row. pandas (and pyarrow, for Parquet and JSON Lines) is imported only
when a table pipeline runs: the `tables` extra installs both.
"""

from __future__ import annotations

import csv
import difflib
import functools
import gzip
import re
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from dlpipe.data import cells, formats
from dlpipe.data.cells import pandas
from dlpipe.data.csvfile import (EXTENSIONS, NOT_TABLES, TableFile, compressed, head_bytes, open_text, table_format,
                                  text_bytes, unchanged, where_not_utf8)
from dlpipe.data.memory import check_fits
from dlpipe.language.errors import InvalidValue
from dlpipe.language.files import CSVData
from dlpipe.language.paths import looks_utf16, not_a_file

PATH, TARGET, FEATURES = ("data", "path"), ("data", "target"), ("data", "features")




def check_file(path: Path, key: tuple = PATH, kinds: tuple[str, ...] = EXTENSIONS) -> None:
    """An existing, non-empty regular file; else InvalidValue (with the neighbouring file names to choose from)."""
    why = not_a_file(path)
    if why is None:
        if path.stat().st_size == 0:
            raise InvalidValue(key, f"{path}: the file is empty")
        if path.suffix.lower() in NOT_TABLES:
            raise InvalidValue(key, f"{path}: is {NOT_TABLES[path.suffix.lower()]}")
        return
    if why != "no such file":
        raise InvalidValue(key, f"{path}: {why.replace('is a directory', 'is a folder')}; expected a file")
    folder = path.parent
    near = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    close = difflib.get_close_matches(path.name, near, n=2, cutoff=0.8)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    listing = [n for n in near if n.endswith(kinds)][:10]
    there = f" ({folder} holds: {', '.join(listing)})" if listing and not close else ""
    where = "" if folder.is_dir() else f" (the folder {folder} does not exist)"
    raise InvalidValue(key, f"{path}: no such file{where}{hint}{there}")


def sniff_delimiter(path: Path, given: str | None) -> str:
    """The configured delimiter, or the one csv.Sniffer sees in the first 64 KB (comma when unsure).

    A JSON Lines or Parquet file has none: a delimiter given for one is refused."""
    if table_format(path) != "csv":
        if given:
            raise InvalidValue(("data", "delimiter"), f"{path} is a {table_format(path)} file, which has no delimiter; "
                                                      "remove delimiter: (it is for delimited text: .csv, .tsv, .txt)")
        return ","
    if given:
        return given
    return sniff_text(head_bytes(path).decode("utf-8", errors="replace"))


def sniff_text(head: str) -> str:
    """The delimiter csv.Sniffer sees in the first 50 lines of `head` (comma when unsure)."""
    lines = head.splitlines()[:50]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def header(path: Path, delimiter: str) -> list[str]:
    """The column names of the first line; InvalidValue when it looks like data, names a column twice, leaves a
    column unnamed, or the file is UTF-16.

    An empty name at the end (a trailing delimiter, as spreadsheet exports write) is dropped: its column is
    checked to be empty when the table is read (read()), and said in a note.
    """
    names = header_row(path, delimiter)
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InvalidValue(PATH, f"{path}: the first line is empty; expected a header naming the columns")
    unnamed = [i + 1 for i, name in enumerate(names) if not name]
    if unnamed:
        raise InvalidValue(PATH, f"{path}: column {unnamed[0]} of the header has no name (between "
                                 f"{names[unnamed[0] - 2]!r} and {names[unnamed[0]]!r}); name every column")
    if all(is_number(name) for name in names):
        raise InvalidValue(PATH, f"{path}: the first line ({', '.join(names[:5])}...) holds numbers; a header row "
                                 "naming the columns is required: add one")
    twice = sorted(name for name, count in Counter(names).items() if count > 1)  # linear: 100,000 columns in ms
    if twice:
        raise InvalidValue(PATH, f"{path}: the header names column(s) {', '.join(map(repr, twice[:10]))} twice")
    return names


def header_row(path: Path, delimiter: str) -> list[str]:
    """The first line's fields, stripped, as written (a trailing delimiter gives an empty last one).

    JSON Lines: the first object's keys; Parquet: the schema's names."""
    version = unchanged(path)
    if version is None:
        return _header_row(path, delimiter)
    return list(_cached_header(str(path), delimiter, *version))  # read once while the file is unchanged


@functools.lru_cache(maxsize=8)
def _cached_header(path: str, delimiter: str, size: int, mtime_ns: int, inode: int) -> tuple[str, ...]:
    return tuple(_header_row(Path(path), delimiter))


def _header_row(path: Path, delimiter: str) -> list[str]:
    if table_format(path) != "csv":
        return [name.strip() for name in formats.names(path)]
    if looks_utf16(head_bytes(path, 64)):
        raise InvalidValue(PATH, f"{path}: is UTF-16 text; save it as UTF-8 (spreadsheets: CSV UTF-8)")
    with open_text(path) as handle:
        try:
            return [name.strip() for name in next(csv.reader(handle, delimiter=delimiter), [])]
        except csv.Error as exc:  # a header cell beyond the csv module's 131,072 characters
            raise InvalidValue(PATH, f"{path}: the header cannot be read ({exc})") from None


def need_column(path: Path, names: list[str], column: str, key: tuple) -> None:
    """InvalidValue for a column the table does not have, with did-you-mean and the list of columns."""
    if column in names:
        return
    close = difflib.get_close_matches(column, names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    raise InvalidValue(key, f"{path} has no column {column!r}; {hint}its columns: {shown}")


def read(config: CSVData, columns: list[str], delimiter: str, nrows: int | None = None, last: bool = False):
    """The named columns as a DataFrame (index = data row 0, 1, ...); InvalidValue for a malformed file.

    last: the caller reads the whole table for the last time (a run's load), so it is not kept (read_file)."""
    settings = getattr(config, "text", None)  # (a series has none)
    text = {name: settings.max_chars for name in settings.columns} if settings else {}
    frame = read_file(Path(config.path), delimiter, nrows, text, columns, keep=not last)
    return frame[columns]


_PARSED: dict = {}  # the last table parsed whole and the version of its file: the task, the checks and a run's load


def read_file(path: Path, delimiter: str, nrows: int | None = None, text: dict[str, int] | None = None,
              columns: list[str] | None = None, keep: bool = False):
    """Every column of a table in any format (READERS), as the raw cells schema.py reads: what training, predict
    and evaluate all read a file with. text: the text columns' longest cell; columns: those whose cells are checked.

    keep: the whole table stays parsed while the file is unchanged, so the task, the pipeline's checks and the
    run that follow parse it once (the run's load takes it, keep=False); a table already parsed gives its first
    `nrows` rows from memory.
    """
    key = (str(path), delimiter, unchanged(path))
    if key[2] is not None and _PARSED.get("key") == key:
        frame = _PARSED["frame"] if keep or nrows is not None else _PARSED.pop("frame")
        if not keep and nrows is None:
            _PARSED.clear()
        frame = frame.iloc[:nrows] if nrows is not None else frame
    else:
        frame = _parse(path, delimiter, nrows)
        if keep and nrows is None and key[2] is not None:
            _PARSED.clear()
            _PARSED.update(key=key, frame=frame)
    cells.refuse_long_cells(TableFile(path, delimiter), frame[columns] if columns else frame, text or {})
    return frame


def _parse(path: Path, delimiter: str, nrows: int | None):
    """The table's raw cells by its format's reader, after checking that it fits the memory."""
    pd, kind = pandas(), table_format(path)
    if nrows is None:
        check_fits(estimate_bytes(path, len(header(path, delimiter))), f"{path} ({path.stat().st_size / 1e6:.0f} MB "
                                                                      f"of {kind})", PATH)
    frame = READERS[kind](pd, path, delimiter, nrows)
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise InvalidValue(PATH, f"{path}: holds a header and no rows" if kind == "csv" else f"{path}: holds no rows")
    return frame


def _read_csv(pd, path: Path, delimiter: str, nrows: int | None):
    """The CSV file as a DataFrame, its columns as the header names them; InvalidValue for a malformed file."""
    try:
        # Every column is read (not usecols=), so that a row with too many fields is an error, not ignored.
        # Only an empty cell is read as empty here: what "NA" or "none" means is the column's kind's (schema.py),
        # the same for every format (pandas' own list would make a category called "none" an empty cell).
        frame = pd.read_csv(path, sep=delimiter, nrows=nrows, skipinitialspace=True, encoding="utf-8-sig",
                            engine="c", low_memory=False, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InvalidValue(PATH, f"{path}: holds no table (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise InvalidValue(PATH, _ragged(path, str(exc))) from None
    except UnicodeDecodeError as exc:
        raise InvalidValue(PATH, f"{path}: not UTF-8 text ({where_not_utf8(path, exc)}); save the file as "
                                 "UTF-8") from None
    except (OSError, EOFError, zlib.error) as exc:  # a damaged or truncated gzip file
        raise InvalidValue(PATH, f"{path}: cannot be read ({exc})") from None
    named = len(header(path, delimiter))
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # pandas makes a first row's extra fields the index
        raise InvalidValue(PATH, f"{path}:{TableFile(path, delimiter).line(0)}: this row has "
                                 f"{named + frame.index.nlevels} fields, the header has {named}; every row needs one "
                                 "per column")
    if named and frame.iloc[:, named - 1].isna().any() and (why := TableFile(path, delimiter).ragged()):
        raise InvalidValue(PATH, why)  # a short row: pandas pads it with empty cells, which no policy should fill
    unnamed = frame.iloc[:, named:]  # a trailing delimiter's empty column: nothing may be in it
    if unnamed.shape[1] and unnamed.notna().to_numpy().any():
        row = int(np.nonzero(unnamed.notna().to_numpy().any(axis=1))[0][0])
        raise InvalidValue(PATH, f"{path}:{TableFile(path, delimiter).line(row)}: this row has a value in a column the "
                                 "header does not name (after its last name); name the column, or remove the value")
    return frame.iloc[:, :named]



# One reader per format, each giving the raw cells as a DataFrame (a Parquet or JSON Lines reader ignores the delimiter).
READERS = {"csv": lambda pd, path, delimiter, nrows: _read_csv(pd, path, delimiter, nrows),
           "jsonl": lambda pd, path, delimiter, nrows: formats.read(path, nrows),
           "parquet": lambda pd, path, delimiter, nrows: formats.read(path, nrows)}


def count_rows(path: Path) -> int:
    """About how many data rows the table has, without parsing it: Parquet's metadata, else the text's line breaks
    (less CSV's header; blank lines and line breaks inside quoted cells count too: a count for sizing, not a check)."""
    if table_format(path) == "parquet":
        return formats.row_count(path)
    lines, last = 0, b"\n"
    opener = gzip.open if compressed(path) else open
    with opener(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):  # 4 MB at a time: 0.1 s for 183 MB
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (last != b"\n") - (table_format(path) == "csv")


def estimate_bytes(path: Path, columns: int) -> int:
    """Memory a table takes once read: the larger of rows (from the first 64 KB's line length) x columns x 8 bytes
    and its text (long text cells), x 3 copies (JSON Lines, Parquet: formats.memory_bytes)."""
    if table_format(path) != "csv":
        return formats.memory_bytes(path, columns)
    head = head_bytes(path)
    lines = max(head.count(b"\n"), 1)
    size = text_bytes(path)
    rows = size / max(len(head) / lines, 1)
    return int(max(rows * columns * 8, size) * 3)


def _ragged(path: Path, message: str) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        expected, line, saw = found.groups()
        return f"{path}:{line}: this row has {saw} fields, the header has {expected}; every row needs one per column"
    return f"{path}: cannot be read as CSV: {message.strip().splitlines()[-1]}"







def is_number(text: str) -> bool:
    """Whether text reads as a number (a header line of numbers is data, not a header)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
