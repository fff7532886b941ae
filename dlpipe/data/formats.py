"""Tables that are not delimited text: JSON Lines (one object a row) and Parquet (pyarrow), read into the frame a
CSV gives, so every later check and message is the same whatever the format.

JSON Lines is read by pyarrow's C++ reader when the file is plain (5x faster than line by
line: benchmarks/csv_load.py); anything it cannot read as a flat table exactly as the
first row sets it out is read again with the json module line by line, so a broken line, a
row that is not an object, a key the first row lacks, a list or object in a cell, or
NaN/Infinity (not JSON) is refused at its line. Parquet needs pyarrow (the `tables` extra);
dictionary columns become plain values, timestamps ISO text, and a nested column is
refused by name.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from dlpipe.data.cells import EXTRA
from dlpipe.data.csvfile import PATH, open_text, table_format, text_bytes
from dlpipe.language.errors import InvalidValue

JSON_MEMORY = 8  # bytes of memory per byte of JSON Lines while it is read: a Python object per cell
CELL = "a cell is a number, a string, true/false or null"
MAX_LINE = 256 * 2**20  # characters in one JSON Lines row


def names(path: Path) -> list[str]:
    """The column names: a Parquet file's schema, or the keys of a JSON Lines file's first object."""
    if table_format(path) == "parquet":
        parquet, arrow = _pyarrow()
        try:
            return [str(name) for name in parquet.read_schema(path).names]
        except (arrow.ArrowException, OSError) as exc:
            raise InvalidValue(PATH, f"{path}: cannot be read as Parquet ({_short(exc)})") from None
    return list(_jsonl_columns(path, nrows=1)[0]) if text_bytes(path) else []


def read(path: Path, nrows: int | None = None):
    """The whole table (or its first nrows rows) as a pandas DataFrame indexed 0, 1, ..."""
    import pandas as pd  # the caller has checked it is installed (the tables extra)

    if table_format(path) == "parquet":
        return _parquet(pd, path, nrows)
    fast = _jsonl_arrow(path) if nrows is None else None
    if fast is not None:
        return fast
    columns, _ = _jsonl_columns(path, nrows)
    return pd.DataFrame(columns)


def _jsonl_arrow(path: Path):
    """The JSON Lines file through pyarrow.json, or None when it is not a plain flat table with the first row's keys
    (a bad line, a nested value, a new key, a type that changes, NaN): the line reader then says what and where."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.json
    except ImportError:
        return None
    try:
        table = pyarrow.json.read_json(path)
        stamps = [field.name for field in table.schema if pyarrow.types.is_timestamp(field.type)]
        if stamps:  # pyarrow reads ISO text as timestamps; the cells are the text the file holds, as in CSV
            schema = pyarrow.schema([(f.name, pyarrow.string() if f.name in stamps else f.type) for f in table.schema])
            table = pyarrow.json.read_json(path, parse_options=pyarrow.json.ParseOptions(explicit_schema=schema))
    except (pyarrow.ArrowException, OSError, EOFError, zlib.error):
        return None
    if table.column_names != names(path) or any(pyarrow.types.is_nested(f.type) for f in table.schema) or any(
            pyarrow.types.is_floating(column.type) and pyarrow.compute.any(pyarrow.compute.is_nan(column)).as_py()
            for column in table.columns):
        return None
    return table.to_pandas()


def row_count(path: Path) -> int:
    """A Parquet file's rows, from its metadata."""
    parquet, arrow = _pyarrow()
    try:
        return parquet.ParquetFile(path).metadata.num_rows
    except (arrow.ArrowException, OSError) as exc:
        raise InvalidValue(PATH, f"{path}: cannot be read as Parquet ({_short(exc)})") from None


def memory_bytes(path: Path, columns: int) -> int:
    """About how much memory reading the table takes (checked against what is free before it is read)."""
    if table_format(path) == "parquet":
        parquet, _ = _pyarrow()
        try:
            meta = parquet.ParquetFile(path).metadata
        except Exception:  # noqa: BLE001 - read() says what is wrong with the file
            return 0
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return int(max(meta.num_rows * columns * 8, unpacked) * 3)
    return text_bytes(path) * JSON_MEMORY


def _parquet(pd, path: Path, nrows: int | None):
    parquet, arrow = _pyarrow()
    try:
        file = parquet.ParquetFile(path)
        nested = [field.name for field in file.schema_arrow if arrow.types.is_nested(field.type)]
        if nested:
            raise InvalidValue(PATH, f"{path}: column {nested[0]!r} holds lists or records; {CELL}")
        binary = [field.name for field in file.schema_arrow
                  if arrow.types.is_binary(field.type) or arrow.types.is_large_binary(field.type)
                  or arrow.types.is_fixed_size_binary(field.type)]
        if binary:  # bytes are no text: read as text they were their repr (b'\\xff...'), or a decoding traceback
            raise InvalidValue(PATH, f"{path}: column {binary[0]!r} holds binary data (bytes), not text or numbers; "
                                     "store it as a string column, or leave it out of the file")
        if nrows is None:
            table = file.read()
        else:
            batch = next(file.iter_batches(batch_size=nrows), None)
            table = arrow.Table.from_batches([batch]) if batch is not None else file.schema_arrow.empty_table()
    except (arrow.ArrowException, OSError) as exc:
        raise InvalidValue(PATH, f"{path}: cannot be read as Parquet ({_short(exc)})") from None
    frame = table.to_pandas()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):  # a dictionary column: its values, not codes
            frame[name] = frame[name].astype(object)
        elif frame[name].dtype.kind == "M":  # a timestamp: its ISO text (a series' time column reads dates)
            frame[name] = [None if pd.isna(v) else v.isoformat() for v in frame[name]]
    return frame


def _jsonl_columns(path: Path, nrows: int | None) -> tuple[dict[str, list], int]:
    """{name: values} in the first object's key order, and the rows read; InvalidValue at the line of a bad row."""
    columns: dict[str, list] | None = None
    rows = 0
    try:
        with open_text(path) as handle:
            for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE + 1), ""), 1):
                if len(line) > MAX_LINE:  # a file of one endless line is refused, not read into memory
                    raise InvalidValue(PATH, f"{path}:{number}: a line of over {MAX_LINE:,} characters; a row of a "
                                             "table is never that long (is this JSON Lines?)")
                if not line.strip():
                    continue
                record = _record(path, number, line)
                if columns is None:
                    columns = {name: [] for name in record}
                unknown = [name for name in record if name not in columns]
                if unknown:
                    raise InvalidValue(PATH, f"{path}:{number}: key {unknown[0]!r} is not in the first row "
                                             f"({', '.join(columns)}); every row has the first row's keys (a "
                                             "missing one, or null, is an empty cell)")
                for name, values in columns.items():
                    values.append(record.get(name))
                rows += 1
                if nrows is not None and rows >= nrows:
                    break
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidValue(PATH, f"{path}: cannot be read ({exc})") from None
    if columns is None:
        raise InvalidValue(PATH, f"{path}: holds no rows (every line is empty)")
    return columns, rows


def _record(path: Path, number: int, line: str) -> dict:
    """One line's object; InvalidValue naming the line for anything that is not a flat JSON object."""
    try:
        record = json.loads(line.rstrip("\r\n"), parse_constant=not_json)  # (a column on this line, not the next)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        why = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else \
            "lists or objects nested too deep to read" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidValue(PATH, f"{path}:{number}: not valid JSON ({why}); each line of a JSON Lines file is one "
                                 "object, {\"column\": value, ...}") from None
    if not isinstance(record, dict):
        raise InvalidValue(PATH, f"{path}:{number}: a JSON {type(record).__name__} where an object "
                                 "({\"column\": value, ...}) was expected; each line is one row")
    nested = next((name for name, value in record.items() if isinstance(value, (dict, list))), None)
    if nested is not None:
        raise InvalidValue(PATH, f"{path}:{number}: key {nested!r} holds a JSON "
                                 f"{'list' if isinstance(record[nested], list) else 'object'}; {CELL}")
    return record


def not_json(constant: str):
    raise ValueError(f"{constant} is not JSON; write null for an empty cell")


def _pyarrow():
    """(pyarrow.parquet, pyarrow), or an InvalidValue naming the extra that installs them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InvalidValue(PATH, f"reading Parquet files needs pyarrow, which is not installed: {EXTRA}") from None
    return pyarrow.parquet, pyarrow


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
