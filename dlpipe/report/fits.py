"""What the trained model does, as inline SVG: the 1-D fit, and predicted vs true with the residuals.

The confusion matrix and the mistakes are in classes.py, the learning curves in charts.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlpipe.report.charts import MODEL, TEST, TRAIN, TRUE, VAL
from dlpipe.report.svg import Chart, Line, Rule

MAX_POINTS = 2000  # per cloud: the shape of 100,000 points shows in 2,000, and the page stays small


@dataclass(frozen=True)
class FitCurve:
    """What a 1-D regression plot needs: samples per split, the true function and the model on a grid."""

    points: dict[str, tuple[np.ndarray, np.ndarray]]
    grid: np.ndarray
    truth: np.ndarray | None
    prediction: np.ndarray


@dataclass(frozen=True)
class Predictions:
    """A regression's test predictions against the true values, in the target's own units."""

    true: np.ndarray
    predicted: np.ndarray
    target: str = "y"


@dataclass(frozen=True)
class ClassReport:
    """Test-set view of a classifier: confusion matrix, per-class scores, worst confusions, mistakes."""

    classes: tuple[str, ...]
    matrix: np.ndarray | None  # counts, rows = true class, columns = predicted; None beyond MAX_MATRIX classes
    per_class: list[dict]  # name, precision, recall, f1, support
    confusions: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    examples: list[tuple[np.ndarray, str, str, float]]  # (HxW or HxWx3 uint8 image, true, predicted, confidence)
    pairs: np.ndarray | None = None  # (true, predicted, count) of every pair that happened, mistakes first
    saliency: list[np.ndarray] | None = None  # per example, HxW uint8: dark where the predicted class's score is
    #                                           most sensitive to the pixel (report/insights.saliency)


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    """At most MAX_POINTS evenly spaced samples of equally long arrays, as lists."""
    step = max(1, -(-len(arrays[0]) // MAX_POINTS))
    return [np.asarray(a, dtype=float)[::step].tolist() for a in arrays]


def regression_fit(curve: FitCurve) -> list[str]:
    """The samples, the true function and the model's prediction across the x range (one chart)."""
    return [fit_chart(curve).svg()]


def fit_chart(curve: FitCurve) -> Chart:
    """The fit: the dashed true function is drawn over the prediction, so both stay visible."""
    colours = {"train": TRAIN, "validation": VAL, "test": TEST}
    lines = [Line(f"{name} samples ({len(x)})", colours[name], *_thin(x, y), radius=2.0, opacity=0.35)
             for name, (x, y) in curve.points.items()]
    ys = np.concatenate([y for _, y in curve.points.values()] + ([curve.truth] if curve.truth is not None else []))
    low, high = float(np.nanmin(ys)), float(np.nanmax(ys))
    margin = 0.1 * (high - low or 1.0)
    inside = (curve.prediction >= low - margin) & (curve.prediction <= high + margin)
    shown = np.where(inside, curve.prediction, np.nan)  # a runaway prediction is a gap, not a wall at the frame
    lines.append(Line("model prediction", MODEL, *_thin(curve.grid, shown), width=4.0, opacity=0.8))
    if curve.truth is not None:
        lines.append(Line("true function", TRUE, *_thin(curve.grid, curve.truth), width=2.0, dash="6 4"))
    leaves = not np.all(inside)
    title = "Regression fit" + (" (a runaway prediction: not drawn)" if leaves else "")
    # the data's range: a runaway prediction must not flatten the data
    return Chart(title, lines, x_label="x", y_label="y", ylim=(low - margin, high + margin))


def predicted_vs_true(p: Predictions, where: str = "test") -> list[str]:
    """Predicted against true with the identity line, and the residuals against the prediction (where: which
    samples, said in the title)."""
    low, high = float(min(p.true.min(), p.predicted.min())), float(max(p.true.max(), p.predicted.max()))
    true, predicted = _thin(p.true, p.predicted)
    left = Chart(f"Predicted vs true ({where})", [
        Line(f"{where} samples ({len(p.true)})", TEST, true, predicted, radius=2.5, opacity=0.6),
        Line("perfect prediction", TRUE, [low, high], [low, high], dash="6 4")],
        x_label=f"true {p.target}", y_label=f"predicted {p.target}")
    residual = p.predicted - p.true
    right = Chart(f"Residuals (mean {residual.mean():.3g}, std {residual.std():.3g})", [
        Line("", MODEL, *_thin(p.predicted, residual), radius=2.5, opacity=0.6)],
        [Rule(0.0, "", TRUE, dash="6 4", vertical=False)], x_label=f"predicted {p.target}", y_label="prediction - true")
    return [left.svg(), right.svg()]
