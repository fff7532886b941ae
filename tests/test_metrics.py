"""Classification metrics against small hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from dlpipe.engine.metrics import compute_metrics, confusion_matrix, per_class, top_k_accuracy
from dlpipe.language.metrics import F1, Accuracy, Precision, Recall, TopKAccuracy


def classification_metrics(logits, target, names):
    """The named metrics (as the engine computes them every epoch), by key."""
    configs = {"accuracy": Accuracy(type="accuracy"), "precision": Precision(type="precision"),
               "recall": Recall(type="recall"), "f1": F1(type="f1"),
               "top2_accuracy": TopKAccuracy(type="top_k_accuracy", k=2)}
    return compute_metrics("classification", logits, target, [configs[name] for name in names])

# 6 samples, 3 classes. true: 0 0 1 1 2 2; predicted: 0 1 1 1 0 2
TARGET = torch.tensor([0, 0, 1, 1, 2, 2])
PREDICTED = torch.tensor([0, 1, 1, 1, 0, 2])


def logits_for(predicted: torch.Tensor, classes: int = 3) -> torch.Tensor:
    return torch.nn.functional.one_hot(predicted, classes).float() * 5


def test_confusion_matrix_rows_are_true_columns_predicted():
    assert confusion_matrix(PREDICTED, TARGET, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_per_class_precision_recall_f1_by_hand():
    scores = per_class(confusion_matrix(PREDICTED, TARGET, 3))
    # class 0: predicted twice, right once -> P 1/2; 2 true, 1 found -> R 1/2; F1 1/2
    # class 1: predicted 3 times, right twice -> P 2/3; R 2/2 = 1; F1 = 2*(2/3)/(5/3) = 0.8
    # class 2: predicted once, right -> P 1; R 1/2; F1 = 2/3
    assert scores["precision"].tolist() == pytest.approx([0.5, 2 / 3, 1.0])
    assert scores["recall"].tolist() == pytest.approx([0.5, 1.0, 0.5])
    assert scores["f1"].tolist() == pytest.approx([0.5, 0.8, 2 / 3])
    assert scores["support"].tolist() == [2, 2, 2]


def test_macro_metrics_and_accuracy():
    got = classification_metrics(logits_for(PREDICTED), TARGET, ["accuracy", "precision", "recall", "f1"])
    assert got == pytest.approx({"accuracy": 4 / 6, "precision": (0.5 + 2 / 3 + 1) / 3,
                                 "recall": (0.5 + 1 + 0.5) / 3, "f1": (0.5 + 0.8 + 2 / 3) / 3})


def test_a_class_never_predicted_scores_zero_not_nan():
    scores = per_class(confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 1]), 2))
    assert scores["precision"].tolist() == [0.5, 0.0] and not scores["f1"].isnan().any()


def test_top_k_accuracy_by_hand():
    logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    target = torch.tensor([2, 1, 0])  # ranks of the true class: 2nd, 2nd, 3rd
    assert top_k_accuracy(logits, target, 1) == 0.0
    assert top_k_accuracy(logits, target, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(logits, target, 3) == 1.0
    assert classification_metrics(logits, target, ["top2_accuracy"]) == pytest.approx({"top2_accuracy": 2 / 3})


def test_metrics_match_plain_torch_on_random_data():
    gen = torch.Generator().manual_seed(0)
    logits, target = torch.randn(500, 10, generator=gen), torch.randint(0, 10, (500,), generator=gen)
    got = classification_metrics(logits, target, ["accuracy", "recall"])
    assert got["accuracy"] == pytest.approx((logits.argmax(1) == target).float().mean().item())
    recalls = [(logits.argmax(1)[target == c] == c).float().mean().item() for c in range(10)]
    assert got["recall"] == pytest.approx(sum(recalls) / 10)
