"""Figures of what the trained model does: the 1-D fit, predicted vs true, the confusion matrix, mistakes.

The learning-curve figures are in plots.py, with the shared helpers (subplots, to_png, to_pngs, colours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from dlpipe.report.plots import MODEL, TEST, TRAIN, TRUE, VAL, subplots, to_png, to_pngs


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
    matrix: np.ndarray  # counts, rows = true class, columns = predicted
    per_class: list[dict]  # name, precision, recall, f1, support
    confusions: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    examples: list[tuple[np.ndarray, str, str, float]]  # (HxW or HxWx3 uint8 image, true, predicted, confidence)


def regression_fit(curve: FitCurve) -> list[str]:
    """The samples, the true function and the model's prediction across the x range."""
    return to_pngs(fit_figure(curve))


def fit_figure(curve: FitCurve) -> Figure:
    """The fit as a figure: the dashed true function is drawn over the prediction, so both stay visible."""
    fig, ax = subplots(figsize=(11, 4.2))
    colours = {"train": TRAIN, "validation": VAL, "test": TEST}
    for name, (x, y) in curve.points.items():
        ax.scatter(x, y, s=6, alpha=0.35, color=colours[name], label=f"{name} samples ({len(x)})", zorder=1)
    ax.plot(curve.grid, curve.prediction, color=MODEL, lw=3.5, alpha=0.8, label="model prediction", zorder=2)
    if curve.truth is not None:
        ax.plot(curve.grid, curve.truth, color=TRUE, lw=1.8, ls=(0, (6, 4)), label="true function", zorder=3)
    ys = np.concatenate([y for _, y in curve.points.values()] + ([curve.truth] if curve.truth is not None else []))
    low, high = float(np.nanmin(ys)), float(np.nanmax(ys))
    margin = 0.1 * (high - low or 1.0)
    leaves = not np.all((curve.prediction >= low - margin) & (curve.prediction <= high + margin))
    ax.set_ylim(low - margin, high + margin)  # the data's range: a runaway prediction must not flatten it
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    ax.set_title("Regression fit" + (" (the prediction leaves the data's range: clipped)" if leaves else ""))
    fig.tight_layout()
    return fig


def predicted_vs_true(p: Predictions) -> list[str]:
    """Predicted against true with the identity line, and the residuals against the prediction."""
    fig, (left, right) = subplots(1, 2, figsize=(11, 4.4))
    low, high = float(min(p.true.min(), p.predicted.min())), float(max(p.true.max(), p.predicted.max()))
    left.scatter(p.true, p.predicted, s=10, alpha=0.6, color=TEST, label=f"test samples ({len(p.true)})")
    left.plot([low, high], [low, high], color=TRUE, ls="--", lw=1.5, label="perfect prediction")
    left.set(xlabel=f"true {p.target}", ylabel=f"predicted {p.target}", title="Predicted vs true (test)")
    left.legend(loc="best", fontsize=9)
    residual = p.predicted - p.true
    right.scatter(p.predicted, residual, s=10, alpha=0.6, color=MODEL)
    right.axhline(0.0, color=TRUE, ls="--", lw=1.5)
    right.set(xlabel=f"predicted {p.target}", ylabel="prediction - true",
              title=f"Residuals (mean {residual.mean():.3g}, std {residual.std():.3g})")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_pngs(fig)


CELL_FONT = 11  # points: >= 11 px on a 1280 px page, where the figure is shown at ~0.8 of its size


def confusion_heatmaps(report: ClassReport) -> list[str]:
    """The confusion matrix twice: counts, and the errors alone as shares of each true class."""
    return to_pngs(confusion_figure(report))


def confusion_figure(report: ClassReport) -> Figure:
    """Counts (blue), and each row's errors in their own red scale with the diagonal masked, so that the
    confusions - the point of the figure - are not washed out by the correct predictions."""
    counts = report.matrix
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(report.classes)
    size = max(5.0, 0.5 * n + 1.5)
    fig, axes = subplots(1, 2, figsize=(2 * size + 1, size))
    labels = [c if len(c) <= 10 else c[:9] + "." for c in report.classes]
    errors = np.ma.masked_where(np.eye(n, dtype=bool), rates)
    panels = ((axes[0], counts, "Counts", "d", "Blues", None),
              (axes[1], errors, "Errors: share of each true class (diagonal: recall)", ".1%", "Reds",
               max(float(errors.max() or 0.0), 0.01)))
    for ax, values, title, fmt, cmap, top in panels:
        image = ax.imshow(values, cmap=cmap, vmin=0, vmax=top)
        ax.set_title(title, fontsize=12)
        ax.set_xlabel("predicted", fontsize=CELL_FONT)
        ax.set_ylabel("true", fontsize=CELL_FONT)
        long = max(len(label) for label in labels) > 6  # short names need no tilt
        ax.set_xticks(range(n), labels, rotation=30 if long else 0, ha="right" if long else "center",
                      fontsize=CELL_FONT)
        ax.set_yticks(range(n), labels, fontsize=CELL_FONT)
        if n <= 20:
            _cell_numbers(ax, counts if fmt == "d" else rates, fmt, values)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def _cell_numbers(ax, shown: np.ndarray, fmt: str, coloured) -> None:
    """Each non-zero cell's number, white on dark cells; the masked diagonal's recall in grey."""
    top = float(coloured.max() or 1.0)
    for (i, j), value in np.ndenumerate(shown):
        if value < 0.005:  # blank zeros: the few real confusions stand out
            continue
        masked = np.ma.is_masked(coloured[i, j])
        colour = "#777777" if masked else ("white" if float(coloured[i, j]) > top / 2 else "black")
        ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=CELL_FONT, color=colour)


def misclassified_grid(report: ClassReport, columns: int = 8) -> str | None:
    """The most confidently wrong test images, each titled with truth, prediction and confidence."""
    if not report.examples:
        return None
    rows = -(-len(report.examples) // columns)
    fig, axes = subplots(rows, columns, figsize=(1.45 * columns, 2.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image, true, predicted, confidence) in zip(axes.flat, report.examples):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"true {true}\npred {predicted} {confidence:.0%}", fontsize=9, color="#b71c1c")  # >= 11 px
    fig.tight_layout()
    return to_png(fig)
