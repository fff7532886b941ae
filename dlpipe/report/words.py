"""What a text classifier learned, from the model on the test split: the tokens that push toward each class,
and the messages it got wrong.

A token's push is measured by taking it away: in up to ROWS_PER_TOKEN test rows that hold it,
the token is removed (a bag or tf-idf input set to 0; in a sequence each of its ids replaced by
the unknown id) and the model asked again. The mean fall of each class's probability is how
much the token pushed toward that class; a negative fall, away from it. The candidates are the
tokens most test rows hold, tried within a time budget, so a large model still reports on time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from dlpipe.data.dataset import Dataset
from dlpipe.data.text import UNKNOWN
from dlpipe.engine.evaluate import predict

CANDIDATES = 400  # tokens tried, those most test rows hold first
ROWS_PER_TOKEN = 40
MIN_ROWS = 5  # a token in fewer test rows says too little
SHOWN = 12  # tokens per class, mistakes
BUDGET_S = 3.0
MAX_CLASSES = 10
TEXT_CHARS = 300  # of a misclassified row's text, its columns joined by " | "


@dataclass(frozen=True)
class Words:
    """tokens: class -> [(token, mean probability change when removed, rows)], strongest first; mistakes:
    (text, true class, predicted class, its probability), most confident first; tried: tokens measured."""

    tokens: dict[str, list[tuple[str, float, int]]]
    mistakes: list[tuple[str, str, str, float]]
    tried: int


def words(model: nn.Module, data: Dataset, outputs: torch.Tensor) -> Words | None:
    """The text view of a classifier's test split; None without text columns, or beyond MAX_CLASSES classes."""
    prep = data.preprocessing
    if data.task != "classification" or prep is None or prep.text is None or len(data.classes) > MAX_CLASSES:
        return None
    probabilities = outputs.float().softmax(dim=1).cpu()
    confidence, predicted = probabilities.max(dim=1)
    target = data.test.y.cpu()
    wrong = (predicted != target).nonzero().flatten()
    worst = wrong[confidence[wrong].argsort(descending=True)][:SHOWN].tolist()
    cells = data.test_text or {}
    mistakes = [(" | ".join(column[i] for column in cells.values())[:TEXT_CHARS], data.classes[target[i]],
                 data.classes[predicted[i]], float(confidence[i])) for i in worst]
    effects, tried = _effects(model, data, probabilities)
    tokens = {name: sorted(((t, float(e[c]), n) for t, e, n in effects if e[c] > 0), key=lambda v: -v[1])[:SHOWN]
              for c, name in enumerate(data.classes)}
    return Words(tokens, mistakes, tried)


def _effects(model: nn.Module, data: Dataset, probabilities: torch.Tensor):
    """[(token, mean change of each class's probability when it is taken away, rows)], and how many were tried."""
    encoder, x = data.preprocessing.text, data.test.x
    sequence = encoder.mode == "sequence"
    present = _presence(x, encoder, sequence)  # (rows, vocabulary) bool
    order = present.sum(0).argsort(descending=True)[:CANDIDATES].tolist()
    found, start = [], time.perf_counter()
    for tried, column in enumerate(order):
        rows = present[:, column].nonzero().flatten()[:ROWS_PER_TOKEN]
        if len(rows) < MIN_ROWS or time.perf_counter() - start > BUDGET_S:
            return found, tried
        taken = x[rows.to(x.device)].clone()
        if sequence:
            taken[taken == column + (encoder.ids - len(encoder.vocabulary))] = UNKNOWN
        else:  # the text's inputs come after the other columns' (preprocess.Preprocessing.input_names)
            taken[:, x.shape[1] - len(encoder.vocabulary) + column] = 0
        after = predict(model, taken).float().softmax(dim=1).cpu()
        found.append((encoder.vocabulary[column], (probabilities[rows] - after).mean(dim=0), len(rows)))
    return found, len(order)


def _presence(x: torch.Tensor, encoder, sequence: bool) -> torch.Tensor:
    """Which vocabulary token each test row holds."""
    if not sequence:
        return (x[:, x.shape[1] - len(encoder.vocabulary):] > 0).cpu()
    offset = encoder.ids - len(encoder.vocabulary)
    present = torch.zeros(len(x), len(encoder.vocabulary), dtype=torch.bool)
    ids = x.cpu() - offset
    rows = torch.arange(len(x)).unsqueeze(1).expand_as(ids)
    keep = ids >= 0
    present[rows[keep], ids[keep]] = True
    return present
