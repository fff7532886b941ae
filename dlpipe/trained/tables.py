"""The tables `dlpipe predict` and `dlpipe evaluate --data` read, through training's own reader (data/table.py):
delimited text (plain or gzip; - for standard input), JSON Lines and Parquet, every cell the same raw cell that
training read. Each row keeps where it came from (file and line), for messages and for the output."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlpipe.data import table
from dlpipe.data.csvfile import TableFile, head_bytes, table_format
from dlpipe.language.errors import InvalidValue
from dlpipe.language.paths import not_a_file
from dlpipe.trained.errors import InputError
from dlpipe.trained.model import TrainedModel

MAX_STDIN = 256 * 2**20  # bytes of CSV read from standard input at most
# The first bytes of files that are not table text, and what they are.
NOT_TEXT = {b"\x93NUMPY": "a NumPy .npy array", b"PK\x03\x04": "a zip archive (an .npz?)",
            b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image"}


@dataclass
class Read:
    """The rows read: the raw cells, where each row is (file and line), and the blank lines skipped (noted)."""

    frame: object  # a pandas DataFrame, rows numbered 0, 1, ...
    files: list[str]  # each row's file, as messages name it
    lines: list[int]  # each row's line (a Parquet file: its row number)
    notes: list[str]

    def where(self, row: int) -> str:
        """'FILE:LINE' of row `row`, as training names a cell ('FILE, row N' in a Parquet file)."""
        name = self.files[row]
        return f"{name}, row {self.lines[row]}" if name.endswith((".parquet", ".pq")) else f"{name}:{self.lines[row]}"

    def origin(self, id_column: str | None) -> dict:
        """The columns that let an output row be matched to its input: --id's column, else file (when several) and
        line (row, for Parquet)."""
        if id_column is not None:
            if id_column not in self.frame.columns:
                raise InputError(f"--id {id_column}: no such column; the input has: {', '.join(self.frame.columns)}")
            return {id_column: self.frame[id_column].to_numpy()}
        files = {"file": np.asarray(self.files, dtype=object)} if len(set(self.files)) > 1 else {}
        parquet = all(name.endswith((".parquet", ".pq")) for name in self.files)
        return {**files, "row" if parquet else "line": np.asarray(self.lines, dtype=np.int64)}


def read_table(model: TrainedModel, inputs: list[str]) -> Read:
    """Tables (any format; - for stdin) as one frame of raw cells, with each row's file and line."""
    pd = table.pandas()
    frames, files, lines, notes = [], [], [], []
    settings = getattr(model.pipeline.data, "text", None)  # a text column may be as long as training let it be
    text = {name: settings.max_chars for name in settings.columns} if settings else {}
    for item in inputs:
        with _readable(model, item) as (path, shown):
            file = TableFile(path, table.sniff_delimiter(path, None), shown)
            try:
                frame = table.read_file(path, file.delimiter, text=text)
            except InvalidValue as exc:
                raise InputError(str(exc).replace(str(path), shown)) from None
            if ragged := file.ragged():  # pandas would pad a short row with empty cells: never in new rows
                raise InputError(ragged)
            frames.append(frame)
            files += [shown] * len(frame)
            lines += file.lines(len(frame))
            blank = file.blank_lines()
            if blank:
                notes.append(f"{shown}: {len(blank)} blank line(s) skipped, no row there: line(s) "
                             f"{', '.join(map(str, blank[:10]))}{' ...' if len(blank) > 10 else ''}")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return Read(frame, files, lines, notes)


class _readable:
    """(a path to read, the name messages give it): the file itself, or standard input in a temporary file."""

    def __init__(self, model: TrainedModel, item: str):
        self.model, self.item, self.folder = model, item, None

    def __enter__(self) -> tuple[Path, str]:
        if self.item != "-":
            path = Path(self.item)
            if why := not_a_file(path):
                raise InputError(f"{self.item}: {why}")
            _refuse_binary(self.model, self.item, head_bytes(path, 16) if table_format(path) != "parquet" else b"")
            return path, self.item
        data = sys.stdin.buffer.read(MAX_STDIN + 1)  # never more: `cat /dev/zero | dlpipe predict RUN -` ends here
        if len(data) > MAX_STDIN:
            raise InputError(f"standard input holds more than {MAX_STDIN // 2**20} MB; write it to a file and give "
                             "its path (a file's size is checked against the memory before it is read)")
        if not data.strip():
            raise InputError("standard input: holds no table (no header, no rows)")
        _refuse_binary(self.model, "standard input", data[:16])
        self.folder = tempfile.TemporaryDirectory(prefix="dlpipe-stdin-")
        path = Path(self.folder.name) / "stdin.csv"
        path.write_bytes(data)
        return path, "standard input"

    def __exit__(self, *exc) -> None:
        if self.folder is not None:
            self.folder.cleanup()


def _refuse_binary(model: TrainedModel, shown: str, head: bytes) -> None:
    """InputError for an array, archive or image given where a table is expected."""
    kind = next((what for magic, what in NOT_TEXT.items() if head.startswith(magic)), None)
    if kind:
        names = ", ".join(c.name for c in model.preprocessing.columns)
        raise InputError(f"{shown}: is {kind}, not a table; this model takes a CSV table whose header names its "
                         f"columns {names}")
