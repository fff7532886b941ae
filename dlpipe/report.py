"""Report stage: one self-contained HTML file per run (figures inlined, no external URL).

The page is rendered by Jinja2 with autoescaping on, so every string that came
from the YAML (name, description, the resolved file) is HTML-escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2

from dlpipe import __version__, plots
from dlpipe.archive import history_csv, write_atomic, write_json
from dlpipe.model import Summary
from dlpipe.runs import headline
from dlpipe.verdict import Verdict


@dataclass(frozen=True)
class RunRecord:
    """Everything a report shows, as plain values (no torch objects)."""

    name: str
    description: str
    status: str
    message: str
    started: datetime
    duration_s: float
    device: str
    seed: int
    source: str
    resolved_yaml: str
    history: dict[str, list[float]]
    loss_name: str = "loss"
    test_metrics: dict[str, float] = field(default_factory=dict)
    summary: Summary | None = None
    fit_curve: plots.FitCurve | None = None
    learned: list[dict] = field(default_factory=list)
    classes: plots.ClassReport | None = None
    best_epoch: int | None = None
    evaluated_epoch: int | None = None
    task: str = "regression"
    verdict: Verdict | None = None
    environment: dict = field(default_factory=dict)
    resumed_after: int | None = None


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dlpipe", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _figures(record: RunRecord) -> list[tuple[str, str]]:
    """(title, base64 PNG) for every figure this run can show."""
    figures = []
    if record.history.get("epoch"):
        figures.append(("Learning curves", plots.learning_curves(record.history, record.best_epoch)))
        lr = plots.lr_curve(record.history)
        if lr:
            figures.append(("Learning rate", lr))
        metrics = plots.metric_curves(record.history)
        if metrics:
            figures.append(("Validation metrics by epoch", metrics))
    if record.classes is not None:
        figures.append(("Confusion matrix (test)", plots.confusion_heatmaps(record.classes)))
    if record.fit_curve is not None:
        figures.append(("Data, true function and model prediction", plots.regression_fit(record.fit_curve)))
    return figures


def render(record: RunRecord) -> str:
    """The report's HTML text."""
    template = _environment().get_template("report.html")
    grid = plots.misclassified_grid(record.classes) if record.classes else None
    return template.render(r=record, figures=_figures(record), mistakes=grid, version=__version__,
                           duration=_duration(record.duration_s), started=record.started.strftime("%Y-%m-%d %H:%M:%S UTC"))


def write_report(record: RunRecord, run_dir: Path) -> Path:
    """Render and write report.html atomically; returns its path."""
    path = run_dir / "report.html"
    write_atomic(path, render(record))
    return path


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:.1f} s" if minutes else f"{secs:.1f} s"


def write_metrics(run_dir: Path, record: RunRecord) -> None:
    """metrics.json and history.csv beside the report."""
    write_json(run_dir / "metrics.json", {
        "name": record.name, "task": record.task, "status": record.status, "message": record.message,
        "verdict": {"kind": record.verdict.kind, "advice": record.verdict.advice, "epoch": record.verdict.epoch}
        if record.verdict else None,
        "headline": headline(record.task, record.test_metrics),
        "started": record.started.isoformat(), "duration_s": record.duration_s, "device": record.device,
        "seed": record.seed, "epochs_run": len(record.history.get("epoch", [])), "best_epoch": record.best_epoch,
        "test": record.test_metrics, "learned": record.learned,
        "evaluated_epoch": record.evaluated_epoch,
        "validation": {k: v[record.evaluated_epoch - 1] for k, v in record.history.items()
                       if k.startswith("val_") and record.evaluated_epoch},
        **({"per_class": record.classes.per_class, "classes": list(record.classes.classes),
            "confusion_matrix": record.classes.matrix.tolist()} if record.classes else {}),
        "environment": record.environment,
        "distributed": record.environment.get("distributed"),
    })
    if record.history:
        write_atomic(run_dir / "history.csv", history_csv(record.history))
