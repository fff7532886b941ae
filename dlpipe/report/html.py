"""The run report: one self-contained HTML file per run (figures inlined as SVG, no external URL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlpipe.archive.files import table_csv, write_atomic, write_json
from dlpipe.archive.record import RunRecord
from dlpipe.engine.baselines import BASELINES
from dlpipe.model.network import Summary
from dlpipe.report import calibration, charts, classes, fits, forecast, importance, threshold
from dlpipe.report.advice import Settings, command
from dlpipe.report.network import network_charts
from dlpipe.report.pages import render_page
from dlpipe.report.drawing import drawing
from dlpipe.report.svg import CHARTS_FILE
from dlpipe.report.words import Words


@dataclass
class Insights:
    """What the report shows beyond the record: the model summary and views of the trained model."""

    summary: Summary | None = None
    fit_curve: fits.FitCurve | None = None
    classes: fits.ClassReport | None = None
    predictions: fits.Predictions | None = None
    network: list[dict] = field(default_factory=list)  # layers.csv's rows
    diverged_at: tuple[int, int, int] | None = None  # (epoch, batch, batches per epoch)
    usual_lr: tuple[float, float] | None = None  # the optimizer's usual learning rates (the verdict reads them)
    settings: Settings | None = None  # what the verdict's advice changes (report/advice.py)
    words: Words | None = None  # a text classifier: the tokens that push toward each class, its mistakes
    forecast: forecast.Forecast | None = None  # a series: the test period, with the naive forecast
    augmented: list[dict] | None = None  # training images as they were and as data.augment changed them
    augment: dict | None = None  # data.augment's settings, as given
    charts: str = "svg"  # who draws the charts: svg (built in) or matplotlib (report.charts)


def _figures(record: RunRecord, insights: Insights) -> list[tuple[str, list[str]]]:
    """(title, [inline SVG chart]) for every figure this run can show."""
    figures = []
    if record.history.get("epoch"):
        figures.append(("Learning curves", charts.learning_curves(record.history, record.best_epoch,
                                                                  insights.diverged_at)))
        lr = charts.lr_chart(record.history)
        if lr:
            figures.append(("Learning rate", lr))
        metrics = charts.metric_charts(record.history)
        if metrics:
            figures.append(("Validation metrics by epoch", metrics))
    if insights.classes is not None:
        title = "Confusion matrix (test)" if insights.classes.matrix is not None else \
            "Mistakes (test): true class down, predicted across, darker is more"
        figures.append((title, classes.confusion_heatmaps(insights.classes)))
    if insights.fit_curve is not None:
        figures.append(("Data, true function and model prediction", fits.regression_fit(insights.fit_curve)))
    if (record.data or {}).get("threshold"):
        figures.append(("Decision threshold (validation)", [threshold.chart(record.data["threshold"])],
                        threshold.sentence(record.data["threshold"]) + "."))
    if record.calibration:
        figures.append(("Calibration (test)", [calibration.chart(record.calibration)],
                        calibration.sentence(record.calibration).capitalize() + "."))
    if record.importance and record.importance["columns"]:
        left = record.importance["left_out"]
        figures.append(("Which columns the model relies on (test)", [importance.chart(record.importance)],
                        f"Permutation importance: each column shuffled across the test rows "
                        f"{importance.REPEATS} times, the mean fall of the score. Correlated columns share credit: "
                        "with one shuffled, the other still carries what both say, so both can look unimportant."
                        + (f" Left out (time budget): {', '.join(left)}." if left else "")))
    if insights.forecast is not None:
        figures.append(("Forecast over the test period, and residuals", forecast.charts(insights.forecast)))
    if insights.predictions is not None:
        figures.append(("Predicted vs true, and residuals (test)", fits.predicted_vs_true(insights.predictions)))
    return figures


def render(record: RunRecord, insights: Insights, resolved_yaml: str) -> str:
    """The report's HTML text."""
    grid = classes.mistakes(insights.classes) if insights.classes else None
    return render_page("report.html", r=record, summary=insights.summary, classes=insights.classes,
                       resolved_yaml=resolved_yaml, figures=_figures(record, insights), mistakes=grid,
                       augmented=insights.augmented, augment=insights.augment, drawn_by=insights.charts,
                       network=network_charts(insights.network) if insights.network else None, words=insights.words,
                       probed=sorted({row["epoch"] for row in insights.network}),
                       duration=_duration(record.duration_s or 0.0), baseline_labels=_baseline_labels(record),
                       started=record.started.strftime("%Y-%m-%d %H:%M:%S UTC"),
                       follow=command(record.path / "pipeline.yaml", (record.verdict or {}).get("suggest") or ()))


def _baseline_labels(record: RunRecord) -> dict[str, str]:
    """Each baseline's name (a column of the test table) and what it is."""
    kind = record.data.get("baselines", {}).get("kind", record.task)
    return {name: BASELINES[kind][name].label for name in record.baselines if name in BASELINES.get(kind, {})}


def write_report(record: RunRecord, insights: Insights) -> Path:
    """Render and write report.html atomically into the run directory; returns its path.

    Beyond MAX_MATRIX classes the per-class scores and the confusions go to per_class.csv and confusions.csv
    beside it (one row a class, one row a pair that happened): the page shows the worst classes only.
    """
    path = record.path / "report.html"
    resolved = (record.path / "pipeline.yaml").read_text(encoding="utf-8")
    report = insights.classes
    if report is not None and report.matrix is None:
        write_atomic(record.path / "per_class.csv", table_csv(["class", "precision", "recall", "f1", "support"], [
            [row["name"], row["precision"], row["recall"], row["f1"], int(row["support"])] for row in report.per_class]))
        write_atomic(record.path / "confusions.csv", table_csv(["true", "predicted", "count"], [
            [report.classes[t], report.classes[p], int(c)] for t, p, c in report.pairs]))
    kept: list = []
    by = None
    if insights.charts == "matplotlib":  # (the pipeline's report.charts; checked to be installed before training)
        from dlpipe.report.mpl import svg as by
    with drawing(by, kept):
        page = render(record, insights, resolved)
    write_atomic(path, page)
    tiles = classes.mistakes(insights.classes) if insights.classes else None  # (images and saliency, as PNGs)
    write_json(record.path / CHARTS_FILE, {"drawn_by": insights.charts, "charts": [chart.to_json() for chart in kept],
                                           "mistakes": tiles or []})
    return path


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:.1f} s" if minutes else f"{secs:.1f} s"
