"""`dlpipe predict`: read INPUT by the run's kind of data, predict, write CSV / JSON / .npy.

Classifiers give the class name, its probability and the top K classes with theirs;
regressions the value in the target's own units. Columns of a CSV input that are not
features (an id, say) are passed through to the output.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dlpipe.archive.files import write_new
from dlpipe.archive.guard import writable
from dlpipe.data import schema
from dlpipe.engine.threshold import decide
from dlpipe.engine.threshold import of as threshold_of
from dlpipe.data.npy import read_header, refused_kind
from dlpipe.language.paths import not_a_file
from dlpipe.trained.errors import InputError
from dlpipe.trained.inputs import decode, image_files, model_inputs
from dlpipe.trained.model import TrainedModel
from dlpipe.trained.rows import Cleaned, cleaned, row_number, say_outside
from dlpipe.trained.tables import read_table

SHOWN_ROWS = 20
DEFAULT_TOP = 3  # classes listed per row unless --top says
CHUNK_BYTES = 128 * 2 ** 20  # of encoded inputs a table's prediction holds at once


Columns = dict  # name -> one value per row (a list or an array): the output, column by column, never row dicts


@dataclass
class Inputs:
    """What predict reads: the data for the model, the columns passed through to the output, and where row i is."""

    data: object
    passthrough: Columns
    where: Callable[[int], str] = row_number


def read_inputs(model: TrainedModel, inputs: list[str], numbers: tuple[float, ...], notes: list[str] | None = None,
                id_column: str | None = None) -> Inputs:
    """The INPUT arguments or --x numbers read; a table's rows keep their file and line (or --id's column) first in
    the output, then its columns that are not features; blank lines skipped are noted."""
    prep = model.preprocessing
    if numbers:
        if prep.sample_shape != (1,):
            raise InputError(f"--x gives one number per sample, for a model with one input; {_takes(prep)}")
        return Inputs(np.asarray(numbers, dtype=np.float32)[:, None], {"x": list(numbers)})
    if not inputs:
        raise InputError("no INPUT: give a CSV file (or - for standard input), .npy/.npz arrays, images, or --x")
    if prep.kind == "table":
        read = read_table(model, inputs)
        (notes if notes is not None else []).extend(read.notes)
        features = {c.name for c in prep.columns} | {prep.target}
        origin = read.origin(id_column)
        extra = {name: read.frame[name].to_numpy() for name in read.frame.columns
                 if name not in features and name not in origin}
        return Inputs(read.frame, {**origin, **extra}, read.where)
    if prep.kind == "series" and not any(i.endswith((".npy", ".npz")) for i in inputs):
        frame = read_table(model, inputs).frame
        labels = frame[prep.time].to_numpy() if prep.time in frame.columns else np.arange(1, len(frame) + 1)
        ends = labels[prep.window - 1:]  # each forecast comes after its window's last row
        return Inputs(frame, {"after": ends, "steps_ahead": np.full(len(ends), prep.horizon)})
    arrays = [i for i in inputs if i.endswith((".npy", ".npz"))]
    if arrays:
        data = np.concatenate([_array(model, Path(i)) for i in arrays])
        return Inputs(data, {"index": np.arange(len(data))})
    if prep.kind != "images":
        raise InputError(f"{inputs[0]}: not a .npy or .npz file; {_takes(prep)}")
    files = image_files(inputs)
    if not files:
        raise InputError(f"{' '.join(inputs)}: no image files there")
    return Inputs(decode(files), {"file": [str(f) for f in files]})


def _array(model: TrainedModel, path: Path) -> np.ndarray:
    """The inputs in a .npy, or in an .npz under the name training used for x; InputError naming what is wrong."""
    why = not_a_file(path)
    if why:
        raise InputError(f"{path}: {why}")
    key = getattr(model.pipeline.data, "x", "x") if model.pipeline.data.type == "arrays" else "x"
    try:
        if path.suffix == ".npy":
            with open(path, "rb") as handle:
                _, dtype = read_header(handle, path.stat().st_size)  # before numpy trusts it
            _kind(path, dtype)
            return np.load(path, allow_pickle=False)
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist()]
            if key not in names:
                raise InputError(f"{path} has no array {key!r} (the name training read x from); it holds: "
                                 f"{', '.join(names) or 'nothing'}")
            with archive.open(f"{key}.npy") as handle:
                _, dtype = read_header(handle, archive.getinfo(f"{key}.npy").file_size)
            _kind(path, dtype)
        with np.load(path, allow_pickle=False) as arrays:
            return arrays[key]
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: {exc}" if str(exc).startswith(("is truncated", "its header")) else
                         f"{path}: not a NumPy {path.suffix} file ({exc})") from None


def _kind(path: Path, dtype) -> None:
    if (why := refused_kind(dtype, "x")) is not None:
        raise InputError(f"{path}: {why}")


def _takes(prep) -> str:
    """What a model takes, in words: its columns by name, or the shape of one sample."""
    if prep.kind == "table":
        names = [c.name for c in prep.columns]
        return (f"this model takes rows of its {len(names)} column(s) {', '.join(names)}: give a CSV file (or - for "
                "standard input) whose header names them")
    if prep.kind == "series":
        return (f"this model forecasts from the last {prep.window} rows of {', '.join(c.name for c in prep.columns)}: "
                "give a CSV file (or - for standard input) of at least that many rows, oldest first")
    shape = ", ".join(map(str, prep.sample_shape))
    what = "images (files, globs or folders), or " if prep.kind == "images" else ""
    return f"this model takes {what}.npy or .npz arrays of shape (N, {shape})"


def predict_rows(model: TrainedModel, inputs: Inputs, top: int | None, batch_size: int,
                 notes: list[str]) -> tuple[Columns, np.ndarray]:
    """The output's columns (passed-through ones first), and the numbers as an array (.npy output).

    top: classes listed per row (None: 3, or fewer if the model knows fewer; more than it knows is noted).
    A table run that drops rows with empty cells (missing: drop) gives none for them; the note says which.
    """
    data, passthrough = inputs.data, inputs.passthrough
    if model.preprocessing.kind == "table":
        found = cleaned(model.preprocessing, data, notes, inputs.where)
        passthrough = {k: np.asarray(v)[found.kept] for k, v in passthrough.items()}
        out = _chunked(model, found, batch_size, notes)
    else:
        out = model.outputs(model_inputs(model.preprocessing, data, notes), batch_size)
    if model.task == "regression":
        values = model.preprocessing.targets_out(out.numpy())
        name = model.preprocessing.target or "prediction"
        named = {name: values[:, 0]} if values.shape[1] == 1 else {f"{name}_{j}": values[:, j]
                                                                    for j in range(values.shape[1])}
        return {**passthrough, **named}, values[:, 0] if values.shape[1] == 1 else values
    probabilities = out.softmax(dim=1).numpy()
    if top is not None and top > probabilities.shape[1]:
        notes.append(f"--top {top}: the model knows {probabilities.shape[1]} classes; all {probabilities.shape[1]} "
                     "are listed")
    order = np.argsort(-probabilities, axis=1)[:, :DEFAULT_TOP if top is None else top]
    threshold = threshold_of(model.preprocessing, tuple(model.classes))
    if threshold is not None:  # two classes: the decided one first, at the run's threshold
        decided = decide(out, threshold).numpy()
        order = np.stack([decided, 1 - decided], axis=1)[:, :order.shape[1]]
    classes = np.asarray(model.classes, dtype=object)
    columns = {**passthrough, "prediction": classes[order[:, 0]],
               "probability": np.round(np.take_along_axis(probabilities, order[:, :1], axis=1)[:, 0], 6)}
    for k in range(2, order.shape[1] + 1):
        columns[f"top{k}"] = classes[order[:, k - 1]]
        columns[f"top{k}_probability"] = np.round(np.take_along_axis(probabilities, order[:, k - 1:k], 1)[:, 0], 6)
    return columns, probabilities


def _chunked(model: TrainedModel, found: Cleaned, batch_size: int, notes: list[str]) -> torch.Tensor:
    """The model's outputs for the cleaned rows, encoded CHUNK_BYTES of inputs at a time: 200,000 short messages
    through a 20,000-word tf-idf are 16 GB of inputs at once, a few hundred MB this way."""
    prep = model.preprocessing
    size = max(1, CHUNK_BYTES // (4 * max(1, len(prep.input_names))))
    outs, outside = [], [0, 0]
    for start in range(0, len(found.kept), size):
        x, _ = prep.encode({name: values[start:start + size] for name, values in found.clean.items()}, outside)
        outs.append(model.outputs(torch.from_numpy(x), batch_size))
    say_outside(prep, outside, notes)
    return torch.cat(outs)


def write(columns: Columns, array: np.ndarray, output: Path | None, force: bool = False) -> str | None:
    """CSV to stdout (returned as text) or to `output`; .json and .npy by the file's extension.

    The file appears whole or not at all (written beside, then renamed); an existing one is replaced only with
    force, and nothing inside a run directory is written (OSError, InputError).
    """
    if output is not None and (why := writable(output, force)) is not None:
        raise InputError(why)
    if output is not None and output.suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        write_new(output, buffer.getvalue(), replace=force)
        return None
    if output is not None and output.suffix == ".json":
        rows = [dict(zip(columns, map(plain, values))) for values in zip(*columns.values())]
        write_new(output, json.dumps(rows, indent=1) + "\n", replace=force)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if schema.is_empty(v) else v for v in row] for row in zip(*columns.values()))
    if output is None:
        return buffer.getvalue()
    write_new(output, buffer.getvalue(), replace=force)
    return None


def count(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def table(columns: Columns) -> str:
    """The first rows as an aligned table for the terminal: input -> prediction."""
    keys = list(columns)
    cells = [[_cell(value) for value in values] for values in zip(*(list(v[:SHOWN_ROWS]) for v in columns.values()))]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    if count(columns) > SHOWN_ROWS:
        lines.append(f"... {count(columns) - SHOWN_ROWS} more row(s)")
    return "\n".join(lines)


def plain(value):
    """A cell as the Python value JSON takes: a numpy scalar as its value, an empty cell (None, NaN) as null."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if schema.is_empty(value) else value


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)
