"""Targets of the user's own data (tables, arrays): the task decided, classes named, regression scaled, the split.

Shared by the CSV and the arrays sources, so both decide and report a task the same way.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dlpipe.data.schema import FLOAT32_MAX
from dlpipe.language.source import MIN_SPLIT, SplitFractions
from dlpipe.language.errors import InvalidValue

MAX_AUTO_CLASSES = 20  # task: auto calls an integer target with at most this many values (and few per row) classes
ROWS_PER_CLASS = 5  # fewer examples per class than this and a classifier cannot learn or be tested
TASK = ("data", "task")


def decide(values: np.ndarray, name: str) -> tuple[str, str]:
    """(task, reason) for task: auto: text, or a few distinct integers, is a classification; else a regression."""
    present = _present(values)
    if not _is_numeric(present):
        count = len(np.unique(present.astype(str)))
        return "classification", f"target {name} holds {count} distinct strings: classification"
    numbers = present.astype(np.float64)
    distinct = len(np.unique(numbers))
    integers = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
    if integers and distinct <= MAX_AUTO_CLASSES and distinct * ROWS_PER_CLASS <= len(numbers):
        return "classification", (f"target {name} holds {distinct} distinct integers in {len(numbers)} rows: "
                                  "classification (task: regression to predict it as a number)")
    kind = "integers" if integers else "numbers"
    return "regression", f"target {name} holds {kind} with {distinct} distinct values: regression"


Label = Callable[[int], str]  # where sample i is, in the user's words: "line 7" of a CSV, "sample 6" of an array


def _sample(i: int) -> str:
    return f"sample {i}"


def refuse_non_finite(values: np.ndarray, what: str, where: str, label: Label = _sample, key: tuple = TASK) -> None:
    """InvalidValue naming the first sample (and how many) whose value is NaN or infinite: never trained on.

    One NaN or inf makes every loss after it NaN (or the run "diverges" for no fault of the learning rate).
    Checked in chunks, so a large array costs no second copy of itself.
    """
    values = np.asarray(values)
    if values.dtype.kind not in "fc" or len(values) == 0:
        return
    flat, bad, huge = values.reshape(len(values), -1), [], []
    for start in range(0, len(flat), CHUNK):
        part = flat[start:start + CHUNK]
        bad += (np.flatnonzero(~np.isfinite(part).all(axis=1)) + start).tolist()
        huge += (np.flatnonzero((np.abs(np.nan_to_num(part)) > FLOAT32_MAX).any(axis=1)) + start).tolist()
    if bad:
        first = flat[bad[0]]
        raise InvalidValue(key, f"{where}: {label(bad[0])}: {what} is {first[~np.isfinite(first)][0]} ({len(bad)} "
                                "sample(s) hold NaN or inf); dlpipe does not train on a value that is not a finite "
                                "number: fix or remove them")
    if huge:
        first = flat[huge[0]]
        raise InvalidValue(key, f"{where}: {label(huge[0])}: {what} is {first[np.abs(first) > FLOAT32_MAX][0]:g} "
                                f"({len(huge)} sample(s) beyond the ±{FLOAT32_MAX:.2g} that 32-bit floats hold, "
                                "where the network computes): rescale them (divide by a power of ten)")


CHUNK = 65_536


def class_labels(values: np.ndarray, name: str, where: str, label: Label = _sample, key: tuple = TASK
                 ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels 0..k-1 and the class names (sorted; numbers sorted as numbers); InvalidValue for too few/many classes.

    label and key: where a sample is, and the pipeline key that named the targets (for a NaN or inf among them).
    """
    if _is_numeric(values):
        refuse_non_finite(values.astype(np.float64), f"target {name}", where, label, key)
        numbers = values.astype(np.float64)
        order = np.unique(numbers)
        names = tuple(str(int(v)) if v == int(v) else str(v) for v in order)
        labels = np.searchsorted(order, numbers)
    else:
        text = values.astype(str)
        order = np.unique(text)
        names, labels = tuple(str(v) for v in order), np.searchsorted(order, text)
    if len(names) < 2:
        raise InvalidValue(TASK, f"{where}: target {name} holds one class only ({names[0]!r}); a classifier needs "
                                 "at least two")
    if len(names) * ROWS_PER_CLASS > len(values):
        raise InvalidValue(TASK, f"{where}: target {name} has {len(names)} classes in {len(values)} rows, fewer "
                                 f"than {ROWS_PER_CLASS} examples per class; is it the right column, or is it "
                                 "a number to predict (task: regression)?")
    return labels.astype(np.int64), names


def regression_values(values: np.ndarray, name: str, where: str, label: Label = _sample, key: tuple = TASK
                      ) -> np.ndarray:
    """The target as float64; InvalidValue when it holds text, NaN or inf (label, key: as for class_labels)."""
    if not _is_numeric(values):
        sample = next(v for v in values if not _number(v))
        raise InvalidValue(TASK, f"{where}: target {name} holds text ({sample!r}); a regression needs numbers "
                                 "(task: classification to predict it as a class)")
    numbers = values.astype(np.float64)
    refuse_non_finite(numbers, f"target {name}", where, label, key)
    return numbers


def target_scale(y_train: np.ndarray, setting) -> tuple[float, float]:
    """(mean, std) to standardize a regression target with: when asked, or (auto) when its scale is far from 1."""
    mean, std = float(np.mean(y_train)), float(np.std(y_train))
    far = not (0.1 <= std <= 10 and abs(mean) <= 10 * max(std, 1.0))
    if setting is True or (setting == "auto" and far):
        return mean, std if std > 0 else 1.0
    return 0.0, 1.0


def class_support(labels: list[np.ndarray], classes: tuple[str, ...], where: str, key: tuple = TASK) -> list[str]:
    """Samples of each class in train, validation and test: InvalidValue for a class with none to train on; a note
    for each class missing from validation or test (its scores there cannot be measured)."""
    counts = np.stack([np.bincount(np.asarray(split, dtype=np.int64), minlength=len(classes)) for split in labels])
    untrained = [(classes[c], int(counts[:, c].sum())) for c in np.flatnonzero(counts[0] == 0)]
    if untrained:
        shown = ", ".join(f"{name!r} ({total} sample(s) in all)" for name, total in untrained[:5])
        raise InvalidValue(key, f"{where}: class(es) {shown} have no training samples: a classifier cannot learn "
                                "them; add samples, or remove the class")
    notes = []
    for split, name in ((1, "validation"), (2, "test")):
        absent = [classes[c] for c in np.flatnonzero(counts[split] == 0)]
        if absent:
            notes.append(f"class(es) {', '.join(map(repr, absent[:10]))} have no {name} samples (too few in all to "
                         f"be in every split): their {name} scores are not measured")
    return notes


RARE_SHARE = 0.2  # a class under 20 % of the training rows (of two classes; of k, under 0.4 of an even 1/k) ...
RARE_RATIO = 4.0  # ... or a class 4x as common as another: accuracy misleads


def imbalance(labels: np.ndarray, classes: tuple[str, ...]) -> dict | None:
    """The training split's class balance when it misleads accuracy (the rarest class under RARE_SHARE of the rows
    with two classes, under the same fraction of an even share with more: MNIST's 9 % of ten digits is even; or
    RARE_RATIO times rarer than the commonest), else None: the rarest class and its share, the majority class and
    the accuracy of always answering it."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    present = counts[counts > 0]
    if len(present) < 2:
        return None
    rare, common = int(np.flatnonzero(counts == present.min())[0]), int(counts.argmax())
    share, majority = counts[rare] / counts.sum(), counts[common] / counts.sum()
    if share >= RARE_SHARE * 2 / len(present) and counts[common] < RARE_RATIO * counts[rare]:
        return None
    return {"minority": classes[rare], "share": float(share), "majority": classes[common],
            "majority_accuracy": float(majority), "classes": len(classes)}


def imbalance_note(found: dict) -> str:
    """What the terminal and the report say of an imbalanced training split."""
    judge = "balanced_accuracy, auc and pr_auc" if found["classes"] == 2 else "f1 and balanced_accuracy"
    return (f"imbalanced: {found['share']:.1%} of the training rows are {found['minority']!r}; always answering "
            f"{found['majority']!r} scores accuracy {found['majority_accuracy']:.3f}, so accuracy says little here: "
            f"judge by {judge} (a metric the majority class cannot win)")


SPLIT_NAMES = {"train": 0, "training": 0, "validation": 1, "val": 1, "valid": 1, "test": 2}


def split_rows(n: int, fractions: SplitFractions, rng: np.random.Generator, where: str,
               column: np.ndarray | None = None, column_name: str = "", labels: np.ndarray | None = None
               ) -> list[np.ndarray]:
    """Row indices of train, validation and test: from the split column's values, else shuffled by fractions, or
    fold `fractions.fold` of K (labels: a classification's targets, to stratify the folds by)."""
    if fractions.folds is not None and column is not None:
        raise InvalidValue(("data", "split", "folds"), f"{where}: column {column_name!r} (split_column) fixes the "
                                                       "test rows; K-fold cross-validation needs dlpipe to cut the "
                                                       "folds: leave out split_column, or --folds")
    if fractions.folds is not None and n // fractions.folds < MIN_SPLIT:  # (the smallest fold: refused at fold 1)
        raise InvalidValue(("data", "split", "folds"), f"{where}: {n} rows in {fractions.folds} folds leave "
                                                       f"{n // fractions.folds} test row(s) in a fold; each needs "
                                                       f"at least {MIN_SPLIT}: use at most {n // MIN_SPLIT} folds")
    if fractions.folds is not None:
        parts = fold_rows(n, fractions, rng, labels)
    elif column is None:
        order = rng.permutation(n)
        n_train, n_val, _ = fractions.sizes(n)
        parts = [order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]]
    else:
        text = np.char.lower(np.char.strip(column.astype(str)))
        unknown = sorted({str(v) for v in np.unique(text)} - set(SPLIT_NAMES))
        if unknown:
            raise InvalidValue(("data", "split_column"), f"{where}: column {column_name!r} holds {unknown[:5]}; "
                                                         "expected train, validation or test in every row")
        codes = np.array([SPLIT_NAMES[v] for v in text])
        parts = [np.flatnonzero(codes == k) for k in range(3)]
    sizes = [len(p) for p in parts]
    if min(sizes) < MIN_SPLIT:
        key = ("data", "split_column") if column is not None else ("data", "split", "folds") \
            if fractions.folds else ("data", "split")
        raise InvalidValue(key, f"{where}: {n} rows split {sizes[0]}/{sizes[1]}/{sizes[2]} for train/validation/"
                                f"test; every split needs at least {MIN_SPLIT} rows")
    return parts


def fold_rows(n: int, fractions: SplitFractions, rng: np.random.Generator, labels: np.ndarray | None = None
              ) -> list[np.ndarray]:
    """Train, validation and test rows of fold `fractions.fold` of K: the rows shuffled once (the seed's), dealt to
    the folds in turn (grouped by class first when labels are given, so each fold holds each class's share), so
    every row is in exactly one test fold; validation is carved the same way from the other folds."""
    order = rng.permutation(n)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[_by_class(order, labels)] = np.arange(n) % fractions.folds
    test = np.sort(np.flatnonzero(fold_of == fractions.fold - 1))
    rest = _by_class(order[fold_of[order] != fractions.fold - 1], labels)
    n_val = fractions.sizes(n)[1]
    picked = np.diff(np.floor(np.arange(len(rest) + 1) * n_val / len(rest)).astype(np.int64)) > 0  # evenly spread
    return [np.sort(rest[~picked]), np.sort(rest[picked]), test]


def _by_class(rows: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """`rows` grouped by their label (in a stable order, so each class keeps its shuffled order), or as they are."""
    if labels is None:
        return rows
    keys = np.array([str(v) for v in np.asarray(labels, dtype=object)[rows]], dtype=object)
    return rows[np.argsort(keys, kind="stable")]


def _present(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind == "O":
        return values[~((values != values) | np.equal(values, None))]
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values


def _is_numeric(values: np.ndarray) -> bool:
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return True
    return values.dtype.kind == "O" and all(_number(v) for v in values)


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
