"""A table's schema fitted for training: each feature's kind decided, every cell read through schema.py (messages
at the cell's line), and what each column needs fitted on the training rows (mean and std, categories, a date's
origin)."""

from __future__ import annotations

import numpy as np

from dlpipe.data import cells, schema, table
from dlpipe.data.preprocess import Column
from dlpipe.language.errors import InvalidValue, check_each
from dlpipe.language.files import CSVData

MAX_ONEHOT = 10_000  # one-hot columns in all; beyond this a column is almost surely an ID, not a category


def key(config: CSVData, name: str, features: list[str]) -> tuple:
    """The pipeline key of a feature: its line in features:, else the path (every column is a feature)."""
    return table.FEATURES + (features.index(name),) if config.features and name in config.features else table.PATH


def kinds(config: CSVData, path, features: list[str], text: tuple[str, ...], frame) -> dict[str, str]:
    """Each feature's kind (schema.KINDS): text, a listed date or category, else what its cells are (auto).

    A column of categories that looks like free text or like names (most values distinct) is refused under
    categorical: auto, with what to do instead; listed under categorical: it is one-hot encoded as asked."""
    listed = config.categorical if config.categorical != "auto" else None
    for index, name in enumerate(listed or []):
        if name not in features:
            raise InvalidValue(("data", "categorical", index), f"{name!r} is not a feature of {path} "
                                                               f"(features: {', '.join(features[:20])})")
    found = {}
    for name in features:
        if name in text:
            found[name] = "text"
        elif name in config.dates:
            found[name] = "date"
        elif listed is not None:
            detected = schema.detect(frame[name].to_numpy())
            found[name] = "categorical" if name in listed else "numeric" if detected == "categorical" else detected
        else:
            found[name] = schema.detect(frame[name].to_numpy())
            if found[name] == "categorical":
                _not_one_hot(path, name, frame[name], key(config, name, features))
    return found


def _not_one_hot(path, name: str, values, where: tuple) -> None:
    """InvalidValue for a column of categories that one-hot encoding would spoil: free text, or names and ids."""
    why = cells.free_text(values.to_frame(), name)
    if why:
        raise InvalidValue(where, f"{path}: column {name!r} looks like free text ({why}); one-hot encoding "
                                  f"would make a category of each; read it as words with text: {{columns: [{name}]}}"
                                  ", or leave it out of features (or list it under categorical: if it is one)")
    why = schema.identifier_like(values.to_numpy())
    if why:
        raise InvalidValue(where, f"{path}: column {name!r} looks like names or identifiers ({why}); one-hot "
                                  "encoding would give most new rows a value training never saw; read it as "
                                  f"characters with text: {{columns: [{name}], tokens: chars, ngrams: [1, 3]}}, or "
                                  "leave it out of features (or list it under categorical: to one-hot encode it)")


def drafts(config: CSVData, found: dict[str, str]) -> list[Column]:
    """The columns before fitting: name, kind, missing spellings and a date's format."""
    return [Column(name, kind, missing=schema.missing_words(kind), format=_format(config.dates.get(name)))
            for name, kind in found.items()]


def _format(given: str | None) -> str | None:
    return None if given in (None, "iso") else given


def clean(config: CSVData, path: table.TableFile, features: list[str], columns: list[Column], frame) -> dict:
    """Every feature's clean values (schema.clean), every problem of every column in one InvalidValue."""
    out = {}

    def one(column: Column) -> None:
        try:
            out[column.name] = schema.clean(column, frame[column.name].to_numpy())
        except schema.BadCells as exc:
            fix = (f"fix those cells, or give the column's format: dates: {{{column.name}: '%d/%m/%Y'}}"
                   if column.kind == "date" and column.format is None else None)
            where = ("data", "dates", column.name) if column.name in config.dates else key(config, column.name, features)
            raise InvalidValue(where, cells.bad_cells(path, exc, frame.index, fix)) from None

    check_each(lambda column=column: one(column) for column in columns)
    return out


def fit(config: CSVData, path, columns: list[Column], clean: dict, train: np.ndarray) -> list[Column]:
    """Each column fitted on the training rows: mean and std (and a date's first day), or the categories."""
    fitted = []
    for column in columns:
        values = clean[column.name][train]
        if column.kind == "categorical":
            fitted.append(Column(**{**column.__dict__, "categories": tuple(sorted({v for v in values
                                                                                     if v is not None}))}))
        elif column.kind in ("numeric", "boolean", "date"):
            present = values[~np.isnan(values)]
            mean = float(present.mean()) if len(present) else 0.0
            std = float(present.std()) if len(present) else 1.0
            scale = config.standardize or column.kind == "date"  # days since 1970 are never fed raw
            fitted.append(Column(**{**column.__dict__, "mean": mean if scale else 0.0,
                                    "std": (std if std > 0 else 1.0) if scale else 1.0, "fill": mean,
                                    "origin": float(present.min()) if column.kind == "date" and len(present)
                                    else None}))
        else:
            fitted.append(column)
    widest = max(fitted, key=lambda c: len(c.categories))
    total = sum(len(c.inputs) for c in fitted if c.kind == "categorical")  # (numbers are one input each)
    if total > MAX_ONEHOT:
        raise InvalidValue(("data", "categorical"), f"{path}: one-hot encoding makes {total} input columns, "
                                                    f"{len(widest.categories)} of them from column {widest.name!r}; "
                                                    "is it an ID? leave it out of features")
    return fitted


def target(values) -> np.ndarray:
    """The target column read once, by training and evaluate alike: float64 numbers (NaN where empty) when its
    cells are numbers, else canonical class names (None where empty)."""
    if schema.detect(values) == "numeric":
        try:
            return schema.numbers("target", values, finite=False)
        except schema.BadCells:
            pass  # (a few text cells: read as names; a regression refuses them by their line)
    return schema.texts(values)


SHORT = {"numeric": "1 input, standardized", "boolean": "1 input: 1 true, 0 false, standardized",
         "text": "text: see above"}  # what the report's data table says a column became (narrow at 420 px)


def described(columns: list[Column]) -> list[dict]:
    """What the report's data table says of each column: its name, kind and what it became."""
    out = []
    for column in columns:
        became = SHORT.get(column.kind, "")
        if column.kind == "date":
            became = f"days since {schema.day_text(column.origin or 0.0)} (the first), day of the week, month"
        elif column.kind == "categorical":
            became = f"{len(column.categories)} inputs, one per category"
        out.append({"name": column.name, "kind": column.kind, "became": became})
    return out
