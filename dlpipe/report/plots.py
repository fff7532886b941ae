"""Figures with matplotlib, returned as base64 PNG: the comparison and sweep pages (a run's report is SVG).

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

from dlpipe.report.charts import wants_log as _wants_log  # one rule for every chart


def subplots(rows: int = 1, columns: int = 1, figsize=(6.4, 4.8), squeeze: bool = True):
    """A figure on its own Agg canvas (no pyplot, no global state) and its axes."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=squeeze)


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
