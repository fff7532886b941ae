"""Several runs' learning curves on one chart (the compare page, the sweep page's best trials), as inline SVG.

Each run has its colour: validation loss solid, training loss dashed, by epoch and by wall time.
A run with no finite loss (it diverged at once) draws nothing, so its legend entry says so.
"""

from __future__ import annotations

import math

from dlpipe.report.charts import wants_log
from dlpipe.report.svg import COLOURS, Chart, Line



def _finite(values) -> bool:
    return any(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def overlay_curves(runs: list[tuple[str, dict[str, list[float]]]]) -> list[str] | None:
    """Two SVG charts, loss by epoch and by wall time, one colour per run; None without an epoch to draw."""
    runs = [(label, history) for label, history in runs if history.get("epoch")]
    if not runs:
        return None
    log = wants_log(*(h.get("val_loss", []) for _, h in runs), *(h.get("train_loss", []) for _, h in runs))
    charts = []
    for key, title, x_label in (("epoch", "Loss by epoch", "epoch"), ("time", "Loss by wall time", "wall time (s)")):
        lines = []
        for number, (label, history) in enumerate(runs):
            colour, xs = COLOURS[number % len(COLOURS)], history.get(key, [])
            drawn = _finite(history.get("val_loss", [])) or _finite(history.get("train_loss", []))
            name = label if drawn else f"{label} (diverged: no finite loss to draw)"
            few = len(xs) <= 30
            lines.append(Line(name, colour, xs, history.get("val_loss", []), markers=few))
            lines.append(Line("", colour, xs, history.get("train_loss", []), width=1.5, dash="4 3", opacity=0.8))
        charts.append(Chart(f"{title} (solid: validation, dashed: train)", lines, x_label=x_label, y_label="loss",
                            log=log, integer_x=key == "epoch").svg())
    return charts
