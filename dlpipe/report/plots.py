"""Report figures with matplotlib, returned as base64 PNG for embedding in HTML.

Figures are built with the object-oriented API (Figure + the Agg canvas), never pyplot:
the process-wide backend and figure registry stay as the user (say, a notebook) set them.
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib
import matplotlib.image
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

TRAIN, VAL, TEST, TRUE, MODEL = "#1f77b4", "#ff7f0e", "#2ca02c", "#444444", "#d62728"


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


def to_pngs(fig: Figure) -> list[str]:
    """Each panel of a figure as its own base64 PNG (a colorbar stays with its panel), from one draw.

    The page lays the panels out in a grid that reflows to one column on a phone, so every
    panel keeps a legible size instead of one wide image shrinking as a whole.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    height, width = pixels.shape[:2]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    groups = {id(ax): [ax] for ax in axes if not hasattr(ax, "_colorbar")}
    for bar in (ax for ax in axes if hasattr(ax, "_colorbar")):
        owner = min(groups.values(), key=lambda g: abs(g[0].get_position().x1 - bar.get_position().x0))
        owner.append(bar)
    pngs = []
    for group in groups.values():
        box = Bbox.union([ax.get_tightbbox(renderer) for ax in group]).padded(6)
        x0, x1 = max(int(box.x0), 0), min(int(math.ceil(box.x1)), width)
        y0, y1 = max(height - int(math.ceil(box.y1)), 0), min(height - int(box.y0), height)
        buffer = io.BytesIO()
        matplotlib.image.imsave(buffer, pixels[y0:y1, x0:x1], format="png")
        pngs.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return pngs


def epoch_axis(ax) -> None:
    """Label the x axis 'epoch', with whole-number ticks only (no epoch 1.25)."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def finite(values: list[float]) -> np.ndarray:
    """The values with NaN and inf as gaps (NaN), so the axes scale to what can be drawn."""
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, np.nan)


def _first_non_finite(*series: list[float]) -> int | None:
    """The index of the first epoch where any series is NaN or infinite."""
    bad = [int(np.argmax(~np.isfinite(np.asarray(s, dtype=float)))) for s in series
           if not np.isfinite(np.asarray(s, dtype=float)).all()]
    return min(bad) if bad else None


def _wants_log(*series: list[float]) -> bool:
    """Log scale when the finite positive values span more than a decade."""
    values = [v for s in series for v in s if v is not None and math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10


def learning_curves(history: dict[str, list[float]], best_epoch: int | None = None) -> str:
    """Loss (and accuracy, for classifiers) against epoch and against wall-clock seconds, as one PNG (notebooks)."""
    return to_png(curves_figure(history, best_epoch))


def curves_figure(history: dict[str, list[float]], best_epoch: int | None = None,
                  diverged_at: tuple[int, int, int] | None = None) -> Figure:
    """The learning curves as a figure; NaN and inf are gaps, and the epoch they start at is marked.

    diverged_at (epoch, batch, batches per epoch): the batch whose loss was NaN or inf, marked on the epoch axis
    at its fraction of the epoch.
    """
    rows = [("loss", "train_loss", "val_loss")]
    if "train_accuracy" in history and "val_accuracy" in history:
        rows.append(("accuracy", "train_accuracy", "val_accuracy"))
    fig, axes = subplots(len(rows), 2, figsize=(11, 3.8 * len(rows)), squeeze=False)
    for (label, train_key, val_key), pair in zip(rows, axes):
        log = label == "loss" and _wants_log(history[train_key], history[val_key])
        broken = _first_non_finite(history[train_key], history[val_key])
        for ax, x_key, x_label in ((pair[0], "epoch", "epoch"), (pair[1], "time", "wall time (s)")):
            marker = "o" if len(history[x_key]) <= 30 else None
            ax.plot(history[x_key], finite(history[train_key]), color=TRAIN, marker=marker, ms=3, label=f"train {label}")
            ax.plot(history[x_key], finite(history[val_key]), color=VAL, marker=marker, ms=3,
                    label=f"validation {label}")
            if broken is not None:  # plot what is finite, and say where it stopped being
                at, where = history[x_key][broken], f"epoch {broken + 1}"
                if diverged_at and diverged_at[0] == broken + 1:
                    where = f"epoch {diverged_at[0]}, batch {diverged_at[1]} of {diverged_at[2]}"
                    at = broken + diverged_at[1] / diverged_at[2] if x_key == "epoch" else at
                ax.axvline(at, color=MODEL, lw=1.5, label=f"{label} NaN or inf ({where})")
                if broken == 0:  # nothing finite to draw: say so instead of leaving empty axes
                    ax.text(0.5, 0.5, f"no finite {label} to draw: it was NaN or inf from epoch 1",
                            transform=ax.transAxes, ha="center", va="center", fontsize=11, color=MODEL)
            if best_epoch is not None and best_epoch <= len(history[x_key]):
                ax.axvline(history[x_key][best_epoch - 1], color="#2e7d32", ls="--", lw=1,
                           label=f"best epoch ({best_epoch})")
            if x_key == "epoch":
                epoch_axis(ax)
            else:
                ax.set_xlabel(x_label)
            ax.set_ylabel(label + (" (log scale)" if log else ""))
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend()
            ax.set_title(f"{label.capitalize()} by {'epoch' if x_key == 'epoch' else 'wall time'}")
    fig.tight_layout()
    return fig


def lr_curve(history: dict[str, list[float]]) -> list[str] | None:
    """The learning rate each epoch started with; None when it never changed."""
    if len(set(history.get("lr", []))) <= 1:
        return None
    fig, ax = subplots(figsize=(5.5, 2.8))
    ax.plot(history["epoch"], history["lr"], color="#6a1b9a", marker="o" if len(history["lr"]) <= 30 else None, ms=3)
    epoch_axis(ax)
    ax.set_ylabel("learning rate")
    if _wants_log(history["lr"]) and max(history["lr"]) / min(history["lr"]) > 100:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_pngs(fig)


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


def metric_curves(history: dict[str, list[float]]) -> list[str] | None:
    """One small panel per validation metric (or group of metrics) against epoch."""
    panels = metric_panels(history)
    if not panels:
        return None
    fig, axes = subplots(1, len(panels), figsize=(2.9 * len(panels) + 0.5, 2.8), squeeze=False)
    colours = (VAL, TRAIN, TEST)
    for ax, keys in zip(axes[0], panels):
        marker = "o" if len(history["epoch"]) <= 30 else None  # a single epoch is a point, not a line
        for key, colour in zip(keys, colours):
            ax.plot(history["epoch"], finite(history[key]), color=colour, marker=marker, ms=3,
                    label=key.removeprefix("val_"))
        if len(keys) == 1 and keys[0] != "val_r2" and _wants_log(history[keys[0]]):
            ax.set_yscale("log")
        ax.set_title(", ".join(k.removeprefix("val_") for k in keys) + " (validation)")
        if len(keys) > 1:
            ax.legend(fontsize=8)
        epoch_axis(ax)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_pngs(fig)


def overlay_curves(runs: list[tuple[str, dict[str, list[float]]]]) -> list[str] | None:
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
            ax.plot(history[key], finite(history["val_loss"]), color=colour, ms=3, label=label,
                    marker="o" if len(history[key]) <= 30 else None)  # a one-epoch run is a point
            ax.plot(history[key], finite(history["train_loss"]), color=colour, ls=":", alpha=0.8)
    for ax, title, xlabel in ((axes[0], "Loss by epoch", "epoch"), (axes[1], "Loss by wall time", "wall time (s)")):
        ax.set_title(title + " (solid: validation, dotted: train)", fontsize=10)
        if xlabel == "epoch":
            epoch_axis(ax)
        else:
            ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return to_pngs(fig)
