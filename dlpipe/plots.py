"""Report figures with matplotlib (Agg), returned as base64 PNG for embedding in HTML."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless: never open a window, never need a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

TRAIN, VAL, TEST, TRUE, MODEL = "#1f77b4", "#ff7f0e", "#2ca02c", "#444444", "#d62728"


@dataclass(frozen=True)
class FitCurve:
    """What a 1-D regression plot needs: samples per split, the true function and the model on a grid."""

    points: dict[str, tuple[np.ndarray, np.ndarray]]
    grid: np.ndarray
    truth: np.ndarray | None
    prediction: np.ndarray


def to_png(fig) -> str:
    """Render and close a figure; base64 PNG text for a data: URL."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _wants_log(*series: list[float]) -> bool:
    """Log scale when the finite positive values span more than a decade."""
    values = [v for s in series for v in s if v is not None and math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10


def learning_curves(history: dict[str, list[float]]) -> str:
    """Train and validation loss against epoch and against wall-clock seconds."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    log = _wants_log(history["train_loss"], history["val_loss"])
    for ax, key, label in ((axes[0], "epoch", "epoch"), (axes[1], "time", "wall time (s)")):
        marker = "o" if len(history[key]) <= 30 else None
        ax.plot(history[key], history["train_loss"], color=TRAIN, marker=marker, ms=3, label="train loss")
        ax.plot(history[key], history["val_loss"], color=VAL, marker=marker, ms=3, label="validation loss")
        ax.set_xlabel(label)
        ax.set_ylabel("loss" + (" (log scale)" if log else ""))
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_title("Loss by epoch")
    axes[1].set_title("Loss by wall time")
    fig.tight_layout()
    return to_png(fig)


def metric_curves(history: dict[str, list[float]]) -> str | None:
    """One small panel per validation metric against epoch."""
    keys = [k for k in history if k.startswith("val_") and k != "val_loss"]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(2.9 * len(keys) + 0.5, 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(history["epoch"], history[key], color=VAL)
        if key != "val_r2" and _wants_log(history[key]):
            ax.set_yscale("log")
        ax.set_title(key.removeprefix("val_") + " (validation)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def regression_fit(curve: FitCurve) -> str:
    """The samples, the true function and the model's prediction across the x range."""
    fig, ax = plt.subplots(figsize=(11, 4.2))
    colours = {"train": TRAIN, "validation": VAL, "test": TEST}
    for name, (x, y) in curve.points.items():
        ax.scatter(x, y, s=6, alpha=0.35, color=colours[name], label=f"{name} samples ({len(x)})")
    if curve.truth is not None:
        ax.plot(curve.grid, curve.truth, color=TRUE, lw=2, ls="--", label="true function")
    ax.plot(curve.grid, curve.prediction, color=MODEL, lw=2, label="model prediction")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    ax.set_title("Regression fit")
    fig.tight_layout()
    return to_png(fig)
