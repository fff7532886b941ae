"""`dlpipe figures RUN...`: every chart of a run's report as a matplotlib figure file (PDF, PNG or SVG), for a paper,
a thesis or a slide, in any matplotlib style.

The charts are the report's own: the Chart objects its page drew, kept in the run's charts.json (report/svg.py
`drawing`), drawn again by report/mpl.py; the confusion matrix and the per-class scores come from metrics.json.
A run from before charts.json gets its curves from history.csv. Several runs: their curves overlaid, as
`dlpipe compare` draws them. The run's files are only read; a figure file is never replaced without force.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from dlpipe.archive.guard import writable
from dlpipe.archive.record import RunRecord, read_regular
from dlpipe.report import charts as curves
from dlpipe.report.overlay import overlay_curves
from dlpipe.report.drawing import drawing
from dlpipe.report.svg import CHARTS_FILE, Chart

FORMATS = ("pdf", "png", "svg")


class FiguresError(ValueError):
    """A run, style or output that figures cannot use: one line."""


def charts_of(run_dir: Path, kept: dict | None = None) -> list[Chart]:
    """The charts a run's report drew: from charts.json (`kept`, when already read), else its learning curves from
    history.csv."""
    kept = kept if kept is not None else _kept(run_dir)
    if kept is not None:
        try:
            return [Chart.from_json(chart) for chart in kept["charts"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise FiguresError(f"{run_dir / CHARTS_FILE}: not what dlpipe writes ({exc})") from None
    history = RunRecord.read(run_dir).history
    kept: list[Chart] = []
    with drawing(by=lambda chart: "", keep=kept):  # (the charts as data: nothing is drawn here)
        curves.learning_curves(history)
        curves.lr_chart(history)
        curves.metric_charts(history)
    return kept


def _kept(run_dir: Path) -> dict | None:
    """The run's charts.json, or None for a run from before it."""
    path = run_dir / CHARTS_FILE
    if not path.exists():
        return None
    try:
        found = json.loads(read_regular(path))
    except (OSError, ValueError) as exc:
        raise FiguresError(f"{path}: not what dlpipe writes ({exc})") from None
    if not isinstance(found, dict) or not isinstance(found.get("charts"), list):
        raise FiguresError(f"{path}: not what dlpipe writes (no list of charts)")
    return found


def figures(run_dirs: list[Path]) -> list[tuple[str, object]]:
    """(file stem, a function making the matplotlib Figure) for every figure of these runs."""
    from dlpipe.report import mpl

    if len(run_dirs) > 1:
        records = [RunRecord.read(path) for path in run_dirs]
        kept: list[Chart] = []
        with drawing(by=lambda chart: "", keep=kept):
            overlay_curves([(record.ref, record.history) for record in records])
        return [(f"compare-{_slug(c.title)}", lambda c=c: mpl.figure(c)) for c in kept]
    record, made, kept = RunRecord.read(run_dirs[0], with_history=False), [], _kept(run_dirs[0])
    for number, chart in enumerate(charts_of(run_dirs[0], kept), 1):
        made.append((f"{number:02d}-{_slug(chart.title)}", lambda chart=chart: mpl.figure(chart)))
    if record.confusion_matrix and record.classes:
        made.append(("confusion-matrix", lambda: mpl.heatmap(record.confusion_matrix, record.classes,
                                                             "Confusion matrix (test)")))
    if (record.importance or {}).get("columns"):
        top = record.importance["columns"][:30]
        made.append(("importance", lambda: mpl.barh([r["column"] for r in top], [r["drop"] for r in top],
                                                    "Which columns the model relies on (test)",
                                                    f"drop in {record.importance.get('metric', 'the score')} when "
                                                    "the column is shuffled")))
    mistakes = (kept or {}).get("mistakes") or []
    if mistakes:
        made.append(("mistakes-and-saliency", lambda: mpl.tiles(mistakes[:12], "Confident mistakes, and saliency")))
    if record.per_class:
        rows = [row for row in record.per_class if row.get("name") is not None]
        made.append(("per-class", lambda: mpl.bars([str(r["name"]) for r in rows], {
            key: [float(r[key]) for r in rows] for key in ("precision", "recall", "f1")}, "Per class (test)")))
    return made


def write_figures(run_dirs: list[Path], out: Path, fmt: str = "pdf", style: str | None = None,
                  force: bool = False) -> list[Path]:
    """One file per figure under `out`, named after the run; FiguresError for a file that exists (unless
    force), a special file, a place inside a run, or an unknown style."""
    from dlpipe.report import mpl

    plt = mpl.pyplot()
    if style is not None and style not in plt.style.available and not Path(style).is_file():
        raise FiguresError(f"--style {style}: no such matplotlib style or .mplstyle file (styles: "
                           f"{', '.join(sorted(plt.style.available))})")
    stem = run_dirs[0].parent.name + (f"-{run_dirs[0].name}" if len(run_dirs) == 1 else f"-and-{len(run_dirs) - 1}")
    made = figures(run_dirs)
    paths = [out / f"{stem}-{name}.{fmt}" for name, _ in made]
    for path in paths:
        if (why := writable(path, force)) is not None:
            raise FiguresError(why)
    out.mkdir(parents=True, exist_ok=True)
    with plt.style.context(style or "default"):
        for path, (_, make) in zip(paths, made):
            fig = make()
            partial = path.with_name(f".{path.name}.partial")
            fig.savefig(partial, format=fmt, dpi=300 if fmt == "png" else "figure")
            plt.close(fig)
            partial.replace(path)  # (whole or not at all)
    return paths


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "chart"
