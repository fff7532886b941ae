"""The tables `dlpipe predict` and `dlpipe evaluate --data` read: CSV text (a file, or standard input), JSON Lines and
Parquet, each checked before it is trusted (size, kind, ragged rows, long cells)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from dlpipe.data import formats
from dlpipe.data.csvfile import table_format
from dlpipe.data.memory import check_fits
from dlpipe.data.cells import MAX_CELL, refuse_long_cells
from dlpipe.data.table import pandas, sniff_text
from dlpipe.language.errors import InvalidValue
from dlpipe.language.paths import not_a_file
from dlpipe.trained.errors import InputError
from dlpipe.trained.model import TrainedModel


def read_table(model: TrainedModel, inputs: list[str]):
    """Tables (CSV, or - for stdin; JSON Lines, Parquet) as one frame, and per row the columns that are not features
    (passed through)."""
    pd, frames = pandas(), []
    for item in inputs:
        if item != "-" and table_format(Path(item)) != "csv":
            frames.append(_other_format(Path(item)))
            continue
        text = _csv_text(model, item)
        delimiter = sniff_text(text[:SNIFF_CHARS])
        _same_fields(text, delimiter, item)
        try:
            frames.append(pd.read_csv(io.StringIO(text), sep=delimiter, skipinitialspace=True, engine="c"))
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{item}: cannot be read as CSV ({str(exc).strip().splitlines()[-1]})") from None
        del text
        refuse_long_cells("standard input" if item == "-" else item, frames[-1])
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.columns = [str(c).strip() for c in frame.columns]
    features = {c.name for c in model.preprocessing.columns}
    extra = [c for c in frame.columns if c not in features and c != model.preprocessing.target]
    return frame, {name: frame[name].to_numpy() for name in extra}


SNIFF_CHARS = 64 * 1024
MAX_STDIN = 256 * 2**20  # bytes of CSV read from standard input at most
CSV_MEMORY = 8  # bytes of memory per byte of CSV, at most, while it is read and encoded (benchmarks/memory.py)
# The first bytes of files that are not CSV text, and what they are.
NOT_TEXT = {b"\x93NUMPY": "a NumPy .npy array", b"PK\x03\x04": "a zip archive (an .npz?)",
            b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image"}


def _csv_text(model: TrainedModel, item: str) -> str:
    """The text of a CSV input; InputError saying what the file is instead, and what the model takes."""
    names = ", ".join(c.name for c in model.preprocessing.columns)
    takes = f"this model takes a CSV table whose header names its columns {names}"
    if item == "-":
        data = sys.stdin.buffer.read(MAX_STDIN + 1)  # never more: `cat /dev/zero | dlpipe predict RUN -` ends here
        if len(data) > MAX_STDIN:
            raise InputError(f"standard input holds more than {MAX_STDIN // 2**20} MB; write it to a file and give "
                             "its path (a file's size is checked against the memory before it is read)")
    else:
        path = Path(item)
        why = not_a_file(path)
        if why:
            raise InputError(f"{item}: {why}")
        check_fits(path.stat().st_size * CSV_MEMORY, f"{item} ({path.stat().st_size / 1e6:.0f} MB of CSV)",
                   ("input",))
        data = path.read_bytes()
    kind = next((what for magic, what in NOT_TEXT.items() if data.startswith(magic)), None)
    if kind:
        raise InputError(f"{item}: is {kind}, not a CSV table; {takes}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{item}: not UTF-8 text (byte {exc.start}); {takes}") from None


def _same_fields(text: str, delimiter: str, item: str) -> None:
    """InputError for a row with more or fewer fields than the header (pandas would shift or pad it silently)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    where = "standard input" if item == "-" else item
    try:
        header = next(reader, None)
        if not header:
            raise InputError(f"{item}: holds no table (no header, no rows)")
        for row in reader:
            if row and len(row) != len(header):
                raise InputError(f"{where}:{reader.line_num}: this row has {len(row)} fields, the header has "
                                 f"{len(header)}; every row needs one per column")
    except csv.Error as exc:  # a cell beyond the csv module's limit (131,072 characters), an unclosed quote
        raise InputError(f"{where}:{reader.line_num}: cannot be read as CSV ({exc}); a cell is at most "
                         f"{MAX_CELL:,} characters") from None


def _other_format(path: Path):
    """A JSON Lines or Parquet input as a frame; InputError saying what is wrong with it, at its line or row."""
    why = not_a_file(path)
    if why:
        raise InputError(f"{path}: {why}")
    try:
        check_fits(formats.memory_bytes(path, 1), f"{path} ({path.stat().st_size / 1e6:.0f} MB)", ("input",))
        frame = formats.read(path)
        refuse_long_cells(str(path), frame)
    except InvalidValue as exc:
        raise InputError(str(exc)) from None
    return frame
