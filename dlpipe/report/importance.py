"""Which input columns a table model relies on: permutation importance on the test split, and its bar chart.

Each column's inputs (a one-hot block as one, every text input as one "text") are shuffled
across the test rows, REPEATS times with fixed seeds, and the model asked again: the mean
fall of its test score (accuracy, R^2, else the loss's rise) is the column's importance, with
its spread. Correlated columns share credit: shuffling one leaves the other to carry what
they both say, so both can look unimportant (the report says so).
"""

from __future__ import annotations

import time
from html import escape

import torch
from torch import nn

from dlpipe.data.dataset import Dataset
from dlpipe.engine.evaluate import predict, scores

REPEATS = 3
BUDGET_S = 3.0  # columns beyond it are left out (said)
BAR, BARS = 28, 350  # a row's height, the bars' width (font sizes as svg.FONT: legible on a phone)
CHAR = 9.2  # the width of a character at font size 16, generously: a label's room is measured, never clipped
LONGEST = 28  # characters of a column name shown; longer ones end in an ellipsis


def blocks(data: Dataset) -> list[tuple[str, list[int]]]:
    """(column, its input indices) for every input column of a table, the text columns as one block."""
    prep, out, at = data.preprocessing, [], 0
    for column in prep.columns:
        if column.kind != "text":
            out.append((column.name, list(range(at, at + len(column.inputs)))))
            at += len(column.inputs)
    if prep.text is not None:
        width = data.sample_shape[0]
        out.append((" + ".join(prep.text.columns) + " (text)", list(range(at, width))))
    return out


def importance(model: nn.Module, data: Dataset, loss_fn: nn.Module, metrics: list) -> dict | None:
    """{metric, higher, columns: [{column, drop, spread}], left_out}: strongest first; None unless a table."""
    prep = data.preprocessing
    if prep is None or prep.kind != "table" or len(data.test) < 2:
        return None
    base = scores(predict(model, data.test.x).float(), data.test, loss_fn, data.task, metrics, data.target_scale)
    key = next((k for k in ("accuracy", "r2") if k in base), "loss")
    sign = -1.0 if key == "loss" else 1.0  # a fall of a score, a rise of the loss
    start, rows, left = time.perf_counter(), [], []
    generator = torch.Generator().manual_seed(0)
    for name, inputs in blocks(data):
        if time.perf_counter() - start > BUDGET_S:
            left.append(name)
            continue
        falls = []
        for _ in range(REPEATS):
            shuffled = data.test.x.clone()
            order = torch.randperm(len(shuffled), generator=generator).to(shuffled.device)
            shuffled[:, inputs] = data.test.x[order][:, inputs]
            got = scores(predict(model, shuffled).float(), data.test, loss_fn, data.task, metrics, data.target_scale)
            falls.append(sign * (base[key] - got[key]))
        falls_t = torch.tensor(falls)
        rows.append({"column": name, "drop": float(falls_t.mean()), "spread": float(falls_t.std(correction=0))})
    rows.sort(key=lambda r: -r["drop"])
    return {"metric": key, "base": base[key], "columns": rows, "left_out": left}


def chart(found: dict) -> str:
    """A horizontal bar per column, longest first; a negative importance (noise) is drawn as none."""
    rows = found["columns"][:30]
    top = max([r["drop"] for r in rows] + [1.0e-12])
    height = BAR * len(rows) + 40
    names = [r["column"] if len(r["column"]) <= LONGEST else r["column"][:LONGEST - 1] + "…" for r in rows]
    label = round(CHAR * max([len(n) for n in names] + [6])) + 12  # the label column, measured
    width = max(540, label + BARS)
    what = "accuracy" if found["metric"] == "accuracy" else "R^2" if found["metric"] == "r2" else "loss (rise)"
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="permutation importance" '
             f'style="max-width: 100%; height: auto">',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="16" font-weight="bold">Fall of the test '
             f'{escape(what)} when a column is shuffled</text>']
    for i, row in enumerate(rows):
        y = 28 + i * BAR
        length = max(row["drop"], 0.0) / top * (width - label - 80)
        parts.append(f'<text x="{label - 6}" y="{y + 19}" text-anchor="end" font-size="16">'
                     f'<title>{escape(row["column"])}</title>{escape(names[i])}</text>')
        parts.append(f'<rect x="{label}" y="{y + 3}" width="{length:.1f}" height="{BAR - 6}" fill="#1f77b4"/>')
        parts.append(f'<text x="{label + length + 4:.1f}" y="{y + 19}" font-size="16">{row["drop"]:.3g}</text>')
    return "".join(parts) + "</svg>"
