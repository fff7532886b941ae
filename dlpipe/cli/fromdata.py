"""`dlpipe init --from TABLE --target COLUMN`: a commented pipeline written from the user's own table.

The table is read as a run would read it (every check and message the same; a table of more than
SAMPLE rows through a sample of its first SAMPLE rows, its rows only counted), the task decided
with its reason, each column's kind found (numeric, categorical, or text: a column of long,
mostly distinct values is read as words), and a model sized to the data: a hidden layer of
16-128 units by the inputs and rows, dropout, Adam with a little weight decay, early stopping,
and as many epochs as make about 3,000 steps. The comments say what each part is and what to
change first.
"""

from __future__ import annotations

import math
import re
import tempfile
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from dlpipe.data import table as tables
from dlpipe.data.sources import decide_task, load_data
from dlpipe.data.targets import imbalance
from dlpipe.language.errors import InvalidValue
from dlpipe.language.files import CSVData

FREE_TEXT = re.compile(r"column '([^']+)' looks like free text")
NAMES = re.compile(r"column '([^']+)' looks like names or identifiers \(([\d,]+) different values in ([\d,]+) rows\)")
STEPS = 3000  # training steps the written pipeline aims at
METRICS = {"regression": "[r2, mae, rmse]", "classification": "[accuracy, f1]"}
SAMPLE = 100_000  # rows read to find the columns' kinds and the task (1,000,000 rows: 3.9 s read whole)


@contextmanager
def _sampled(path: Path):
    """(a file to read, its rows): the table itself (rows None: the data says), or, when it has more than SAMPLE
    rows, its first SAMPLE rows as a temporary CSV and the rows counted."""
    rows = tables.count_rows(path)
    if rows <= SAMPLE:
        yield path, None
        return
    delimiter = tables.sniff_delimiter(path, None)
    names = tables.header(path, delimiter)
    config = CSVData(type="table", path=str(path), target=names[0])  # (read() takes the path and text settings)
    frame = tables.read(config, names, delimiter, nrows=SAMPLE)
    with tempfile.TemporaryDirectory(prefix="dlpipe-init-") as folder:
        try:  # Parquet keeps each column's type and writes in 0.05 s (to_csv took 1.8 s for 100,000 x 20)
            sample = Path(folder) / f"{path.name.split('.')[0]}.parquet"
            frame.to_parquet(sample, index=False)
        except ImportError:  # (no pyarrow: the tables extra was installed by hand without it)
            sample = sample.with_suffix(".csv")
            frame.to_csv(sample, index=False)
        try:
            yield sample, rows
        except InvalidValue as exc:  # said of the user's file: the sample is gone once this returns
            raise InvalidValue(exc.path, str(exc).replace(str(sample), f"{path} (its first {SAMPLE:,} rows)"),
                               exc.also) from None


def _read(path: Path, target: str):
    """(config, dataset, task reason, columns left out) with each column a run would refuse to one-hot encode read
    another way: free text as words; names (short, mostly distinct) as characters; identifiers (every value
    distinct) and row numbers (a numeric column counting the rows) left out."""
    raw, left_out = {"type": "table", "path": str(path), "target": target}, {}
    for _ in range(40):
        config = CSVData.model_validate(raw)
        try:
            task, reason = decide_task(config)
            config = config.model_copy(update={"task": task})
            data = load_data(config, 42)
        except InvalidValue as exc:
            raw = _read_differently(path, raw, str(exc), left_out)
            continue
        counted = _row_numbers(path, config, data)
        if not counted:
            return config, data, reason, left_out
        for name, (low, high) in counted.items():
            left_out[name] = f"left out: row numbers ({low:,} to {high:,}, each once): where a row sits in the " \
                             "file, not what it is (a file sorted by its target would leak it)"
        names = [c.name for c in data.preprocessing.columns if c.name not in counted]
        raw = {**raw, "features": names}
    raise InvalidValue(("data", "text"), f"{path}: more than 40 columns of free text, names or identifiers")


def _row_numbers(path: Path, config: CSVData, data) -> dict[str, tuple[int, int]]:
    """The numeric input columns that count the rows (0 or 1 up, each integer once, in file order): an index."""
    numeric = [c.name for c in data.preprocessing.columns if c.kind == "numeric"]
    if not numeric:
        return {}
    import numpy as np
    import pandas as pd

    frame = tables.read(config, numeric, tables.sniff_delimiter(path, config.delimiter))
    found = {}
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        low = values[0] if len(values) else np.nan
        if len(values) > 2 and low in (0.0, 1.0) and np.array_equal(values, np.arange(low, low + len(values))):
            found[name] = (int(low), int(values[-1]))
    return found


def _read_differently(path: Path, raw: dict, message: str, left_out: dict) -> dict:
    """The data section with the column a run refused (message) read as words or characters, or left out."""
    free, named = FREE_TEXT.search(message), NAMES.search(message)
    if free is None and named is None:
        raise InvalidValue(("data", "path"), message)
    text = dict(raw.get("text") or {"as": "tfidf", "vocabulary": 5000, "min_count": 2})
    if named is not None:
        name, distinct, rows = named.group(1), *(int(g.replace(",", "")) for g in named.groups()[1:])
        if distinct == rows:  # every value differs: nothing learned from it carries over to a new row
            left_out[name] = f"left out: an identifier ({distinct:,} values, every one different)"
            names = tables.header(path, tables.sniff_delimiter(path, None))
            return {**raw, "features": [n for n in raw.get("features") or names if n not in (raw["target"], name)]}
        if not text.get("columns") or text.get("tokens") == "chars":  # (several text columns share one setting)
            text.update(tokens="chars", ngrams=[1, 3])
        free_name = name
    else:
        free_name = free.group(1)
    return {**raw, "text": {**text, "columns": [*text.get("columns", []), free_name]}}


def _sizes(inputs: int, rows: int) -> tuple[int, int, int, tuple[float, float, float]]:
    """(hidden units, batch size, epochs, split) for a table of `rows` rows and `inputs` model inputs (the
    patience follows from the epochs: `patience`)."""
    units = 16 if inputs <= 16 else 32 if inputs <= 100 else 64
    units *= 2 if rows >= 20_000 else 1
    batch = 16 if rows < 500 else 32 if rows < 5000 else 128
    split = (0.6, 0.2, 0.2) if rows < 1000 else (0.7, 0.15, 0.15)
    steps_per_epoch = max(1, math.ceil(rows * split[0] / batch))
    return units, batch, min(150, max(20, math.ceil(STEPS / steps_per_epoch))), split


def patience(epochs: int) -> int:
    """Early stopping's patience for `epochs`: a quarter of them (3 to 20), so it can fire before the end."""
    return max(3, min(20, epochs // 4))


def pipeline_text(path: Path, target: str, written_to: Path) -> str:
    """The commented YAML of a pipeline for the table at `path` predicting `target`."""
    with _sampled(path) as (readable, rows):
        config, data, reason, left_out = _read(readable, target)
    prep = data.preprocessing
    rows = rows or len(data.train) + len(data.validation) + len(data.test)
    units, batch, epochs, split = _sizes(data.sample_shape[0], rows)
    chars = bool(config.text and config.text.tokens == "chars")
    kinds = [f"  #   {column.name:<24} {_kind(column, chars)}" for column in prep.columns]
    kinds += [f"  #   {name:<24} {why}" for name, why in left_out.items()]
    where = _relative(path, written_to)
    out = data.target_size if data.task == "classification" else 1
    classes = f" ({', '.join(data.classes[:10])}{', ...' if len(data.classes) > 10 else ''})" if data.classes else ""
    text = [f"# Written by `dlpipe init --from {path} --target {target}` on {date.today().isoformat()}: {rows:,} rows, "
            f"{len(prep.columns)} input column(s).",
            f"# Task: {reason}.",
            "# Check it with `dlpipe validate FILE`, run it with `dlpipe run FILE`; the report's verdict and baselines",
            "# say whether the network is worth it. Change first: the hidden units and the epochs.",
            f"name: {Path(path).name.split('.')[0]}",
            f"description: Predict {target} from {len(prep.columns)} column(s) of {Path(path).name}",
            "seed: 42", "", "data:", "  type: table",
            f"  path: {where}" + ("" if where.is_absolute() else "                # relative to this file"),
            f"  target: {target}                # {data.task}{classes}",
            "  # the columns, as dlpipe reads them" + (":" if left_out else " (every other column of the table is "
                                                                    "an input):"), *kinds,
            *([f"  features: [{', '.join(c.name for c in prep.columns)}]"] if left_out else []),
            f"  split: {{train: {split[0]}, validation: {split[1]}, test: {split[2]}}}"]
    if config.text:
        tokens = ", tokens: chars, ngrams: [1, 3]" if chars else ""
        text.append(f"  text: {{columns: [{', '.join(config.text.columns)}], as: tfidf, vocabulary: 5000, "
                    f"min_count: 2{tokens}}}")
    text += ["", "model:", "  layers:",
             f"    - {{type: linear, units: {units}, activation: relu}}   # {data.sample_shape[0]} inputs in",
             "    - {type: dropout, rate: 0.1}",
             f"    - {{type: linear, units: {out}}}" + ("   # one score per class" if out > 1 else "   # the value"), "",
             f"loss: {{type: {'cross_entropy' if data.task == 'classification' else 'mse'}}}",
             "optimizer: {type: adam, lr: 3.0e-3, weight_decay: 1.0e-3}",
             "training:", f"  epochs: {epochs}                    # about {STEPS:,} steps of {batch} rows",
             f"  batch_size: {batch}",
             f"  early_stopping: {{monitor: val_loss, patience: {patience(epochs)}}}   # the best epoch's weights",
             f"metrics: {_metrics(data)}", ""]
    return "\n".join(text)


def _metrics(data) -> str:
    """The metrics line: a classifier of imbalanced classes is judged by metrics the majority class cannot win."""
    if data.task != "classification" or imbalance(data.train.y.numpy(), tuple(data.classes)) is None:
        return METRICS[data.task]
    return "[balanced_accuracy, auc, pr_auc, accuracy, f1]   # imbalanced classes: accuracy says little" \
        if len(data.classes) == 2 else "[f1, balanced_accuracy, accuracy]   # imbalanced classes: macro F1 first"


def _kind(column, chars: bool) -> str:
    """What init's comment says a column became."""
    if column.kind == "text":
        return ("text: read as characters, 1 to 3 in a row (tf-idf over 5,000 of them): names and codes" if chars
                else "text: read as words (tf-idf over a 5,000-word vocabulary)")
    if column.kind == "categorical":
        return f"categorical: one-hot, {len(column.categories)} values"
    return {"numeric": "numeric: standardized by the training rows' mean and std",
            "boolean": "boolean: 1 for true, 0 for false",
            "date": "date: days since the first (standardized), day of the week, month"}[column.kind]


def folder_text(root: Path, written_to: Path) -> str:
    """The commented YAML of a pipeline for an image folder (one sub-folder per class): a small convolutional
    network for its image size (resized to at most 64 x 64 pixels, so a first run stays quick)."""
    from dlpipe.data.sources import describe
    from dlpipe.language.files import ImageFolderData

    info = describe(ImageFolderData.model_validate({"type": "image_folder", "root": str(root)}))
    channels, height, width = info.sample_shape
    scale = min(1.0, 64 / max(height, width))
    size = (max(8, round(height * scale)), max(8, round(width * scale)))
    where = _relative(root, written_to)
    shown = ", ".join(info.classes[:10]) + (", ..." if len(info.classes) > 10 else "")
    side = size[0] // 4 * (size[1] // 4)
    return "\n".join([
        f"# Written by `dlpipe init --from {root}` on {date.today().isoformat()}: {len(info.classes)} classes "
        f"({shown}), images {channels}x{height}x{width}.",
        "# Check it with `dlpipe validate FILE`, run it with `dlpipe run FILE`; the report's verdict, baselines and",
        "# misclassified images (with where the network looked) say what to change: first the epochs and filters.",
        f"name: {Path(root).resolve().name}", f"description: Tell {len(info.classes)} classes of images apart",
        "seed: 42", "", "data:", "  type: image_folder",
        f"  root: {where}" + ("" if where.is_absolute() else "                # relative to this file"),
        f"  size: [{size[0]}, {size[1]}]" + ("                # resized from "
                                             f"{height}x{width}: quicker; raise it for detail" if scale < 1 else ""),
        "  validation: 0.15                # of the training images", "",
        "model:", "  layers:",
        f"    - {{type: conv2d, filters: 16, kernel_size: 3, padding: same, activation: relu}}   # ({channels}, "
        f"{size[0]}, {size[1]}) in",
        "    - {type: maxpool2d, kernel_size: 2}",
        "    - {type: conv2d, filters: 32, kernel_size: 3, padding: same, activation: relu}",
        "    - {type: maxpool2d, kernel_size: 2}",
        f"    - {{type: flatten}}                # 32 x {size[0] // 4} x {size[1] // 4} = {32 * side:,} values",
        "    - {type: linear, units: 64, activation: relu}", "    - {type: dropout, rate: 0.2}",
        f"    - {{type: linear, units: {len(info.classes)}}}   # one score per class", "",
        "loss: {type: cross_entropy}", "optimizer: {type: adam, lr: 1.0e-3}",
        "training:", "  epochs: 10", "  batch_size: 32",
        f"  early_stopping: {{monitor: val_loss, patience: {patience(10)}}}   # the best epoch's weights",
        "metrics: [accuracy, f1]", ""])


def _relative(path: Path, written_to: Path) -> Path:
    """`path` relative to the new file's folder where it lies below it, else absolute."""
    full, base = Path(path).resolve(), written_to.resolve().parent
    return full.relative_to(base) if full.is_relative_to(base) else full
