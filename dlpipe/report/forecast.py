"""A series run set against the naive forecast (the last value carried forward): the verdict's sentence, and
the test period drawn over time (truth, forecast, naive forecast) with the residuals of both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlpipe.report.charts import MODEL, TEST, TRUE
from dlpipe.report.svg import Chart, Line, Rule
from dlpipe.report.verdict import Verdict

# The test metric the sentence compares, first found; every one of them is lower-is-better.
COMPARED = ("mae", "rmse", "mse", "loss")
NAMES = {"mae": "MAE", "rmse": "RMSE", "mse": "MSE", "loss": "loss"}
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


def comparison(test: dict[str, float], naive: dict[str, float]) -> tuple[str, bool] | None:
    """(the sentence, whether the network beats the naive forecast) on the first of COMPARED both have."""
    key = next((k for k in COMPARED if test.get(k) is not None and naive.get(k) is not None), None)
    if key is None:
        return None
    mine, base = test[key], naive[key]
    beats = mine < base
    change = f"{100 * abs(mine - base) / base:.0f} % {'lower' if beats else 'higher'}" if base > 0 else "the same"
    head = (f"against the naive forecast (the last value carried forward), test {NAMES[key]} {mine:.4g} vs "
            f"{base:.4g}, {change}: ")
    if beats:
        return head + "the network beats it", True
    return head + ("the network does not beat it, so it has learned nothing the last value does not already say; "
                   "give it a longer window, features that lead the series, or fewer epochs (it may be "
                   "memorising)"), False


def with_naive(verdict: Verdict | None, test: dict[str, float], naive: dict[str, float]) -> Verdict | None:
    """The verdict with the naive comparison added: a network that does not beat it is judged by that first."""
    said = comparison(test, naive) if naive else None
    if said is None:
        return verdict
    sentence, beats = said
    if verdict is None:
        return Verdict("beats the naive forecast" if beats else "no better than naive", sentence)
    if not beats:
        return Verdict("no better than naive", f"{sentence}. The curves: {verdict.kind}: {verdict.advice}",
                       verdict.epoch)
    return Verdict(verdict.kind, f"{verdict.advice}; {sentence}", verdict.epoch)


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
