"""The table source: a table read, its schema fitted on the training rows, its task decided, split and encoded.

Each feature's kind and what it becomes are columns.py's and schema.py's (the same code
predict and evaluate apply to new rows); the missing: policy is missing.py's. A regression
target far from unit scale is standardized for training; the Preprocessing record keeps
everything needed to do the same to new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlpipe.archive.log import Progress
from dlpipe.data import columns, missing, schema, table, targets, text
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.memory import check_matrix
from dlpipe.data.preprocess import Preprocessing
from dlpipe.language.errors import InvalidValue, check_each
from dlpipe.language.files import CSVData

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


MAX_COLUMNS = 20_000  # feature columns of a table: 100,000 numeric ones took minutes in the per-column checks


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
    if len(features) > MAX_COLUMNS:  # each column is read, checked and fitted on its own: bounded time
        key = table.FEATURES if config.features else table.PATH
        raise InvalidValue(key, f"{path}: {len(features):,} feature columns; dlpipe reads tables of up to "
                                f"{MAX_COLUMNS:,} (each is checked and fitted on its own): list the ones to use "
                                "under features:, or store so many numbers as arrays (type: arrays, an .npy file)")
    if config.text and config.text.as_ == "sequence" and len(features) > len(text):
        others = [name for name in features if name not in text]
        raise InvalidValue(("data", "text", "as"), f"as: sequence gives the network token ids alone, but {path} "
                           f"has other features ({', '.join(map(repr, others[:10]))}); list only the text columns "
                           "under features:, or use as: bag or as: tfidf, which sit beside other columns")
    return Layout(path, delimiter, features, config.target, config.split_column, text)


def decide_task(config: CSVData) -> tuple[str, str]:
    """(task, reason) from the target column (the only one read)."""
    found = layout(config)
    return targets.decide(_present_target(config, found)[0], repr(found.target))


def _present_target(config: CSVData, found: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(the target's present values as columns.target reads them, their rows)."""
    y = columns.target(table.read(config, [config.target], found.delimiter)[config.target].to_numpy())
    present = np.flatnonzero(~schema.empty("categorical" if y.dtype == object else "numeric", y))
    return y[present], present


def describe(config: CSVData, seed: int = 0) -> DataInfo:
    """Task and input count from the header and the first rows; with categories or text, from the training rows."""
    found = layout(config)
    y, present = _present_target(config, found)  # (the whole table, parsed once for the run that follows)
    peek = table.read(config, found.columns, found.delimiter, nrows=PEEK_ROWS)
    kinds = columns.kinds(config, found.path, found.features, found.text, peek)
    drafts = columns.drafts(config, kinds)
    if any(kind in ("categorical", "text") for kind in kinds.values()):  # their inputs come from the training rows
        data = load(config, seed, Progress(quiet=True))
        _LOADED.clear()
        _LOADED[_cache_key(config, seed)] = data  # for the load() of the run that follows these checks
        return data.info
    clean = columns.clean(config, found.file, found.features, drafts, peek)  # the first rows' cells, at their lines
    _policy(config, found, peek, drafts, clean, [])  # missing: error names the first empty cells
    line = lambda i: f"line {found.file.line(int(present[i]))}"  # noqa: E731
    task = config.task_name if config.task_name != "auto" else targets.decide(y, repr(found.target))[0]
    inputs = (sum(len(column.inputs) for column in drafts),)
    if task == "classification":
        names = targets.class_labels(y, repr(found.target), str(found.path), line, table.TARGET)[1]
        return DataInfo(task, inputs, len(names), classes=names)
    targets.regression_values(y, repr(found.target), str(found.path), line, table.TARGET)
    return DataInfo(task, inputs, 1)


_LOADED: dict = {}  # the one data set describe() had to load, until the run's load() takes it


def _cache_key(config: CSVData, seed: int) -> tuple:
    """The pipeline's data section, the seed, and the file as it is now (its size and modification time)."""
    stat = Path(config.path).stat()
    return config.model_dump_json(), seed, stat.st_size, stat.st_mtime_ns


def load(config: CSVData, seed: int, progress: Progress) -> Dataset:
    """Read every cell through the schema, apply missing:, split, fit the columns on the training rows, encode all.

    A table with categories or text was already loaded by describe() for the pipeline's checks: that load is
    taken (once) when nothing about the data section, the seed or the file has changed since.
    """
    ready = _LOADED.pop(_cache_key(config, seed), None)
    if ready is not None:
        return ready
    found = layout(config)
    frame, notes = table.read(config, found.columns, found.delimiter, last=True), []
    trailing = len(table.header_row(found.path, found.delimiter)) - len(table.header(found.path, found.delimiter))
    if trailing:
        notes.append(f"the header ends with {trailing} empty column name(s) (a trailing delimiter, as spreadsheets "
                     "write); those columns are empty and were ignored")
    drafts = columns.drafts(config, columns.kinds(config, found.path, found.features, found.text, frame))
    clean = columns.clean(config, found.file, found.features, drafts, frame)
    kept = _policy(config, found, frame, drafts, clean, notes)
    if len(kept) < len(frame):  # (every row kept: no copy of a large table)
        clean, frame = {name: values[kept] for name, values in clean.items()}, frame.iloc[kept]
    where, raw_y = str(found.path), _target(config, found, frame)
    task = config.task_name if config.task_name != "auto" else targets.decide(raw_y, repr(found.target))[0]
    split_values = frame[found.split_column].to_numpy() if found.split_column else None
    parts = targets.split_rows(len(frame), config.split, np.random.default_rng(seed), where, split_values,
                               found.split_column or "", raw_y if task == "classification" else None)
    fitted = columns.fit(config, found.path, drafts, clean, parts[0])
    encoder, text_facts = _fit_text(config, found, clean, parts)
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
        (sum(len(c.inputs) for c in fitted) + len(encoder.input_names if encoder else []),)
    prep = Preprocessing("table", task, shape, classes, found.target, scale, tuple(fitted), missing=config.missing,
                         text=encoder)
    check_matrix(len(frame), shape[0], encoder)  # before it is made: one-hot, bag, tf-idf or token ids
    notes += text.padding_note(encoder, text_facts)
    x, _ = prep.encode(clean)
    unseen = _unseen(fitted, clean, parts)
    notes += _unseen_notes(unseen)
    x_t = torch.from_numpy(x)
    splits = [Samples(x_t[torch.from_numpy(idx)], y[torch.from_numpy(idx)]) for idx in parts]
    info = DataInfo(task, prep.sample_shape, len(classes) if classes else 1,
                    vocabulary=encoder.ids if prep.sequence else None, classes=tuple(classes))
    prep = Preprocessing(**{**prep.__dict__, "notes": tuple(notes)})
    return Dataset(info, *splits, classes=classes, files=(found.path,), preprocessing=prep, text=text_facts,
                   test_text=_test_text(found, clean, parts[2]), columns=columns.described(fitted), unseen=unseen)


def _lines(file: table.TableFile, frame):
    """Where row i of a (possibly filtered) frame is in the file: 'line N'."""
    return lambda i: f"line {file.line(int(frame.index[i]))}"


def _target(config: CSVData, found: Layout, frame) -> np.ndarray:
    """The target column as columns.target reads it (numbers, or class names)."""
    return columns.target(frame[found.target].to_numpy())


def _policy(config: CSVData, found: Layout, frame, drafts, clean: dict, notes: list[str]) -> np.ndarray:
    """The rows kept under missing: (error: refuse; drop: rows with an empty cell; mean: rows without a target)."""
    y = columns.target(frame[found.target].to_numpy())
    required = [schema.empty("categorical" if y.dtype == object else "numeric", y)]
    if found.split_column:
        required.append(np.array([schema.is_empty(v) for v in frame[found.split_column].to_numpy()], dtype=bool))
    empty = np.stack([schema.empty(c.kind, clean[c.name]) for c in drafts] + required, axis=1)
    names = [c.name for c in drafts] + [found.target] + ([found.split_column] if found.split_column else [])
    try:
        return missing.keep(config.missing, names, empty, lambda i: found.file.at(int(frame.index[i])), notes,
                            required=len(required))
    except missing.MissingCells as exc:
        raise InvalidValue(("data", "missing"), f"{found.path}: {exc}; fill them in, or set missing: drop (leave "
                                                "those rows out) or missing: mean (fill with the training mean)")


def _unseen(fitted, clean: dict, parts) -> dict[str, list[float]]:
    """For each categorical column, the share of validation and test rows holding a value training never saw."""
    shares = {}
    for column in fitted:
        if column.kind == "categorical":
            known = set(column.categories)
            shares[column.name] = [float(np.mean([v is not None and v not in known for v in clean[column.name][rows]]))
                                   if len(rows) else 0.0 for rows in parts[1:]]
    return {name: share for name, share in shares.items() if max(share) > 0}


def _unseen_notes(unseen: dict[str, list[float]]) -> list[str]:
    return [f"column {name!r}: {validation:.0%} of validation rows and {test:.0%} of test rows hold a category the "
            "training rows do not (encoded as all zeros)" for name, (validation, test) in unseen.items()]


def _fit_text(config: CSVData, found: Layout, clean: dict, parts):
    """The tokenizer and vocabulary fitted on the training rows (tokenized a chunk at a time) and what the report
    says of the text; (None, None) without text columns."""
    if not found.text:
        return None, None
    settings = config.text
    draft = text.TextEncoder(found.text, settings.as_, settings.tokens, settings.lowercase, settings.length,
                             ngrams=tuple(settings.ngrams))
    cells, lengths = {name: clean[name] for name in found.text}, []
    try:
        encoder = text.fit(draft, draft.iter_rows(cells, parts[0]), settings.vocabulary, settings.min_count, lengths)
    except ValueError as exc:
        raise InvalidValue(("data", "text", "min_count"), f"{found.path}: {exc}") from None
    return encoder, text.statistics(encoder, lengths, draft.iter_rows(cells, parts[2]))


def _test_text(found: Layout, clean: dict, test_rows) -> dict | None:
    """The test rows' text cells by column (None without text columns)."""
    if not found.text:
        return None
    return {name: tuple(str(v) for v in clean[name][test_rows]) for name in found.text}
