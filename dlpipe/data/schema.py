"""One reading of a table's cells: each column's kind, and a raw cell turned into its clean value the same way
wherever it comes from (training, predict, evaluate, the Python API, a server) and whatever the file's format.

A reader (delimited text, JSON Lines, Parquet) gives raw cells: strings, numbers, booleans, dates or an empty cell
(None, NaN). This module alone decides what a cell means:

- an empty cell is None, NaN or blank text, in every kind;
- MISSING_WORDS ("NA", "null", ...) are empty too where the column is numbers, booleans or dates, which they could
  not be; in a column of categories or text they are values (a category called "none");
- a category's canonical text: numbers written without a trailing .0 (1, 1.0 and "1" are one category), true and
  false in lower case, dates as ISO text, other text stripped of spaces around it.

numpy only: the fitted columns travel with the model (preprocess.py) and are applied by the same functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np

# Spellings of an empty cell where a value cannot be text (any case, spaces around): stated once, read by every
# reader and by predict alike.
MISSING_WORDS = ("na", "n/a", "nan", "null", "none")
# Each kind: what the column becomes, and whether MISSING_WORDS are empty cells in it (docs/guide/data.md's table).
KINDS = {
    "numeric": ("one input, standardized by the training rows' mean and std; empty: the training mean", True),
    "boolean": ("one input, 1 for true and 0 for false, standardized; empty: the training mean", True),
    "date": ("days since the training rows' first date (standardized), and the day of the week (7) and the month "
             "(12) as their own inputs; empty: the training mean, no day, no month", True),
    "categorical": ("one input per category of the training rows (one-hot); unseen or empty: all zeros", False),
    "text": ("tokens (words or characters, n-grams) counted over a vocabulary fitted on the training rows", False),
    "identifier": ("left out: every value differs (an id, an e-mail), so nothing learned from it generalizes", False),
}
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SHOWN = 5  # cells named in a message; the rest are counted
EPOCH = datetime(1970, 1, 1)


@dataclass
class BadCells(ValueError):
    """Cells of one column that cannot be read as its kind: their rows (0-based), values and why."""

    column: str
    rows: list[int]
    values: list
    why: str  # "is not a number", ...
    problem: str = "text"  # text (not the column's kind) or infinite

    def message(self, where) -> str:
        """'column 'x': line 4 ('abc'), line 9 ('d') and 3 more: not numbers'; where(row) names a row."""
        shown = ", ".join(f"{where(r)} ({v!r})" for r, v in zip(self.rows[:SHOWN], self.values))
        more = f" and {len(self.rows) - SHOWN} more" if len(self.rows) > SHOWN else ""
        return f"column {self.column!r}: {shown}{more} {self.why}"

    def __str__(self) -> str:
        return self.message(lambda r: f"row {r + 1}")


def _plain(values) -> list:
    """Cells as Python values (a message shows 'tall', not np.str_('tall'))."""
    return [shown(v) for v in values]


def shown(value):
    """One cell as a Python value, for a message: 50, not np.int64(50)."""
    return value.item() if isinstance(value, np.generic) else value


def is_empty(value) -> bool:
    """None, NaN, pandas' NA, or blank text: an empty cell in every kind of column."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN is the one value unequal to itself
    except (TypeError, ValueError):  # pd.NA answers NA, which has no truth value
        return True


def is_missing_word(value, words: tuple[str, ...] = MISSING_WORDS) -> bool:
    return isinstance(value, str) and value.strip().lower() in words


def missing_words(kind: str) -> tuple[str, ...]:
    """The spellings a column of this kind reads as an empty cell besides a blank (KINDS says where)."""
    return MISSING_WORDS if KINDS[kind][1] else ()


def text(value) -> str | None:
    """A cell's canonical text (a category, a class name), or None for an empty cell."""
    if is_empty(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _number_text(float(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    value = str(value).strip()
    if NUMBER.fullmatch(value):
        return _number_text(float(value))
    return value.lower() if value.lower() in ("true", "false") else value


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def texts(values) -> np.ndarray:
    """Canonical texts of a column (object array; None where empty)."""
    out = np.empty(len(values), dtype=object)
    out[:] = mapped(values, text)
    return out


def mapped(values, read) -> list:
    """read(cell) for every cell, computed once per distinct cell: a column of categories, dates or names
    repeats its values (keyed by type too: True, 1 and 1.0 are equal in Python, not here)."""
    done, out = {}, []
    for value in values:
        key = (type(value), value)
        try:
            out.append(done[key])
        except KeyError:
            out.append(done.setdefault(key, read(value)))
        except TypeError:  # an unhashable cell (never from a reader): read it alone
            out.append(read(value))
    return out


FLOAT32_MAX = float(np.finfo(np.float32).max)  # beyond it a cell becomes inf once the network reads it


def numbers(name: str, values, words: tuple[str, ...] = MISSING_WORDS, finite: bool = True) -> np.ndarray:
    """A column as float64, NaN where empty or a MISSING_WORD; BadCells for text, true/false, inf or a value beyond
    float32 (unless finite=False: a target's are refused by its own check, which names the sample)."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        out = array.astype(np.float64)
    else:
        out = _cells(name, array, lambda value: _number(value, words),
                     lambda bad: "not numbers" if bad > 1 else "is not a number")
    infinite = np.flatnonzero(np.isinf(out)) if finite else []
    if len(infinite):
        raise BadCells(name, infinite.tolist(), _plain(array[infinite[:SHOWN]]),
                       "not finite: dlpipe does not train or predict on them (one makes every loss NaN)", "infinite")
    huge = np.flatnonzero(np.abs(np.nan_to_num(out, posinf=0.0, neginf=0.0)) > FLOAT32_MAX) if finite else []
    if len(huge):  # float32 makes them inf: a 1e300 series "completed" with NaN metrics, 5e38 predicted garbage
        raise BadCells(name, huge.tolist(), _plain(array[huge[:SHOWN]]),
                       f"too large: beyond the ±{FLOAT32_MAX:.2g} that the network's 32-bit floats hold; rescale "
                       "the column (divide it by a power of ten)", "too large")
    return out


def _cells(name: str, values, read, why) -> np.ndarray:
    """Each cell through read (a float, NaN when empty, None when the cell is not of the kind) as float64;
    BadCells naming the cells that are not (why(count): what they are not)."""
    array = np.asarray(values, dtype=object)
    got = mapped(array, read)
    bad = [row for row, number in enumerate(got) if number is None]
    out = np.array([np.nan if number is None else number for number in got], dtype=np.float64) if bad else \
        np.array(got, dtype=np.float64)
    if bad:
        raise BadCells(name, bad, _plain(array[bad[:SHOWN]]), why(len(bad)))
    return out


def _number(value, words: tuple[str, ...] = MISSING_WORDS) -> float | None:
    """A cell as a number (NaN when empty), or None when it is something else."""
    if is_empty(value) or is_missing_word(value, words):
        return np.nan
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


BOOLEANS = {"true": 1.0, "1": 1.0, "false": 0.0, "0": 0.0}


def booleans(name: str, values, words: tuple[str, ...] = MISSING_WORDS) -> np.ndarray:
    """A column of true/false (any case; 1/0) as float64 1.0/0.0, NaN where empty; BadCells for anything else."""
    return _cells(name, values, lambda value: np.nan if is_empty(value) or is_missing_word(value, words)
                  else BOOLEANS.get(text(value)), lambda bad: "is not true or false" if bad == 1 else
                  "not true or false")


def dates(name: str, values, fmt: str | None = None, words: tuple[str, ...] = MISSING_WORDS) -> np.ndarray:
    """A column of dates as days since 1970-01-01 (float64, NaN where empty); BadCells for a cell that is not one.

    fmt: a strptime format (e.g. %d/%m/%Y), else ISO 8601 (2024-01-31, 2024-01-31T08:00, with a zone)."""
    one, many = (f"a date in the format {fmt}", f"dates in the format {fmt}") if fmt else \
        ("an ISO date (2024-01-31)", "ISO dates (2024-01-31)")
    return _cells(name, values, lambda value: np.nan if is_empty(value) or is_missing_word(value, words)
                  else _day(value, fmt), lambda bad: f"is not {one}" if bad == 1 else f"not {many}")


def _day(value, fmt: str | None) -> float | None:
    if isinstance(value, datetime) or hasattr(value, "to_pydatetime"):
        moment = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.strptime(value.strip(), fmt) if fmt else (
                datetime.fromisoformat(value.strip()) if ISO.fullmatch(value.strip()) else None)
        except ValueError:
            return None
        if moment is None:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return (moment - EPOCH).total_seconds() / 86400.0


def day_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weekday 0-6 from Monday, month 0-11) of each day; -1 where the day is NaN."""
    present = ~np.isnan(days)
    whole = np.where(present, np.floor(np.nan_to_num(days)), 0).astype(np.int64)
    weekday = np.where(present, (whole + 3) % 7, -1)  # 1970-01-01 was a Thursday
    month = whole.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    return weekday, np.where(present, month, -1)


def day_text(days: float) -> str:
    """A day count back as an ISO date (for the report)."""
    return str(np.datetime64(int(np.floor(days)), "D"))


def detect(values) -> str:
    """The kind of a column read under `auto`: boolean, numeric, date or categorical (text is the user's choice).

    numeric: numbers, with at most a few text cells (an error at their line, not a category); MISSING_WORDS are
    empty. boolean: true/false only. date: ISO dates only. Anything else is categorical.
    """
    array = np.asarray(values)
    if array.dtype.kind == "b":
        return "boolean"
    if array.dtype.kind in "iuf":
        return "numeric"
    present = [v for v in array if not is_empty(v) and not is_missing_word(v)]
    if not present:
        return "numeric"
    if all(text(v) in ("true", "false") for v in present):
        return "boolean"
    numeric = sum(_number(v) is not None for v in present)
    if numeric * 2 >= len(present):
        return "numeric"
    if all(isinstance(v, (datetime, date)) or (isinstance(v, str) and ISO.fullmatch(v.strip())) for v in present):
        return "date"
    return "categorical"


def identifier_like(values) -> str | None:
    """Why a column of categories reads like names or identifiers (distinct values over half the rows), or None."""
    present = [t for t in texts(values) if t is not None]
    if len(present) < 20:
        return None
    distinct = len(set(present))
    if distinct * 2 <= len(present):
        return None
    return f"{distinct:,} different values in {len(present):,} rows"


def clean(column, values) -> np.ndarray:
    """A raw column as its kind's clean values: float64 (numeric, boolean, date: NaN empty), canonical text (a
    categorical column: None empty), or str (text: empty cells are empty text).

    column: a preprocess.Column (fitted, or only its name, kind, missing spellings and date format)."""
    kind, name, words = column.kind, column.name, tuple(column.missing)
    if kind == "numeric":
        return numbers(name, values, words)
    if kind == "boolean":
        return booleans(name, values, words)
    if kind == "date":
        return dates(name, values, column.format, words)
    if kind == "text":
        return np.array(["" if is_empty(v) else str(v) for v in values], dtype=object)
    return texts(values)


def empty(kind: str, cleaned: np.ndarray) -> np.ndarray:
    """True where a clean column's cell is empty (a text column never is: an empty cell is empty text)."""
    if kind == "text":
        return np.zeros(len(cleaned), dtype=bool)
    if cleaned.dtype.kind == "f":
        return np.isnan(cleaned)
    return np.fromiter((v is None for v in cleaned), dtype=bool, count=len(cleaned))
