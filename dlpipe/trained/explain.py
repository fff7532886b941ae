"""What `dlpipe evaluate` says beyond its metrics: the drop from the run's own test, the baselines on the new
data, how the data shifted since training, and the worst mistakes.

Each function returns plain values (metrics.json's `compared`, `baselines`, `shift`, `mistakes`)
that the evaluation page shows. The training split is read again through the run's own data
source (the same split, the same fitted schema) for the baselines and the class shares.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from dlpipe.archive.record import RunRecord
from dlpipe.data.dataset import Dataset, Samples
from dlpipe.engine.baselines import run_baselines
from dlpipe.engine.optim import build_loss
from dlpipe.engine.threshold import decide
from dlpipe.engine.threshold import of as threshold_of
from dlpipe.trained.model import TrainedModel

WORST = 10  # mistakes listed
MOVED = 5  # numeric columns listed by how far their mean moved


def compared(model: TrainedModel, metrics: dict[str, float]) -> list[dict]:
    """Per metric: the run's own test value, this data's, and the change (None where the run lacks it)."""
    try:
        own = RunRecord.read(model.path, with_history=False).test
    except (OSError, ValueError):
        own = {}
    return [{"metric": key, "run": own.get(key), "here": value,
             "change": value - own[key] if isinstance(own.get(key), (int, float)) else None}
            for key, value in metrics.items()]


def baselines(model: TrainedModel, train: Dataset, samples: Samples) -> dict[str, dict[str, float]]:
    """The run's baselines, fitted again on its training split, scored on these samples."""
    data = dataclasses.replace(train, test=samples)
    return run_baselines(data, build_loss(model.pipeline.loss), model.pipeline.scalar_metrics).metrics


def shift(model: TrainedModel, train: Dataset, samples: Samples, outside: tuple[int, int] | None) -> dict:
    """How these samples differ from training: class shares, unseen categories, unknown tokens, the numeric
    columns whose mean moved most (in training standard deviations), a series' level."""
    prep, found = model.preprocessing, {}
    if model.task == "classification":
        k = len(prep.classes)
        before = torch.bincount(train.train.y.cpu(), minlength=k).double() / len(train.train)
        after = torch.bincount(samples.y.cpu(), minlength=k).double() / max(len(samples), 1)
        found["classes"] = [{"name": name, "training": float(b), "here": float(a)}
                            for name, b, a in zip(prep.classes, before, after)]
    elif prep.kind == "series" or prep.kind == "table":  # the target's level, in training standard deviations
        found["target_level"] = float(samples.y.float().mean())
    if prep.kind == "table":
        found.update(_columns_moved(prep, samples.x.cpu().numpy()))
    if outside and outside[1]:
        text = (train.text or {})
        found["unknown_tokens"] = {"here": outside[0] / outside[1], "run_test": text.get("test_outside")}
    return found


def _columns_moved(prep, x: np.ndarray) -> dict:
    """Unseen-category shares of the one-hot columns and the mean shift of the standardized ones."""
    names, moved, unseen = list(prep.input_names), [], {}
    for column in prep.columns:
        inputs = column.inputs
        if not inputs or inputs[0] not in names:
            continue
        at = names.index(inputs[0])
        if column.kind in ("numeric", "boolean", "date"):
            moved.append({"column": column.name, "sd": float(x[:, at].mean())})
        elif column.kind == "categorical":
            block = x[:, at:at + len(inputs)]
            unseen[column.name] = float((block.sum(axis=1) == 0).mean())
    moved.sort(key=lambda row: -abs(row["sd"]))
    return {"moved": moved[:MOVED], "unseen": unseen}


def mistakes(model: TrainedModel, samples: Samples, outputs: torch.Tensor, where: Callable[[int], str],
             shown: Callable[[int], str] | None = None) -> list[dict]:
    """The WORST samples: a classifier's most confident wrong answers, a regression's largest errors."""
    if model.task == "classification":
        probabilities = outputs.float().softmax(dim=1).cpu()
        predicted = decide(probabilities.log(), threshold_of(model.preprocessing, tuple(model.classes)))
        truth = samples.y.cpu()
        confidence = probabilities.gather(1, predicted[:, None])[:, 0]
        wrong = torch.nonzero(predicted != truth)[:, 0]
        order = wrong[confidence[wrong].argsort(descending=True)][:WORST].tolist()
        return [{"where": where(i), "true": model.classes[int(truth[i])], "predicted": model.classes[int(predicted[i])],
                 "probability": float(confidence[i]), **({"shown": shown(i)} if shown else {})} for i in order]
    mean, std = model.preprocessing.target_scale
    predicted = outputs.float().cpu().reshape(len(samples), -1)[:, 0] * std + mean
    truth = samples.y.float().cpu().reshape(len(samples), -1)[:, 0] * std + mean
    order = (predicted - truth).abs().argsort(descending=True)[:WORST].tolist()
    return [{"where": where(i), "true": float(truth[i]), "predicted": float(predicted[i]),
             "error": float(predicted[i] - truth[i]), **({"shown": shown(i)} if shown else {})} for i in order]


def said(found: dict, compared_rows: list[dict]) -> list[str]:
    """The shift and the drop in sentences, for the terminal and the page."""
    lines = []
    for row in compared_rows:
        if row["change"] is not None and row["metric"] != "loss" and abs(row["change"]) > 1.0e-12:
            lines.append(f"{row['metric']} {row['here']:.4g} against the run's own test {row['run']:.4g} "
                         f"({row['change']:+.4g})")
    shares = found.get("classes")
    if shares:
        moved = max(shares, key=lambda c: abs(c["here"] - c["training"]))
        lines.append(f"class {moved['name']!r}: {moved['here']:.1%} of these samples, {moved['training']:.1%} of "
                     "training" + (" (the class balance changed)" if abs(moved["here"] - moved["training"]) > 0.05
                                   else ""))
    for name, share in (found.get("unseen") or {}).items():
        if share > 0:
            lines.append(f"{name}: {share:.1%} of rows hold a category training never saw (or none)")
    tokens = found.get("unknown_tokens")
    if tokens:
        run = f" ({tokens['run_test']:.1%} in the run's test split)" if tokens.get("run_test") is not None else ""
        lines.append(f"{tokens['here']:.1%} of the tokens are outside the vocabulary{run}")
    level = found.get("target_level")
    if level is not None and abs(level) >= 0.25:
        lines.append(f"the target's mean is {level:+.2f} training standard deviations from training's")
    for row in (found.get("moved") or [])[:3]:
        if abs(row["sd"]) >= 0.25:
            lines.append(f"{row['column']}: its mean moved {row['sd']:+.2f} training standard deviations")
    return lines
