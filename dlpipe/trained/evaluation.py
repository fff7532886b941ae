"""`dlpipe evaluate`: a trained model on its own test split, another file of the same kind, or another data set.

The run's stored preprocessing is applied (never refitted); the metrics and a small
report (metrics, confusion matrix or predicted-vs-true) go into RUN/evaluations/<stamp>/,
and nothing else in the run directory changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dlpipe.archive.files import create_run_dir, write_atomic, write_json
from dlpipe.data import columns, schema
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.sources import load_data
from dlpipe.engine.evaluate import scores
from dlpipe.engine.optim import build_loss
from dlpipe.engine.threshold import of as threshold_of
from dlpipe.language.pipeline import pipeline_model, source_class
from dlpipe.report import classes as class_figures
from dlpipe.report import fits
from dlpipe.report.insights import class_report, predicted_vs_true
from dlpipe.report.pages import render_page
from dlpipe.trained.inputs import decode, image_files, model_inputs
from dlpipe.trained.errors import InputError
from dlpipe.trained.rows import table_rows
from dlpipe.trained.series import series_samples
from dlpipe.trained import explain
from dlpipe.trained.model import TrainedModel


SHOWN_CHARS = 160  # of a message, in the worst mistakes


@dataclasses.dataclass
class Evaluation:
    """What `dlpipe evaluate` measured, what it makes of it (`said`), and where it wrote it."""

    metrics: dict[str, float]
    path: Path
    source: str
    warnings: list[str]
    said: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Got:
    """Samples to evaluate on, with how to name sample i (`where`) and show it (`shown`: a message's text)."""

    samples: Samples
    where: Callable[[int], str] = lambda i: f"test sample {i + 1}"
    shown: Callable[[int], str] | None = None
    outside: tuple[int, int] | None = None  # text tokens outside the vocabulary, of all
    train: Dataset | None = None  # the run's own data, when it was read already (its own test split)


def evaluate(model: TrainedModel, data_file: Path | None = None, data_changes: dict | None = None) -> Evaluation:
    """Metrics of the run's model on: its test split; `data_file` (same kind as its data); or changed data settings."""
    warnings: list[str] = []
    notes: list[str] = []
    if data_file is not None:
        got, source = _from_file(model, data_file, notes), str(data_file)
    else:
        got, source = _from_source(model, data_changes or {}, warnings)
    samples, prep = got.samples, model.preprocessing
    data = Dataset(DataInfo(model.task, prep.sample_shape, len(prep.classes) or 1), samples, samples, samples,
                   classes=prep.classes, preprocessing=prep,
                   pixel_mean_std=(prep.mean[0], prep.std[0]) if prep.kind == "images" and len(prep.mean) == 1 else
                   (0.0, 1.0))
    outputs = model.outputs(samples.x)
    threshold = threshold_of(prep, tuple(prep.classes))  # the run's decision threshold, as training scored
    metrics = scores(outputs, samples, build_loss(model.pipeline.loss), model.task, model.pipeline.scalar_metrics,
                     prep.target_scale, threshold)
    started = datetime.now(timezone.utc)
    classes = class_report(model.torch_module, data, outputs, threshold)
    predictions = predicted_vs_true(model.torch_module, data, outputs)
    figures = [("Confusion matrix", class_figures.confusion_heatmaps(classes))] if classes else []
    where = "test" if data_file is None and not data_changes else "this data"  # (another file is no test split)
    figures += [("Predicted vs true, and residuals", fits.predicted_vs_true(predictions, where))] if predictions else []
    found = _explained(model, got, outputs, metrics, classes, notes)
    page = render_page("evaluation.html", name=model.path.parent.name + "/" + model.path.name, source=source,
                       count=len(samples), started=started.strftime("%Y-%m-%d %H:%M:%S UTC"), metrics=metrics,
                       figures=figures, warnings=warnings, notes=notes, found=found)
    folder = create_run_dir(model.path, "evaluations", started)
    try:
        write_json(folder / "metrics.json", {"source": source, "samples": len(samples), "metrics": metrics,
                                             **found, "warnings": warnings, "notes": notes,
                                             "started": started.isoformat()})
        write_atomic(folder / "report.html", page)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)  # (a full disk) no evaluation folder without its report
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # nor an empty evaluations/ made for it
        raise
    return Evaluation(metrics, folder, source, warnings + notes, found["said"])


def _explained(model: TrainedModel, got: Got, outputs: torch.Tensor, metrics: dict, classes, notes: list[str]) -> dict:
    """metrics.json's compared, per_class, baselines, shift, mistakes and said (explain.py)."""
    found = {"compared": explain.compared(model, metrics), "per_class": classes.per_class if classes else [],
             "mistakes": explain.mistakes(model, got.samples, outputs, got.where, got.shown)}
    try:  # the run's training split (read again unless it was): the baselines and the class shares need it
        train = got.train or load_data(model.pipeline.data, model.pipeline.seed)
    except Exception as exc:  # noqa: BLE001 - the data may be gone since; the metrics stand without it
        notes.append(f"the run's training data could not be read again ({type(exc).__name__}: {exc}): no baselines "
                     "or shift beside the metrics")
        found.update(baselines={}, shift={})
    else:
        found.update(baselines=explain.baselines(model, train, got.samples),
                     shift=explain.shift(model, train, got.samples, got.outside))
    found["said"] = explain.said(found["shift"], found["compared"])
    return found


def _from_source(model: TrainedModel, changes: dict, warnings: list[str]) -> tuple[Got, str]:
    """The test split of the run's data source (with `changes` to its settings), in the run's own preprocessing."""
    raw = {**model.pipeline.data.model_dump(mode="json"), **changes}
    target = source_class(raw)
    if target is not None and not isinstance(model.pipeline.data, target):  # keep the settings it also has
        raw = {k: v for k, v in raw.items() if k in target.model_fields and k != "task"}
    config = pipeline_model().model_validate({**model.pipeline.model_dump(mode="json"), "data": raw}).data
    data = load_data(config, model.pipeline.seed)
    if tuple(data.sample_shape) != tuple(model.preprocessing.sample_shape) or data.task != model.task:
        raise InputError(f"data {', '.join(f'{k}={v}' for k, v in changes.items())} gives {data.task} samples of "
                         f"shape {tuple(data.sample_shape)}; this model takes {model.task} samples of shape "
                         f"{tuple(model.preprocessing.sample_shape)}")
    if tuple(data.classes) != tuple(model.classes):
        warnings.append(f"the classes differ: the model knows {', '.join(model.classes)}; this data has "
                        f"{', '.join(data.classes)} (the metrics compare class numbers)")
    test = data.test
    new, old = data.preprocessing, model.preprocessing
    if new is not None and new.kind in ("images", "arrays") and (new.mean, new.std) != (old.mean, old.std):
        x = test.x.numpy()  # back to raw values with the data's own statistics, then the run's stored ones
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if new.mean:
            x = x * np.asarray(new.std, np.float32).reshape(shape) + np.asarray(new.mean, np.float32).reshape(shape)
        test = Samples(torch.from_numpy(old.scaled(x)), test.y)
    source = "its own test split" if not changes else "data " + ", ".join(f"{k}={v}" for k, v in changes.items())
    return Got(test, shown=_texts(data.test_text), train=None if changes else data), source


def _texts(cells: dict | None) -> Callable[[int], str] | None:
    """Sample i's text cells joined (a message, shortened), when the data has text."""
    if not cells:
        return None
    return lambda i: " | ".join(str(values[i]) for values in cells.values())[:SHOWN_CHARS]


def _from_file(model: TrainedModel, path: Path, notes: list[str]) -> Got:
    """Inputs and targets from a file of the run's kind: a CSV with the target column, an .npz, a class folder."""
    prep = model.preprocessing
    if prep.kind == "table":
        from dlpipe.trained.tables import read_table

        read = read_table(model, [str(path)])
        notes += read.notes
        if prep.target not in read.frame.columns:
            raise InputError(f"{path} has no target column {prep.target!r}; evaluate needs it")
        rows = table_rows(prep, read.frame, notes, read.where)  # the run's missing: policy may leave rows out (noted)
        y = columns.target(read.frame[prep.target].to_numpy())[rows.kept]
        where = lambda i: read.where(int(rows.kept[i]))  # noqa: E731 - the file's line of sample i
        texts = {name: read.frame[name].to_numpy()[rows.kept] for name in (prep.text.columns if prep.text else ())}
        return Got(Samples(torch.from_numpy(rows.x), _targets(model, y, path, where)), where, _texts(texts),
                   rows.outside)
    if prep.kind == "series":
        from dlpipe.trained.tables import read_table

        return Got(Samples(*series_samples(prep, read_table(model, [str(path)]).frame)),
                   lambda i: f"{path}: window {i + 1}")
    if path.is_dir():
        classes = sorted(p.name for p in path.iterdir() if p.is_dir())
        files = [(f, c) for c in classes for f in image_files([str(path / c)])]
        if not files:
            raise InputError(f"{path}: no class folders with images (expected {path}/<class>/<images>)")
        pixels = decode([f for f, _ in files])
        return Got(Samples(model_inputs(prep, pixels, notes), _targets(model, np.array([c for _, c in files]), path)),
                   lambda i: str(files[i][0]))
    with np.load(path, allow_pickle=False) as archive:
        if not {"x", "y"} <= set(archive.files):
            raise InputError(f"{path}: evaluate needs arrays x and y; it holds {', '.join(archive.files)}")
        x, y = archive["x"], archive["y"]
    return Got(Samples(model_inputs(prep, x, notes), _targets(model, y, path)), lambda i: f"{path}: sample {i + 1}")


def _targets(model: TrainedModel, values: np.ndarray, path: Path, where=None) -> torch.Tensor:
    """Targets as the model was trained on them: class numbers by name, or standardized values.

    where(i): where value i is in the file ('FILE:LINE'), default 'FILE: row i+1'.
    """
    prep = model.preprocessing
    where = where or (lambda i: f"{path}: row {i + 1}")
    if model.task == "classification":
        names = [schema.text(v) for v in values]  # class names as training read them (columns.target)
        index = {name: i for i, name in enumerate(prep.classes)}
        unknown = [(row, name) for row, name in enumerate(names) if name not in index]
        if unknown:
            row, name = unknown[0]
            raise InputError(f"{where(row)}: has the class {name!r}, which the model does not know "
                             f"(its classes: {', '.join(prep.classes)})")
        return torch.tensor([index[n] for n in names], dtype=torch.int64)
    mean, std = prep.target_scale
    numbers = _regression_targets(values, where, prep.target)
    return torch.from_numpy(((numbers - mean) / std).astype(np.float32))


def _regression_targets(values: np.ndarray, where, name: str) -> np.ndarray:
    """The targets as float64, one row per sample; InputError naming the first row whose target is empty, text
    or not finite."""
    flat = np.asarray(values, dtype=object).reshape(len(values), -1)
    numbers = np.full(flat.shape, np.nan)
    for index, value in np.ndenumerate(flat):  # object cells: text is a refusal, never a NaN that scores as one
        try:
            numbers[index] = float(value)
        except (TypeError, ValueError):
            pass
    bad = np.flatnonzero(~np.isfinite(numbers).all(axis=1))
    if len(bad):
        value = flat[bad[0]][~np.isfinite(numbers[bad[0]])][0]
        raise InputError(f"{where(bad[0])}: the target {name or 'y'} is {value!r}, not a finite "
                         f"number ({len(bad)} such row(s)); every row needs one to be scored")
    return numbers
