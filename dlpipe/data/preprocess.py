"""What was fitted on the training split, kept beside the model and applied (never refitted) to new data.

A run stores it twice: inside model.pt and as a readable preprocessing.json. Both come
from `Preprocessing.to_json()`; `from_json` reads either back, and `table_inputs` /
`scaled` / `targets_out` turn raw rows, arrays or pixels into what the model saw,
exactly as training did (the data sources call the same functions). numpy only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from dlpipe.data import schema
from dlpipe.data.schema import KINDS, MONTHS, WEEKDAYS, day_parts, missing_words
from dlpipe.data.text import TextEncoder

VERSION = 2  # 2: booleans, dates and each column's missing spellings (1 is still read)


@dataclass(frozen=True)
class Column:
    """One input column of a table, as fitted on the training rows (schema.KINDS says what each kind becomes).

    numeric, boolean, date: mean and std (a date's in days since 1970), fill (an empty cell: the training mean),
    origin (a date: the training rows' first day); categorical: its categories (canonical text, one-hot order);
    text: read by the Preprocessing's TextEncoder. missing: the spellings this column reads as an empty cell
    besides a blank (schema.MISSING_WORDS where a word cannot be a value). format: a date's strptime format.
    """

    name: str
    kind: str  # schema.KINDS
    mean: float = 0.0
    std: float = 1.0
    fill: float = 0.0  # what an empty cell becomes (the training mean), before scaling
    categories: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    format: str | None = None
    origin: float | None = None

    @property
    def raw_scales(self) -> list[tuple[float, float, float]]:
        """(mean, std, fill) of each input, for a model that takes raw values (an export): a number, a 1/0 or a
        date's days since 1970 are standardized and filled; one-hot inputs go in as they are."""
        if self.kind in ("numeric", "boolean", "date"):
            return [(self.mean, self.std, self.fill)] + [(0.0, 1.0, 0.0)] * (len(self.inputs) - 1)
        return [(0.0, 1.0, 0.0)] * len(self.inputs)

    @property
    def inputs(self) -> list[str]:
        """The model inputs this column becomes (a text column's are its TextEncoder's, shared by all of them)."""
        if self.kind == "text":
            return []
        if self.kind == "date":
            return [f"{self.name}:days", *(f"{self.name}:{d}" for d in WEEKDAYS),
                    *(f"{self.name}:{m}" for m in MONTHS)]
        return [f"{self.name}={c}" for c in self.categories] if self.kind == "categorical" else [self.name]


@dataclass(frozen=True)
class Preprocessing:
    """The fitted preprocessing of one run.

    kind: table (columns), arrays (mean/std per feature or channel) or images (size,
    channels, mean/std per channel). target_scale: (mean, std) the regression target
    was standardized with for training (0, 1 when it was not); predictions are
    reported as pred * std + mean.
    """

    kind: str
    task: str
    sample_shape: tuple[int, ...]
    classes: tuple[str, ...] = ()
    target: str = ""
    target_scale: tuple[float, float] = (0.0, 1.0)
    columns: tuple[Column, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    size: tuple[int, int] | None = None
    channels: int | None = None
    missing: str = "error"  # a table's `missing:` policy, applied to new rows as in training (dlpipe/trained/rows.py)
    text: TextEncoder | None = None  # a table's text columns: tokenizer and vocabulary (dlpipe/data/text.py)
    window: int = 0  # a series: past steps per sample (its columns: the forecast column, then the features)
    horizon: int = 0  # a series: steps from the window's last value to the forecast
    time: str | None = None  # a series: the column naming each row's time
    threshold: float | None = None  # two classes: `positive` is predicted from this probability on (threshold:)
    positive: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def input_names(self) -> list[str]:
        return [name for column in self.columns for name in column.inputs] + (self.text.input_names if self.text else [])

    @property
    def sequence(self) -> bool:
        """Whether the model reads token ids (int64, one row of `length` per sample) rather than numbers."""
        return self.text is not None and self.text.mode == "sequence"

    @property
    def vocabulary(self) -> int | None:
        """The token ids an embedding layer needs rows for (a sequence model), else None."""
        return self.text.ids if self.sequence else None

    def table_inputs(self, rows) -> tuple[np.ndarray, int]:
        """Raw rows (a DataFrame or a dict of columns, cells as any reader gives them) as model inputs, read through
        schema.clean as training read them; also how many rows held an unseen category. schema.BadCells for a
        cell that is not its column's kind (dlpipe.trained.rows adds the missing: policy and notes)."""
        return self.encode({column.name: schema.clean(column, np.asarray(rows[column.name]).reshape(-1))
                            for column in self.columns})

    def encode(self, clean: dict, outside: list[int] | None = None) -> tuple[np.ndarray, int]:
        """Clean columns (schema.clean, by name) as model inputs; also how many rows held an unseen category.

        An empty numeric, boolean or date cell becomes the training mean (0 after standardizing); an unseen or
        empty category all zeros; text is tokenized a chunk at a time (outside: TextEncoder.encode's count).
        """
        rows = len(clean[self.columns[0].name])
        texts = {n: clean[n] for n in self.text.columns} if self.text is not None else {}
        if self.sequence:  # token ids alone (a sequence model takes no other input)
            return self.text.encode(texts, outside), 0
        out, unseen, at = np.zeros((rows, len(self.input_names)), dtype=np.float32), np.zeros(rows, dtype=bool), 0
        for column in self.columns:
            values = clean[column.name]
            if column.kind in ("numeric", "boolean", "date"):
                x = np.asarray(values, dtype=np.float64)
                out[:, at] = (np.where(np.isnan(x), column.fill, x) - column.mean) / column.std
                at += 1
                if column.kind == "date":
                    weekday, month = day_parts(x)
                    for offset, part in ((0, weekday), (7, month)):
                        hit = np.flatnonzero(part >= 0)
                        out[hit, at + offset + part[hit]] = 1
                    at += 19
            elif column.kind == "categorical":
                # One dict lookup per cell, never np.asarray(values).astype(str): that pads every cell to the
                # longest one (a 1 MB cell in 2,000 rows took 7.45 GiB).
                index = {category: i for i, category in enumerate(column.categories)}
                codes = np.fromiter((index.get(value, -1) for value in values), dtype=np.int64, count=rows)
                unseen |= (codes < 0) & np.fromiter((v is not None for v in values), dtype=bool, count=rows)
                hit = np.flatnonzero(codes >= 0)
                out[hit, at + codes[hit]] = 1
                at += len(column.categories)
        if self.text is not None:
            out[:, at:] = self.text.encode(texts, outside)
        return out, int(unseen.sum())

    def scaled(self, x: np.ndarray) -> np.ndarray:
        """Arrays or pixels (already in 0..1 for images) normalized as in training, float32."""
        x = np.asarray(x, dtype=np.float32)
        if not self.mean:
            return x
        shape = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 2 else (1, -1)
        if self.kind == "series":  # (N, window, channels): channels last
            shape = (1, 1, -1)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(shape)
        std = np.asarray(self.std, dtype=np.float32).reshape(shape)
        return (x - mean) / std

    def targets_out(self, y: np.ndarray) -> np.ndarray:
        """Model outputs of a regression in the target's own units."""
        mean, std = self.target_scale
        return np.asarray(y) * std + mean

    def to_json(self) -> dict:
        """Plain JSON: what preprocessing.json holds, and model.pt beside the weights."""
        data = dataclasses.asdict(self)
        data.pop("notes")
        data["text"] = self.text.to_json() if self.text is not None else None
        data["columns"] = [{**column, "categories": list(column["categories"]), "missing": list(column["missing"])}
                           for column in data["columns"]]
        return {"version": VERSION, **data}

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        """The record back from JSON; ValueError (in words) for one this dlpipe did not write or cannot use.

        Checked key by key, so an entry from a newer dlpipe (an unknown key), a missing key or a column count
        that does not add up to the input size is refused when the run is loaded, not at the first prediction.
        """
        if not isinstance(data, dict):
            raise ValueError(f"is a {type(data).__name__}, not a record")
        data = {k: v for k, v in data.items() if k != "version"}
        _check_keys(data, {f.name for f in dataclasses.fields(cls)} - {"notes"}, ("kind", "task", "sample_shape"),
                    "it")
        try:
            columns = tuple(_column(c) for c in data.pop("columns", ()) or ())
            tuples = {k: tuple(data[k]) for k in ("sample_shape", "classes", "target_scale", "mean", "std", "size")
                      if data.get(k) is not None}
            text = data.pop("text", None)
            made = cls(**{**data, **tuples, "columns": columns,
                          "text": TextEncoder.from_json(_record(text, "text")) if text is not None else None})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"holds a value of the wrong kind ({exc})") from None
        made.check()
        return made

    def check(self) -> None:
        """ValueError when the parts do not fit together (the inputs its columns make against sample_shape)."""
        if self.kind not in ("table", "arrays", "images", "series") or self.task not in ("regression", "classification"):
            raise ValueError(f"has kind {self.kind!r} and task {self.task!r}, which this dlpipe does not know")
        unknown = [c.name for c in self.columns if c.kind not in KINDS]
        if unknown:
            raise ValueError(f"has column {unknown[0]!r} of a kind this dlpipe does not know")
        if not self.sample_shape or not all(isinstance(d, int) and d > 0 for d in self.sample_shape):
            raise ValueError(f"has the input shape {self.sample_shape}, which no input has")
        if self.sequence and (tuple(self.sample_shape) != (self.text.length,) or
                              any(c.kind != "text" for c in self.columns)):
            raise ValueError(f"reads token sequences of {self.text.length} but its input shape is "
                             f"{tuple(self.sample_shape)}, or other columns beside the text")
        if self.kind == "table" and not self.sequence and (len(self.input_names),) != tuple(self.sample_shape):
            raise ValueError(f"has {len(self.columns)} column(s) making {len(self.input_names)} inputs, but its "
                             f"input shape is {tuple(self.sample_shape)}")
        if self.kind == "series" and (tuple(self.sample_shape) != (self.window, len(self.columns)) or
                                      len(self.mean) != len(self.columns) or self.horizon < 1):
            raise ValueError(f"has a series window of {self.window} over {len(self.columns)} column(s) (horizon "
                             f"{self.horizon}) but its input shape is {tuple(self.sample_shape)}")
        if len(self.mean) != len(self.std) or len(self.target_scale) != 2:
            raise ValueError("has a scaling whose parts do not match (mean, std, target_scale)")
        if self.task == "classification" and len(self.classes) < 2:
            raise ValueError(f"names {len(self.classes)} class(es) for a classifier")


def _check_keys(data: dict, allowed: set[str], required: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"has the key(s) {', '.join(map(repr, unknown))} in {what}, which this dlpipe does not know "
                         "(made by a newer dlpipe? run the pipeline again with this one)")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"lacks the key(s) {', '.join(map(repr, missing))} in {what}")


def _record(raw, what: str) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{what} is a {type(raw).__name__}, not a record")
    return raw


def _column(raw) -> Column:
    if not isinstance(raw, dict):
        raise ValueError(f"a column is a {type(raw).__name__}, not a record")
    _check_keys(raw, {f.name for f in dataclasses.fields(Column)}, ("name", "kind"), f"column {raw.get('name')!r}")
    missing = raw.get("missing", missing_words(raw["kind"]) if raw["kind"] in KINDS else ())  # (a version 1 record)
    return Column(**{**raw, "categories": tuple(raw.get("categories", ())), "missing": tuple(missing)})
