"""A table's file: its format (by extension), plain or gzip-compressed text, its first bytes, its size, and where a
row is in it (the line a row starts on; a Parquet file has rows, not lines)."""

from __future__ import annotations

import csv
import functools
import gzip
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

from dlpipe.language.errors import InvalidValue
from dlpipe.language.paths import read_at_most

SNIFF_BYTES = 64 * 1024
PATH = ("data", "path")
# The table formats by extension (before a .gz); any other extension is read as delimited text (CSV, TSV, ...).
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXTENSIONS = (".csv", ".tsv", ".txt", ".gz", *FORMATS)  # what a table's file is named (listed in messages)
# Files people give as tables that are not read as one, and what to do instead.
NOT_TABLES = {".json": "a JSON document, not JSON Lines; write one object per line and name the file .jsonl",
              ".xlsx": "a spreadsheet; export it as CSV (or Parquet)", ".xls": "a spreadsheet; export it as CSV (or "
              "Parquet)", ".ods": "a spreadsheet; export it as CSV (or Parquet)"}


def table_format(path: Path) -> str:
    """csv, jsonl or parquet, from the file name: data.csv.gz is csv, events.ndjson.gz is jsonl."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes.pop()
    return FORMATS.get(suffixes[-1] if suffixes else "", "csv")


def compressed(path: Path) -> bool:
    """A gzip-compressed table (.csv.gz, .tsv.gz, ...)."""
    return path.suffix.lower() == ".gz"


def open_text(path: Path):
    """The file as UTF-8 text (BOM skipped, bad bytes replaced), through gzip when it is compressed."""
    if compressed(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def head_bytes(path: Path, limit: int = SNIFF_BYTES) -> bytes:
    """The first `limit` bytes of the table's text (decompressed); InvalidValue for a damaged gzip file.

    Up to SNIFF_BYTES of a regular file are read once while it is unchanged (the delimiter, the header and the
    size estimate all look at them)."""
    version = unchanged(path)
    if version is not None and limit <= SNIFF_BYTES:
        return _head(str(path), *version)[:limit]
    return _read_head(path, limit)


def unchanged(path: Path) -> tuple[int, int, int] | None:
    """(size, modification time, inode) of a regular file, which names this version of it; else None."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_size, found.st_mtime_ns, found.st_ino) if stat.S_ISREG(found.st_mode) else None


@functools.lru_cache(maxsize=8)
def _head(path: str, size: int, mtime_ns: int, inode: int) -> bytes:
    return _read_head(Path(path), SNIFF_BYTES)


def _read_head(path: Path, limit: int) -> bytes:
    try:
        if compressed(path):
            with gzip.open(path, "rb") as handle:
                return handle.read(limit)
        return read_at_most(path, limit)[:limit]
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidValue(PATH, f"{path}: not a readable gzip file ({exc})") from None


def text_bytes(path: Path, cap: int | None = None) -> int:
    """The size of the table's text: the file's, or for gzip what it expands to, counted as it streams (a trailer's
    size is that of the last member only, and mod 4 GiB: 3 MB that expand to 2 GB said 8 MB); counting stops past
    `cap` bytes (by default what could not fit in memory anyway)."""
    size = path.stat().st_size
    if not compressed(path):
        return size
    version = unchanged(path)
    return _expanded(str(path), *(version or (size, 0, 0)), cap or _no_room())


def _no_room() -> int:
    from dlpipe.data.memory import available_bytes

    return available_bytes() + 1  # (once the text alone exceeds it, the table cannot fit)


@functools.lru_cache(maxsize=8)
def _expanded(path: str, size: int, mtime_ns: int, inode: int, cap: int) -> int:
    total = 0
    try:
        with gzip.open(path, "rb") as handle:  # every member, one after the other
            while total <= cap and (chunk := handle.read(1 << 22)):
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidValue(PATH, f"{path}: not a readable gzip file ({exc})") from None
    return max(total, size)


def where_not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """'line N, byte B' of the first byte that is not UTF-8 (pandas reports an offset inside its read chunk)."""
    data = head_bytes(path, 256 * 1024 * 1024)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as found:
        line = data.count(b"\n", 0, found.start) + 1
        return f"line {line}, byte {found.start + 1}"
    return f"byte {exc.start + 1} of a chunk"


@dataclass(frozen=True)
class TableFile:
    """A table's file as read: its path and delimiter, and where each data row is in it (for messages)."""

    path: Path
    delimiter: str = ","
    shown: str | None = None  # the name messages give it (standard input, read through a temporary file)

    def __str__(self) -> str:
        return self.shown or str(self.path)

    def line(self, row: int) -> int:
        """The file line data row `row` starts on (CSV: the header is line 1, quoted line breaks counted; JSON Lines:
        blank lines skipped; Parquet: the row's number, from 1).

        Read only when a message needs it: one pass over the file, kept for the next message.
        """
        if table_format(self.path) == "parquet":
            return row + 1
        starts = self._records()[0]
        return starts[row] if 0 <= row < len(starts) else row + 2

    def lines(self, rows: int) -> list[int]:
        """The line (a Parquet file: the row number) of each of the first `rows` data rows."""
        starts = self._records()[0] if table_format(self.path) != "parquet" else ()
        return [starts[row] if row < len(starts) else row + (1 if table_format(self.path) == "parquet" else 2)
                for row in range(rows)]

    def blank_lines(self) -> tuple[int, ...]:
        """The blank lines between rows, which the readers skip (none in a Parquet file; trailing ones not counted)."""
        return () if table_format(self.path) == "parquet" else self._records()[1]

    def ragged(self) -> str | None:
        """'FILE:LINE: this row has N fields, the header has M; ...' for the first row of delimited text with
        fewer fields than the header (pandas pads it with empty cells) or more (a trailing delimiter's empty
        field aside); None when every row has the header's."""
        found = self._records()[2] if table_format(self.path) == "csv" else None
        if found is None:
            return None
        line, fields, named = found
        return f"{self}:{line}: this row has {fields} fields, the header has {named}; every row needs one per column"

    def _records(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int, int] | None]:
        try:
            return _record_starts(str(self.path), self.path.stat().st_mtime_ns,
                                  self.delimiter if table_format(self.path) == "csv" else None)
        except (OSError, csv.Error, UnicodeDecodeError):
            return (), (), None

    def at(self, row: int) -> str:
        """'line N', or 'row N' in a Parquet file."""
        return f"{'row' if table_format(self.path) == 'parquet' else 'line'} {self.line(row)}"

    def where(self, row: int) -> str:
        """FILE:LINE, or 'FILE, row N' in a Parquet file."""
        return f"{self}, row {self.line(row)}" if table_format(self.path) == "parquet" else f"{self}:{self.line(row)}"


@functools.lru_cache(maxsize=4)
def _record_starts(path: str, mtime_ns: int, delimiter: str | None
                   ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int, int] | None]:
    """(the line each data record starts on, the blank lines before the last record, the first record whose fields
    are not the header's: (line, fields, header's fields) or None): blank lines are skipped, as pandas skips them;
    JSON Lines: delimiter None."""
    starts, blanks, ragged = [], [], None
    with open_text(Path(path)) as handle:
        if delimiter is None:
            for number, line in enumerate(handle, 1):
                (starts if line.strip() else blanks).append(number)
        else:
            reader = csv.reader(handle, delimiter=delimiter)
            named = len(next(reader, []))
            end = reader.line_num
            for row in reader:
                (starts if row else blanks).append(end + 1)
                if row and ragged is None and (len(row) < named or any(f.strip() for f in row[named:])):
                    ragged = (end + 1, len(row), named)
                end = reader.line_num
    last = starts[-1] if starts else 0
    return tuple(starts), tuple(line for line in blanks if line < last), ragged
