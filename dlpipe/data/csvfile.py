"""A table's file: plain or gzip-compressed text, its first bytes, its size, and the line a row starts on."""

from __future__ import annotations

import csv
import functools
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from dlpipe.language.errors import InvalidValue
from dlpipe.language.paths import read_at_most

SNIFF_BYTES = 64 * 1024
PATH = ("data", "path")


def compressed(path: Path) -> bool:
    """A gzip-compressed table (.csv.gz, .tsv.gz, ...)."""
    return path.suffix.lower() == ".gz"


def open_text(path: Path):
    """The file as UTF-8 text (BOM skipped, bad bytes replaced), through gzip when it is compressed."""
    if compressed(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def head_bytes(path: Path, limit: int = SNIFF_BYTES) -> bytes:
    """The first `limit` bytes of the table's text (decompressed); InvalidValue for a damaged gzip file."""
    try:
        if compressed(path):
            with gzip.open(path, "rb") as handle:
                return handle.read(limit)
        return read_at_most(path, limit)[:limit]
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidValue(PATH, f"{path}: not a readable gzip file ({exc})") from None


def text_bytes(path: Path) -> int:
    """The size of the table's text: the file's, or for gzip the size its trailer records (mod 4 GiB)."""
    size = path.stat().st_size
    if not compressed(path) or size < 18:
        return size
    with open(path, "rb") as handle:
        handle.seek(-4, 2)
        return max(int.from_bytes(handle.read(4), "little"), size)


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
class CSVFile:
    """A CSV file as read: its path and delimiter, and where each data row starts in it (for messages)."""

    path: Path
    delimiter: str

    def __str__(self) -> str:
        return str(self.path)

    def line(self, row: int) -> int:
        """The file line data row `row` starts on (the header is line 1; quoted line breaks counted).

        Read only when a message needs it: one pass of the csv module over the file, kept for the next message.
        """
        try:
            starts = _record_starts(str(self.path), self.path.stat().st_mtime_ns, self.delimiter)
        except (OSError, csv.Error, UnicodeDecodeError):
            return row + 2
        return starts[row] if 0 <= row < len(starts) else row + 2


@functools.lru_cache(maxsize=4)
def _record_starts(path: str, mtime_ns: int, delimiter: str) -> tuple[int, ...]:
    """The line each data record starts on, blank lines skipped (as pandas skips them)."""
    starts = []
    with open_text(Path(path)) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        end = reader.line_num
        for row in reader:
            if row:
                starts.append(end + 1)
            end = reader.line_num
    return tuple(starts)
