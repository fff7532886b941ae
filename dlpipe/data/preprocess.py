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

VERSION = 1


@dataclass(frozen=True)
class Column:
    """One input column of a table: numeric (mean, std) or categorical (its categories, in one-hot order)."""

    name: str
    kind: str  # numeric | categorical
    mean: float = 0.0
    std: float = 1.0
    fill: float = 0.0  # what an empty cell becomes (the training mean), before scaling
    categories: tuple[str, ...] = ()

    @property
    def inputs(self) -> list[str]:
        """The model inputs this column becomes."""
        return [self.name] if self.kind == "numeric" else [f"{self.name}={c}" for c in self.categories]


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
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def input_names(self) -> list[str]:
        return [name for column in self.columns for name in column.inputs]

    def table_inputs(self, frame) -> tuple[np.ndarray, int]:
        """Rows (a DataFrame or a dict of columns) as model inputs; also how many rows held an unseen category.

        A missing numeric cell becomes the training mean (0 after standardizing); an
        unseen or missing category becomes all zeros.
        """
        rows = len(frame[self.columns[0].name])
        out, unseen, at = np.empty((rows, len(self.input_names)), dtype=np.float32), np.zeros(rows, dtype=bool), 0
        for column in self.columns:
            values = frame[column.name]
            if column.kind == "numeric":
                x = np.asarray(values, dtype=np.float64)
                out[:, at] = (np.where(np.isnan(x), column.fill, x) - column.mean) / column.std
                at += 1
            else:
                # One dict lookup per cell, never np.asarray(values).astype(str): that pads every cell to the
                # longest one (a 1 MB cell in 2,000 rows took 7.45 GiB).
                index = {category: i for i, category in enumerate(column.categories)}
                codes = np.fromiter((index.get(str(value), -1) for value in values), dtype=np.int64, count=rows)
                unseen |= (codes < 0) & _present(values)
                block = out[:, at:at + len(column.categories)]
                block[:] = 0
                hit = np.flatnonzero(codes >= 0)
                block[hit, codes[hit]] = 1
                at += len(column.categories)
        return out, int(unseen.sum())

    def scaled(self, x: np.ndarray) -> np.ndarray:
        """Arrays or pixels (already in 0..1 for images) normalized as in training, float32."""
        x = np.asarray(x, dtype=np.float32)
        if not self.mean:
            return x
        shape = (1, -1) + (1,) * (x.ndim - 2) if x.ndim > 2 else (1, -1)
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
        return {"version": VERSION, **data}

    @classmethod
    def from_json(cls, data: dict) -> Preprocessing:
        data = {k: v for k, v in data.items() if k != "version"}
        columns = tuple(Column(**{**c, "categories": tuple(c.get("categories", ()))}) for c in data.pop("columns", ()))
        tuples = {k: tuple(data[k]) for k in ("sample_shape", "classes", "target_scale", "mean", "std", "size")
                  if data.get(k) is not None}
        return cls(**{**data, **tuples, "columns": columns})


def _present(values) -> np.ndarray:
    """True where a cell holds a value (not None or NaN)."""
    array = np.asarray(values, dtype=object)
    return ~((array != array) | np.equal(array, None))  # NaN is the one value unequal to itself
