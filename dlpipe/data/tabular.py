"""The CSV source: a table read and checked, its task decided, split, and its preprocessing fitted on training rows.

Numeric features are standardized with the training rows' mean and std; text features
are one-hot encoded with the categories the training rows hold (others become zeros,
counted). A regression target far from unit scale is standardized for training; the
Preprocessing record keeps everything needed to do the same to new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data import cells, table, targets, text
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.memory import check_fits
from dlpipe.data.preprocess import Column, Preprocessing
from dlpipe.language.errors import InvalidValue, check_each
from dlpipe.language.files import CSVData

MAX_ONEHOT = 10_000  # one-hot columns in all; beyond this a column is almost surely an ID, not a category
PEEK_ROWS = 1000  # rows `describe` reads to tell numeric columns from text ones


@dataclass(frozen=True)
class Layout:
    """Which columns a pipeline uses, checked against the file's header."""

    path: Path
    delimiter: str
    features: list[str]
    target: str
    split_column: str | None
    text: tuple[str, ...] = ()  # the features read as text

    @property
    def file(self) -> table.TableFile:
        return table.TableFile(self.path, self.delimiter)

    @property
    def columns(self) -> list[str]:
        return [*self.features, self.target, *([self.split_column] if self.split_column else [])]


def layout(config: CSVData) -> Layout:
    """The file's columns checked against target, features and split_column (reads the header only)."""
    path = Path(config.path)
    table.check_file(path)
    delimiter = table.sniff_delimiter(path, config.delimiter)
    names = table.header(path, delimiter)
    check_each([lambda: table.need_column(path, names, config.target, table.TARGET),  # every unknown column at once
                *(lambda i=i, name=name: table.need_column(path, names, name, table.FEATURES + (i,))
                  for i, name in enumerate(config.features or [])),
                *([lambda: table.need_column(path, names, config.split_column, ("data", "split_column"))]
                  if config.split_column else []),
                *(lambda i=i, name=name: table.need_column(path, names, name, ("data", "text", "columns", i))
                  for i, name in enumerate(config.text.columns if config.text else []))])
    text = tuple(config.text.columns) if config.text else ()
    features = config.features or [n for n in names if n not in (config.target, config.split_column)]
    features = [*features, *(name for name in text if name not in features)]
    if not features:
        raise InvalidValue(table.PATH, f"{path}: holds only the target column {config.target!r}; no features")
    if config.text and config.text.as_ == "sequence" and len(features) > len(text):
        others = [name for name in features if name not in text]
        raise InvalidValue(("data", "text", "as"), f"as: sequence gives the network token ids alone, but {path} "
                           f"has other features ({', '.join(map(repr, others[:10]))}); list only the text columns "
                           "under features:, or use as: bag or as: tfidf, which sit beside other columns")
    return Layout(path, delimiter, features, config.target, config.split_column, text)


def decide_task(config: CSVData) -> tuple[str, str]:
    """(task, reason) from the target column (the only one read)."""
    found = layout(config)
    values = table.read(config, [found.target], found.delimiter)[found.target]
    return targets.decide(values.to_numpy(), repr(found.target))


def describe(config: CSVData, seed: int = 0) -> DataInfo:
    """Task and input count from the header and the first rows; with text features, the training rows' categories."""
    found = layout(config)
    peek = table.read(config, found.columns, found.delimiter, nrows=PEEK_ROWS)
    _without_missing(config, found, peek)  # missing: error names the first empty cells
    categorical = _categorical(config, found, peek)
    if categorical or found.text:  # the categories, or the vocabulary, come from the training rows
        data = load(config, seed, Progress(quiet=True))
        _LOADED.clear()
        _LOADED[_cache_key(config, seed)] = data  # for the load() of the run that follows these checks
        return data.info
    check_each(lambda i=i, name=name: cells.numeric(found.file, peek, name, _key(config, i))  # in the first rows
               for i, name in enumerate(found.features))
    column = table.read(config, [found.target], found.delimiter)[found.target].dropna()
    target, line = column.to_numpy(), _lines(found.file, column)
    task = config.task_name if config.task_name != "auto" else targets.decide(target, repr(found.target))[0]
    if task == "classification":
        return DataInfo(task, (len(found.features),), len(targets.class_labels(
            target, repr(found.target), str(found.path), line, table.TARGET)[1]))
    targets.regression_values(target, repr(found.target), str(found.path), line, table.TARGET)
    return DataInfo(task, (len(found.features),), 1)


_LOADED: dict = {}  # the one data set describe() had to load, until the run's load() takes it


def _cache_key(config: CSVData, seed: int) -> tuple:
    """The pipeline's data section, the seed, and the file as it is now (its size and modification time)."""
    stat = Path(config.path).stat()
    return config.model_dump_json(), seed, stat.st_size, stat.st_mtime_ns


def load(config: CSVData, seed: int, progress: Progress) -> Dataset:
    """Read and check every cell, split, fit the preprocessing on the training rows, and apply it to all.

    A table with categories or text was already loaded by describe() for the pipeline's checks: that load is
    taken (once) when nothing about the data section, the seed or the file has changed since.
    """
    ready = _LOADED.pop(_cache_key(config, seed), None)
    if ready is not None:
        return ready
    found = layout(config)
    frame, notes = _without_missing(config, found, table.read(config, found.columns, found.delimiter))
    trailing = len(table.header_row(found.path, found.delimiter)) - len(table.header(found.path, found.delimiter))
    if trailing:
        notes.insert(0, f"the header ends with {trailing} empty column name(s) (a trailing delimiter, as spreadsheets "
                        "write); those columns are empty and were ignored")
    where = str(found.path)
    task = config.task_name if config.task_name != "auto" else targets.decide(frame[found.target].to_numpy(),
                                                                              repr(found.target))[0]
    split_values = frame[found.split_column].to_numpy() if found.split_column else None
    parts = targets.split_rows(len(frame), config.split, np.random.default_rng(seed), where, split_values,
                               found.split_column or "")
    columns = _fit_columns(config, found, frame, parts[0])
    encoder, tokens, text_facts = _fit_text(config, found, frame, parts)
    raw_y = frame[found.target].to_numpy()
    line = _lines(found.file, frame)
    if task == "classification":
        labels, classes = targets.class_labels(raw_y, repr(found.target), where, line, table.TARGET)
        notes += targets.class_support([labels[idx] for idx in parts], classes, where, table.TARGET)
        y, scale = torch.from_numpy(labels), (0.0, 1.0)
    else:
        values, classes = targets.regression_values(raw_y, repr(found.target), where, line, table.TARGET), ()
        scale = targets.target_scale(values[parts[0]], config.scale_target)
        y = torch.from_numpy(((values - scale[0]) / scale[1]).astype(np.float32)[:, None])
    shape = (encoder.length,) if encoder and encoder.mode == "sequence" else \
        (sum(len(c.inputs) for c in columns) + len(encoder.input_names if encoder else []),)
    prep = Preprocessing("table", task, shape, classes, found.target, scale, columns, missing=config.missing,
                         text=encoder)
    if encoder and encoder.mode != "sequence":
        check_fits(len(frame) * shape[0] * 4 * 2, f"the {len(frame):,} rows as {shape[0]:,} inputs each (text "
                                                  f"as: {encoder.mode})", ("data", "text", "vocabulary"))
    x, unseen = prep.table_inputs({c.name: frame[c.name].to_numpy() for c in columns}, tokens)
    if unseen:
        notes.append(f"{unseen} row(s) hold a category the training rows do not: encoded as all zeros")
    x_t = torch.from_numpy(x)
    splits = [Samples(x_t[torch.from_numpy(idx)], y[torch.from_numpy(idx)]) for idx in parts]
    info = DataInfo(task, prep.sample_shape, len(classes) if classes else 1,
                    vocabulary=encoder.ids if prep.sequence else None)
    prep = Preprocessing(**{**prep.__dict__, "notes": tuple(notes)})
    return Dataset(info, *splits, classes=classes, files=(found.path,), preprocessing=prep, text=text_facts,
                   test_text=_test_text(found, frame, parts[2]))


def _key(config: CSVData, index: int) -> tuple:
    """The pipeline key of feature `index`: its line in features:, or the path when every column is a feature."""
    return table.FEATURES + (index,) if config.features else table.PATH


def _lines(file: table.TableFile, frame):
    """Where row i of a (possibly filtered) frame is in the file: 'line N'."""
    return lambda i: f"line {file.line(int(frame.index[i]))}"


def _categorical(config: CSVData, found: Layout, frame) -> list[str]:
    """The features to one-hot encode: those listed, or (auto) those holding mostly text."""
    if config.categorical != "auto":
        for index, name in enumerate(config.categorical):
            if name not in found.features:
                raise InvalidValue(("data", "categorical", index), f"{name!r} is not a feature of {found.path} "
                                                                   f"(features: {', '.join(found.features[:20])})")
        return list(config.categorical)
    chosen = [name for name in found.features if name not in found.text and cells.is_text(frame, name)]
    for name in chosen:
        why = cells.free_text(frame, name)
        if why:
            key = table.FEATURES + (found.features.index(name),) if config.features else table.PATH
            raise InvalidValue(key, f"{found.path}: column {name!r} looks like free text ({why}); one-hot encoding "
                                    f"would make a category of each; read it as words with text: {{columns: [{name}]}}"
                                    ", or leave it out of features (or list it under categorical: if it is one)")
    return chosen


def _without_missing(config: CSVData, found: Layout, frame) -> tuple[object, list[str]]:
    """The frame after missing: error (refuse), drop (rows with an empty cell) or mean (rows without a target)."""
    notes = []
    message = cells.missing_cells(found.file, frame.drop(columns=list(found.text)))  # empty text is text
    if message is None:
        return frame, notes  # read for this load alone: _fit_columns may write its numeric columns back
    if config.missing == "error":
        raise InvalidValue(("data", "missing"), f"{message}; fill them in, or set missing: drop (leave those rows "
                                                "out) or missing: mean (fill with the training mean)")
    needed = [c for c in frame.columns if c not in found.text] if config.missing == "drop" else \
        [found.target] + ([found.split_column] if found.split_column else [])
    keep = frame[needed].notna().all(axis=1)
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} of {len(frame)} rows left out for empty cells (missing: {config.missing})")
    if config.missing == "mean":
        notes.append("empty feature cells filled with the training mean (a category: all zeros)")
    return frame[keep].copy(), notes


def _fit_columns(config: CSVData, found: Layout, frame, train_rows: np.ndarray) -> list[Column]:
    """Each feature's kind and what was fitted on the training rows: mean and std, or the categories."""
    categorical = set(_categorical(config, found, frame))
    numeric = [(i, name) for i, name in enumerate(found.features) if name not in categorical and name not in found.text]
    check_each(lambda i=i, name=name: cells.numeric(found.file, frame, name, _key(config, i))  # all problems at once
               for i, name in numeric)
    columns = []
    for index, name in enumerate(found.features):
        train = frame[name].iloc[train_rows]
        if name in found.text:
            columns.append(Column(name, "text"))
            continue
        if name in categorical:
            categories = tuple(sorted(set(train.dropna().astype(str))))
            columns.append(Column(name, "categorical", categories=categories))
            continue
        values = cells.numeric(found.file, frame, name, _key(config, index))
        frame[name] = values
        train_values = values.iloc[train_rows].to_numpy()
        mean, std = float(np.nanmean(train_values)), float(np.nanstd(train_values))
        columns.append(Column(name, "numeric", mean, std if std > 0 else 1.0, mean) if config.standardize
                       else Column(name, "numeric", 0.0, 1.0, mean))
    widest = max(columns, key=lambda c: len(c.categories))  # (text inputs: bounded by text.vocabulary)
    total = sum(len(c.inputs) for c in columns)
    if total > MAX_ONEHOT:
        raise InvalidValue(("data", "categorical"), f"{found.path}: one-hot encoding makes {total} input columns, "
                                                    f"{len(widest.categories)} of them from column {widest.name!r}; "
                                                    "is it an ID? leave it out of features")
    return columns


def _fit_text(config: CSVData, found: Layout, frame, parts):
    """The tokenizer and vocabulary fitted on the training rows, every row's tokens (tokenized once), and what the
    report says of the text; (None, None, None) without text columns."""
    if not found.text:
        return None, None, None
    settings = config.text
    draft = text.TextEncoder(found.text, settings.as_, settings.tokens, settings.lowercase, settings.length)
    tokens = draft.rows({name: frame[name].to_numpy() for name in found.text})
    train, test = ([tokens[i] for i in rows] for rows in (parts[0], parts[2]))
    try:
        encoder = text.fit(draft, train, settings.vocabulary, settings.min_count)
    except ValueError as exc:
        raise InvalidValue(("data", "text", "min_count"), f"{found.path}: {exc}") from None
    return encoder, tokens, text.statistics(encoder, train, test)


def _test_text(found: Layout, frame, test_rows) -> dict | None:
    """The test rows' text cells by column (None without text columns)."""
    if not found.text:
        return None
    return {name: tuple(text.cell_text(v) for v in frame[name].to_numpy()[test_rows]) for name in found.text}
