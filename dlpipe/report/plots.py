"""Report figures with matplotlib, returned as base64 PNG for embedding in HTML.

Figures are built with the object-oriented API (Figure + the Agg canvas), never pyplot:
the process-wide backend and figure registry stay as the user (say, a notebook) set them.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TRAIN, VAL, TEST, TRUE, MODEL = "#1f77b4", "#ff7f0e", "#2ca02c", "#444444", "#d62728"


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


def subplots(rows: int = 1, columns: int = 1, figsize=(6.4, 4.8), squeeze: bool = True):
    """A figure on its own Agg canvas (no pyplot, no global state) and its axes."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=squeeze)


def to_png(fig: Figure) -> str:
    """Render a figure; base64 PNG text for a data: URL."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _wants_log(*series: list[float]) -> bool:
    """Log scale when the finite positive values span more than a decade."""
    values = [v for s in series for v in s if v is not None and math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10


def learning_curves(history: dict[str, list[float]], best_epoch: int | None = None) -> str:
    """Loss (and accuracy, for classifiers) against epoch and against wall-clock seconds; the best epoch marked."""
    rows = [("loss", "train_loss", "val_loss")]
    if "train_accuracy" in history and "val_accuracy" in history:
        rows.append(("accuracy", "train_accuracy", "val_accuracy"))
    fig, axes = subplots(len(rows), 2, figsize=(11, 3.8 * len(rows)), squeeze=False)
    for (label, train_key, val_key), pair in zip(rows, axes):
        log = label == "loss" and _wants_log(history[train_key], history[val_key])
        for ax, x_key, x_label in ((pair[0], "epoch", "epoch"), (pair[1], "time", "wall time (s)")):
            marker = "o" if len(history[x_key]) <= 30 else None
            ax.plot(history[x_key], history[train_key], color=TRAIN, marker=marker, ms=3, label=f"train {label}")
            ax.plot(history[x_key], history[val_key], color=VAL, marker=marker, ms=3, label=f"validation {label}")
            if best_epoch is not None and best_epoch <= len(history[x_key]):
                ax.axvline(history[x_key][best_epoch - 1], color="#2e7d32", ls="--", lw=1,
                           label=f"best epoch ({best_epoch})")
            ax.set_xlabel(x_label)
            ax.set_ylabel(label + (" (log scale)" if log else ""))
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend()
            ax.set_title(f"{label.capitalize()} by {'epoch' if x_key == 'epoch' else 'wall time'}")
    fig.tight_layout()
    return to_png(fig)


def lr_curve(history: dict[str, list[float]]) -> str | None:
    """The learning rate each epoch started with; None when it never changed."""
    if len(set(history.get("lr", []))) <= 1:
        return None
    fig, ax = subplots(figsize=(5.5, 2.8))
    ax.plot(history["epoch"], history["lr"], color="#6a1b9a", marker="o" if len(history["lr"]) <= 30 else None, ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    if _wants_log(history["lr"]) and max(history["lr"]) / min(history["lr"]) > 100:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


SHARED_PANELS = (("val_precision", "val_recall", "val_f1"),)  # metrics that move together: one panel, one line each


def metric_panels(history: dict[str, list[float]]) -> list[list[str]]:
    """The validation metrics to plot, grouped into panels (precision, recall and F1 share one)."""
    keys = [k for k in history if k.startswith("val_") and k not in ("val_loss", "val_accuracy")]
    panels: list[list[str]] = []
    for key in keys:
        group = next((g for g in SHARED_PANELS if key in g), None)
        panel = next((p for p in panels if group and p[0] in group), None)
        if panel is not None:
            panel.append(key)
        else:
            panels.append([key])
    return panels


def metric_curves(history: dict[str, list[float]]) -> str | None:
    """One small panel per validation metric (or group of metrics) against epoch."""
    panels = metric_panels(history)
    if not panels:
        return None
    fig, axes = subplots(1, len(panels), figsize=(2.9 * len(panels) + 0.5, 2.8), squeeze=False)
    colours = (VAL, TRAIN, TEST)
    for ax, keys in zip(axes[0], panels):
        for key, colour in zip(keys, colours):
            ax.plot(history["epoch"], history[key], color=colour, label=key.removeprefix("val_"))
        if len(keys) == 1 and keys[0] != "val_r2" and _wants_log(history[keys[0]]):
            ax.set_yscale("log")
        ax.set_title(", ".join(k.removeprefix("val_") for k in keys) + " (validation)")
        if len(keys) > 1:
            ax.legend(fontsize=8)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def regression_fit(curve: FitCurve) -> str:
    """The samples, the true function and the model's prediction across the x range."""
    return to_png(fit_figure(curve))


def fit_figure(curve: FitCurve) -> Figure:
    """The fit as a figure: the dashed true function is drawn over the prediction, so both stay visible."""
    fig, ax = subplots(figsize=(11, 4.2))
    colours = {"train": TRAIN, "validation": VAL, "test": TEST}
    for name, (x, y) in curve.points.items():
        ax.scatter(x, y, s=6, alpha=0.35, color=colours[name], label=f"{name} samples ({len(x)})", zorder=1)
    ax.plot(curve.grid, curve.prediction, color=MODEL, lw=3.5, alpha=0.8, label="model prediction", zorder=2)
    if curve.truth is not None:
        ax.plot(curve.grid, curve.truth, color=TRUE, lw=1.8, ls=(0, (6, 4)), label="true function", zorder=3)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    ax.set_title("Regression fit")
    fig.tight_layout()
    return fig


def predicted_vs_true(p: Predictions) -> str:
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
    return to_png(fig)


def confusion_heatmaps(report: ClassReport) -> str:
    """The confusion matrix twice: counts, and each row divided by its total (recall on the diagonal)."""
    counts = report.matrix
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(report.classes)
    size = max(5.0, 0.5 * n + 1.5)
    fig, axes = subplots(1, 2, figsize=(2 * size + 1, size))
    labels = [c if len(c) <= 10 else c[:9] + "." for c in report.classes]
    for ax, values, title, fmt in ((axes[0], counts, "Counts", "d"), (axes[1], rates, "Share of each true class", ".2f")):
        image = ax.imshow(values, cmap="Blues")
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
        if n <= 20:
            threshold = values.max() / 2
            for (i, j), value in np.ndenumerate(values):
                if value >= 0.005:  # blank zeros: the few real confusions stand out
                    ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=7,
                            color="white" if value > threshold else "black")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return to_png(fig)


def misclassified_grid(report: ClassReport, columns: int = 8) -> str | None:
    """The most confidently wrong test images, each titled with truth, prediction and confidence."""
    if not report.examples:
        return None
    rows = -(-len(report.examples) // columns)
    fig, axes = subplots(rows, columns, figsize=(1.45 * columns, 1.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image, true, predicted, confidence) in zip(axes.flat, report.examples):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"true {true}\npred {predicted} {confidence:.1%}", fontsize=7.5, color="#b71c1c")
    fig.tight_layout()
    return to_png(fig)


def overlay_curves(runs: list[tuple[str, dict[str, list[float]]]]) -> str | None:
    """Validation (solid) and training (dotted) loss of several runs, by epoch and by wall time."""
    runs = [(label, h) for label, h in runs if h.get("epoch")]
    if not runs:
        return None
    fig, axes = subplots(1, 2, figsize=(11, 4))
    log = _wants_log(*(h["val_loss"] for _, h in runs), *(h["train_loss"] for _, h in runs))
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for number, (label, history) in enumerate(runs):
        colour = colours[number % len(colours)]
        for ax, key in ((axes[0], "epoch"), (axes[1], "time")):
            ax.plot(history[key], history["val_loss"], color=colour, label=f"{number + 1}: {label}")
            ax.plot(history[key], history["train_loss"], color=colour, ls=":", alpha=0.8)
    for ax, title, xlabel in ((axes[0], "Loss by epoch", "epoch"), (axes[1], "Loss by wall time", "wall time (s)")):
        ax.set_title(title + " (solid: validation, dotted: train)", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)
