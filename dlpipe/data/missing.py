"""The `missing:` policy applied to a table's empty cells, the same way in training and in predict and evaluate.

error refuses the rows (naming the first cells), drop leaves them out, mean keeps them: a numeric, boolean or date
cell is filled with the training mean and an empty category is all zeros. Rows without a target (or a split value)
are always left out in training, since nothing can be learned or scored from them. Every row left out or cell
filled is said in a note, with its row and column.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

SHOWN = 5
POLICIES = ("error", "drop", "mean")


class MissingCells(ValueError):
    """Empty cells that the error policy refuses (the message names them)."""


def cells(names: list[str], empty: np.ndarray, where: Callable[[int], str], fills: list[str] | None = None
          ) -> tuple[int, str]:
    """(count, 'line 4 column 'a', line 9 column 'b' and 3 more') of the empty cells of an (N, columns) mask;
    fills: what each column's empty cell became (' -> 40.5')."""
    rows, cols = np.nonzero(empty)
    shown = ", ".join(f"{where(int(r))} column {names[c]!r}" + (f" -> {fills[c]}" if fills else "")
                      for r, c in zip(rows[:SHOWN], cols))
    return len(rows), shown + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def keep(policy: str, names: list[str], empty: np.ndarray, where: Callable[[int], str], notes: list[str],
         required: int = 0, fills: list[str] | None = None) -> np.ndarray:
    """The rows to keep (0-based) under `policy`; MissingCells under error; notes say what was left out or filled.

    empty: (N, columns) mask of empty cells, names: its columns; the last `required` of them (training's target
    and split column) are cells a row cannot go without, whatever the policy. fills: what each feature's empty
    cell becomes, said in the note (predict knows it; training fits it after this).
    """
    features, lacking = empty[:, :empty.shape[1] - required], empty[:, empty.shape[1] - required:].any(axis=1)
    if not empty.any():
        return np.arange(len(empty))
    if policy == "error":
        count, shown = cells(names, empty, where)
        raise MissingCells(f"{count} empty cell(s) (or rows with too few fields): {shown}")
    drop = lacking | features.any(axis=1) if policy == "drop" else lacking
    kept = np.flatnonzero(~drop)
    if drop.any():
        count, shown = cells(names, empty & drop[:, None], where)
        notes.append(f"{int(drop.sum())} of {len(empty)} row(s) left out for empty cells (missing: {policy}): {shown}")
    filled = features[kept] if policy == "mean" else features[:0]
    if filled.any():
        count, shown = cells(names, filled, lambda r: where(int(kept[r])), fills)
        notes.append(f"{count} empty cell(s) filled with the training mean (a category: all zeros; missing: mean): "
                     f"{shown}")
    return kept
