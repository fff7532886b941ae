"""A series run's test period drawn over time (truth, forecast, the naive forecast: the last value carried forward)
with the residuals of both. (The baselines' sentence in the verdict: report/baselines.py.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlpipe.report.charts import MODEL, TEST, TRUE
from dlpipe.report.svg import Chart, Line, Rule

MAX_POINTS = 2000  # drawn per line; a longer test period is thinned evenly


@dataclass(frozen=True)
class Forecast:
    """The test period in the target's units: each target's time label, the truth, the network's forecast and
    the naive one."""

    target: str
    times: tuple[str, ...]
    truth: np.ndarray
    predicted: np.ndarray
    naive: np.ndarray


def charts(f: Forecast) -> list[str]:
    """The test period over time, then the residuals (forecast - truth) of the network and of the naive forecast."""
    step = max(1, -(-len(f.truth) // MAX_POINTS))
    index = np.arange(len(f.truth))[::step].astype(float).tolist()

    def thin(values: np.ndarray) -> list[float]:
        return np.asarray(values, dtype=float)[::step].tolist()

    when = f"test step ({f.times[0]} to {f.times[-1]})" if f.times else "test step"
    over_time = Chart(f"{f.target} over the test period", [
        Line("truth", TRUE, index, thin(f.truth), width=2.0),
        Line("naive forecast (last value)", TEST, index, thin(f.naive), width=1.5, dash="6 4"),
        Line("network forecast", MODEL, index, thin(f.predicted), width=2.5, opacity=0.85)],
        x_label=when, y_label=f.target)
    mine, base = f.predicted - f.truth, f.naive - f.truth
    residuals = Chart(f"Residuals: network MAE {np.abs(mine).mean():.3g}, naive {np.abs(base).mean():.3g}", [
        Line("naive forecast - truth", TEST, index, thin(base), width=1.5, dash="6 4"),
        Line("network forecast - truth", MODEL, index, thin(mine), width=2.0)],
        [Rule(0.0, "", TRUE, dash="2 3", vertical=False)], x_label=when, y_label="forecast - truth")
    return [over_time.svg(), residuals.svg()]
