"""Metric sections of the pipeline language (torch-free): one class per metric, and the METRICS table.

Each metric declares the task it applies to, its direction (higher or lower is better),
whether it is a default of its task and whether it is the run's headline; the code that
computes it lives in dlpipe/engine/metrics.py. A bare name (`- r2`) means `{type: r2}`.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, model_serializer

from dlpipe.language.section import Section, tags


class Metric(Section):
    """A metric over a whole split; `key` is its name in the history and in metrics.json."""

    TASK: ClassVar[str]
    HIGHER_IS_BETTER: ClassVar[bool | None]  # None: not a number to rank (the confusion matrix)
    DEFAULT: ClassVar[bool] = False  # recorded when the pipeline names no metrics
    HEADLINE: ClassVar[bool] = False  # the one number `dlpipe runs` shows for the run

    @property
    def key(self) -> str:
        return self.type

    @classmethod
    def names_key(cls, key: str) -> bool:
        """Whether a history key (without its val_/test prefix) is this metric's."""
        return key in tags(cls)

    @model_serializer(mode="wrap")
    def _bare_when_plain(self, handler):
        """A metric with nothing but its type is written back as its bare name, as people write it."""
        dumped = handler(self)
        return dumped["type"] if len(dumped) == 1 else dumped


class MSE(Metric):
    TASK, HIGHER_IS_BETTER, DEFAULT = "regression", False, True
    type: Literal["mse"] = Field(description="Mean squared error.")


class RMSE(Metric):
    TASK, HIGHER_IS_BETTER, DEFAULT = "regression", False, True
    type: Literal["rmse"] = Field(description="Root mean squared error, in the targets' units.")


class MAE(Metric):
    TASK, HIGHER_IS_BETTER, DEFAULT = "regression", False, True
    type: Literal["mae"] = Field(description="Mean absolute error.")


class R2(Metric):
    TASK, HIGHER_IS_BETTER, DEFAULT, HEADLINE = "regression", True, True, True
    type: Literal["r2"] = Field(description="Coefficient of determination: 1 is a perfect fit, 0 the mean's.")


class Accuracy(Metric):
    TASK, HIGHER_IS_BETTER, DEFAULT, HEADLINE = "classification", True, True, True
    type: Literal["accuracy"] = Field(description="Fraction of samples whose top class is the true one.")


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the k highest scores."""

    TASK, HIGHER_IS_BETTER = "classification", True
    type: Literal["top_k_accuracy"] = Field(description="Top-k accuracy.")
    k: int = Field(5, ge=1, description="How many of the highest scores count as a hit.")

    @property
    def key(self) -> str:
        return f"top{self.k}_accuracy"

    @classmethod
    def names_key(cls, key: str) -> bool:
        return re.fullmatch(r"top\d+_accuracy", key) is not None


class Precision(Metric):
    TASK, HIGHER_IS_BETTER = "classification", True
    type: Literal["precision"] = Field(description="Macro-averaged precision (per class in the report).")


class Recall(Metric):
    TASK, HIGHER_IS_BETTER = "classification", True
    type: Literal["recall"] = Field(description="Macro-averaged recall (per class in the report).")


class F1(Metric):
    TASK, HIGHER_IS_BETTER, DEFAULT = "classification", True, True
    type: Literal["f1"] = Field(description="Macro-averaged F1 score (per class in the report).")


class BalancedAccuracy(Metric):
    TASK, HIGHER_IS_BETTER = "classification", True
    type: Literal["balanced_accuracy"] = Field(description=(
        "The mean of each class's recall, over the classes the split holds: always answering the majority class "
        "scores 1 / classes, however rare the others are."))


class AUC(Metric):
    TASK, HIGHER_IS_BETTER = "classification", True
    type: Literal["auc"] = Field(description=(
        "Area under the ROC curve of the predicted probabilities (two classes; several: each class against the "
        "rest, averaged): 0.5 is chance, 1 ranks every positive above every negative, at any threshold."))


class PRAUC(Metric):
    TASK, HIGHER_IS_BETTER = "classification", True
    type: Literal["pr_auc"] = Field(description=(
        "Average precision (area under the precision-recall curve) of the split's rarest class for two classes, "
        "macro-averaged for several; chance is that class's share of the rows."))


class ConfusionMatrix(Metric):
    TASK, HIGHER_IS_BETTER = "classification", None
    type: Literal["confusion_matrix"] = Field(description="Counts of true against predicted class (test only).")


# The metric registry: the union of `metrics:` items and the engine's table follow this tuple.
METRICS = (MSE, RMSE, MAE, R2, Accuracy, TopKAccuracy, Precision, Recall, F1, BalancedAccuracy, AUC, PRAUC,
           ConfusionMatrix)


def metric_class(key: str, table: tuple[type[Metric], ...] | None = None) -> type[Metric] | None:
    """The metric class of a history or test key (val_/train_/test_ prefixes allowed); None if none."""
    bare = re.sub(r"^(val|train|test)_", "", key)
    return next((cls for cls in (table or METRICS) if cls.names_key(bare)), None)


class UnknownDirection(ValueError):
    """A recorded value whose direction no metric declares: never guessed as "lower is better"."""


LOSS = "loss"  # every loss is minimised, whatever its type: the one direction not declared on a metric class
PREFIXES = ("val_", "train_", "test_")


def higher_is_better(key: str) -> bool:
    """Direction of a recorded value (val_r2, train_loss, accuracy): as its metric declares; losses go down.

    Raises UnknownDirection for a key no metric names (or one that is not a number to rank).
    """
    bare = re.sub(r"^(val|train|test)_", "", key)
    if bare == LOSS:
        return False
    found = metric_class(key)
    if found is None or found.HIGHER_IS_BETTER is None:
        known = ", ".join([LOSS, *(tags(c)[0] if c is not TopKAccuracy else "topK_accuracy" for c in METRICS
                                   if c.HIGHER_IS_BETTER is not None)])
        raise UnknownDirection(f"{key!r}: no metric says whether higher or lower is better (known, with a val_ or "
                               f"train_ prefix: {known}); watch one of those, or give mode: min or mode: max")
    return found.HIGHER_IS_BETTER


def wants_higher(mode: str, monitor: str) -> bool:
    """The direction a watcher (early stopping, a plateau schedule) takes: max, min, or auto from the metric."""
    return mode == "max" or (mode == "auto" and higher_is_better(monitor))


def history_columns(task: str, metric_keys: list[str]) -> list[str]:
    """The history's columns, in order: what the training loop records after every epoch."""
    train = ["train_loss", "train_accuracy"] if task == "classification" else ["train_loss"]
    return ["epoch", *train, "val_loss", *(f"val_{key}" for key in metric_keys), "lr", "time"]


def defaults(task: str) -> list[str]:
    """The metrics recorded when a pipeline of this task names none."""
    return [tags(cls)[0] for cls in METRICS if cls.TASK == task and cls.DEFAULT]


IMBALANCED_HEADLINE = (BalancedAccuracy, F1, AUC, PRAUC)  # metrics the majority class cannot win


def headline(task: str, test: dict[str, float], imbalanced: bool = False, classes: int = 2) -> dict | None:
    """The one test number that sums a run up: its task's headline metric, else its first metric, else the loss.

    imbalanced (a classifier's training split, data/targets.py): the first of IMBALANCED_HEADLINE it recorded, macro
    F1 first for more than two classes."""
    ranked = [cls for cls in METRICS if cls.TASK == task and cls.HEADLINE] + \
             [cls for cls in METRICS if cls.TASK == task]
    if imbalanced and task == "classification":
        ranked = [*((F1,) if classes > 2 else ()), *IMBALANCED_HEADLINE, *ranked]
    for cls in ranked:
        name = next((key for key in test if cls.names_key(key) and isinstance(test[key], (int, float))), None)
        if name:
            return {"name": name, "value": test[name]}
    return {"name": "loss", "value": test["loss"]} if "loss" in test else None



def objective(task: str, keys: list[str]) -> str:
    """The validation value a sweep optimises by default: balanced_accuracy when recorded (a metric the majority
    class cannot win), else the task's headline metric, else the first metric, else the loss."""
    scalar = [key for key in keys if (cls := metric_class(key)) is not None and cls.HIGHER_IS_BETTER is not None]
    ranked = [cls for cls in (BalancedAccuracy, *METRICS) if cls is BalancedAccuracy or (cls.TASK == task and
                                                                                           cls.HEADLINE)]
    chosen = next((key for cls in ranked for key in scalar if cls.names_key(key)), scalar[0] if scalar else LOSS)
    return f"val_{chosen}"
