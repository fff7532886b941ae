"""The learning-curve charts of a run (loss and accuracy, learning rate, validation metrics), as inline SVG.

Shared by the final report, the live report and notebooks (History's HTML view). NaN and
inf are gaps, and the epoch they start at is marked, so a diverged run still shows what
it learned before.
"""

from __future__ import annotations

import math

from dlpipe.report.svg import Chart, Line, Rule

TRAIN, VAL, TEST, TRUE, MODEL = "#1f77b4", "#ff7f0e", "#2ca02c", "#444444", "#d62728"
BEST, LR = "#2e7d32", "#6a1b9a"
SHARED_PANELS = (("val_precision", "val_recall", "val_f1"),)  # metrics that move together: one panel, one line each


def wants_log(*series: list[float]) -> bool:
    """Log scale when the finite positive values span more than a decade."""
    values = [v for s in series for v in s if v is not None and math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10


def first_non_finite(*series: list[float]) -> int | None:
    """The index of the first epoch where any series is NaN or infinite."""
    bad = [next(i for i, v in enumerate(s) if not math.isfinite(v)) for s in series
           if not all(math.isfinite(v) for v in s)]
    return min(bad) if bad else None


def learning_curves(history: dict[str, list[float]], best_epoch: int | None = None,
                    diverged_at: tuple[int, int, int] | None = None) -> list[str]:
    """The learning-curve charts' SVG text (see learning_charts)."""
    return [chart.svg() for chart in learning_charts(history, best_epoch, diverged_at)]


def learning_charts(history: dict[str, list[float]], best_epoch: int | None = None,
                    diverged_at: tuple[int, int, int] | None = None) -> list[Chart]:
    """Loss (and accuracy, for classifiers) by epoch and by wall time: two or four charts.

    diverged_at (epoch, batch, batches per epoch): the batch whose loss was NaN or inf, marked on the epoch
    axis at its fraction of the epoch.
    """
    rows = [("loss", "train_loss", "val_loss")]
    if "train_accuracy" in history and "val_accuracy" in history:
        rows.append(("accuracy", "train_accuracy", "val_accuracy"))
    charts = []
    for label, train_key, val_key in rows:
        log = label == "loss" and wants_log(history[train_key], history[val_key])
        broken = first_non_finite(history[train_key], history[val_key])
        for x_key in ("epoch", "time"):
            xs, markers = history[x_key], len(history[x_key]) <= 30
            lines = [Line(f"train {label}", TRAIN, xs, history[train_key], markers=markers),
                     Line(f"validation {label}", VAL, xs, history[val_key], markers=markers)]
            rules, note = [], ""
            if broken is not None:  # draw what is finite, and say where it stopped being
                at, where = xs[broken], f"epoch {broken + 1}"
                if diverged_at and diverged_at[0] == broken + 1:
                    where = f"epoch {diverged_at[0]}, batch {diverged_at[1]} of {diverged_at[2]}"
                    at = broken + diverged_at[1] / diverged_at[2] if x_key == "epoch" else at
                rules.append(Rule(at, f"{label} NaN or inf ({where})", MODEL))
                note = f"no finite {label}: NaN or inf from epoch 1" if broken == 0 else ""
            if best_epoch is not None and best_epoch <= len(xs):
                rules.append(Rule(xs[best_epoch - 1], f"best epoch ({best_epoch})", BEST, dash="6 4"))
            by = "epoch" if x_key == "epoch" else "wall time"
            charts.append(Chart(f"{label.capitalize()} by {by}", lines, rules, note=note, log=log, y_label=label,
                                x_label="epoch" if x_key == "epoch" else "wall time (s)",
                                integer_x=x_key == "epoch"))
    return charts


def lr_chart(history: dict[str, list[float]]) -> list[str] | None:
    """The learning rate each epoch started with; None when it never changed."""
    if len(set(history.get("lr", []))) <= 1:
        return None
    lr = history["lr"]
    log = wants_log(lr) and max(lr) / min(lr) > 100
    line = Line("", LR, history["epoch"], lr, markers=len(lr) <= 30)
    return [Chart("Learning rate by epoch", [line], y_label="learning rate", log=log, integer_x=True).svg()]


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


def metric_charts(history: dict[str, list[float]]) -> list[str] | None:
    """One chart per validation metric (or group of metrics) against epoch."""
    panels = metric_panels(history)
    if not panels:
        return None
    charts = []
    for keys in panels:
        markers = len(history["epoch"]) <= 30  # a single epoch is a point, not a line
        lines = [Line(key.removeprefix("val_") if len(keys) > 1 else "", colour, history["epoch"], history[key],
                      markers=markers) for key, colour in zip(keys, (VAL, TRAIN, TEST))]
        log = len(keys) == 1 and keys[0] != "val_r2" and wants_log(history[keys[0]])
        title = ", ".join(k.removeprefix("val_") for k in keys) + " (validation)"
        charts.append(Chart(title, lines, log=log, integer_x=True).svg())
    return charts


def history_html(history: dict[str, list[float]]) -> str:
    """The learning curves for a notebook: the charts side by side, wrapping on a narrow screen."""
    charts = learning_curves(history)
    return ('<div style="display:flex;flex-wrap:wrap;gap:8px">' +
            "".join(f'<div style="flex:1 1 360px;max-width:540px">{chart}</div>' for chart in charts) + "</div>")
