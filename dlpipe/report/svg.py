"""Charts as inline SVG text: line and scatter charts on one set of axes code, in milliseconds.

Every figure of a run's report is drawn here: matplotlib took 1.5-2.7 s per report plus
~0.5 s to import, on every run (benchmarks/startup.py). Text is escaped (class names come
from the user's data); NaN and inf are gaps. Charts share one size and font, legible on a
phone (FONT px at full size is still 11 px when the chart is 381 px wide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from dlpipe.report.drawing import DRAWING
from dlpipe.report.ticks import log_ticks, nice_ticks, tick_text, y_labels

CHARTS_FILE = "charts.json"  # beside a run's report: the charts it drew, as data (dlpipe figures draws them again)
WIDTH, HEIGHT = 540, 300
LEFT, RIGHT, BOTTOM = 84, 14, 48
FONT = 16  # px at full size: still 11 px on a 420 px phone with a scroll bar (the chart at 381 of 540 px)
LEGEND_ROW = 20
# One colour per series (matplotlib's tab10), shared by every figure that draws several runs or layers
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
SMALLEST = 15.6  # font size: 11 px when a 540-wide chart is drawn 381 px wide (a 420 px phone)


@dataclass(frozen=True)
class Line:
    """A line (or, with radius, a cloud of points) to draw: xs and ys in data units."""

    label: str
    colour: str
    xs: list[float]
    ys: list[float]
    width: float = 2.0
    dash: str = ""  # an SVG dash array, e.g. "6 4"
    radius: float = 0.0  # > 0: points, not a line
    opacity: float = 1.0
    markers: bool = False  # a dot at every point as well (few epochs)


@dataclass(frozen=True)
class Rule:
    """A vertical (x) or horizontal (y) line across the plot, with its legend label."""

    at: float
    label: str
    colour: str
    dash: str = ""
    vertical: bool = True


@dataclass
class Chart:
    """One chart: lines, rules, axis labels; `svg()` gives its text."""

    title: str
    lines: list[Line] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    x_label: str = "epoch"
    y_label: str = ""
    log: bool = False
    log_x: bool = False  # the xs are log10 of the values: ticks at round values, labelled as the values
    integer_x: bool = False
    ylim: tuple[float, float] | None = None
    legend: bool = True
    note: str = ""  # said in the middle of the plot (e.g. nothing finite to draw)

    def svg(self) -> str:
        """The chart drawn: by the built-in SVG, or by what `drawing(by=...)` chose; kept when `drawing` collects."""
        if DRAWING.kept is not None:
            DRAWING.kept.append(self)
        return DRAWING.by(self) if DRAWING.by is not None else render(self)

    def to_json(self) -> dict:
        """The chart as plain values (charts.json: `dlpipe figures` draws it again from the run's files)."""
        plain = lambda values: [v if isinstance(v, (int, float)) and math.isfinite(v) else None  # noqa: E731
                                for v in values]  # (JSON has no NaN: a gap is null)
        return {**{k: v for k, v in vars(self).items() if k not in ("lines", "rules")},
                "lines": [{**vars(line), "xs": plain(line.xs), "ys": plain(line.ys)} for line in self.lines],
                "rules": [vars(rule) for rule in self.rules]}

    @classmethod
    def from_json(cls, data: dict) -> Chart:
        plain = {k: tuple(v) if k == "ylim" and v is not None else v for k, v in data.items()
                 if k in cls.__dataclass_fields__ and k not in ("lines", "rules")}
        gaps = lambda values: [math.nan if v is None else float(v) for v in values]  # noqa: E731
        return cls(**plain, lines=[Line(**{**line, "xs": gaps(line["xs"]), "ys": gaps(line["ys"])})
                                   for line in data.get("lines", [])],
                   rules=[Rule(**rule) for rule in data.get("rules", [])])



    def ranges(self) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1) of the plot in data units (log10 of y on a log axis): what is finite, padded."""
        log = self.log
        ys = [(math.log10(y) if log else y) for line in self.lines for y in line.ys if _drawable(y, log)]
        xs = [x for line in self.lines for x, y in zip(line.xs, line.ys) if _drawable(y, log) and math.isfinite(x)]
        xs += [rule.at for rule in self.rules if rule.vertical and math.isfinite(rule.at)]
        ys += [(math.log10(r.at) if log else r.at) for r in self.rules if not r.vertical and _drawable(r.at, log)]
        x0, x1 = _range(xs, (0.0, 1.0))
        x0, x1 = x0 - 0.02 * (x1 - x0), x1 + 0.02 * (x1 - x0)  # a dot at either end stays whole
        y0, y1 = self.ylim if self.ylim else _range(ys, (0.0, 1.0))
        if not self.ylim:  # (in log10 units on a log axis) a dot at the top or bottom stays whole
            y0, y1 = y0 - 0.04 * (y1 - y0), y1 + 0.04 * (y1 - y0)
        return x0, x1, y0, y1


def _drawable(y, log: bool) -> bool:
    return isinstance(y, (int, float)) and math.isfinite(y) and (y > 0 or not log)


def _legend_items(chart: Chart) -> list[tuple[str, str, str, bool]]:
    items = [(line.label, line.colour, line.dash, line.radius > 0) for line in chart.lines if line.label]
    return items + [(rule.label, rule.colour, rule.dash, False) for rule in chart.rules if rule.label]


def _legend(chart: Chart) -> tuple[list[str], int]:
    """Legend entries flowing in rows above the plot (never over the data); (parts, height used)."""
    items = _legend_items(chart) if chart.legend else []
    parts, x, y = [], 8.0, 30 + LEGEND_ROW
    for label, colour, dash, point in items:
        width = 30 + 0.55 * FONT * len(label) + 14
        if x + width > WIDTH - 4 and x > 8:
            x, y = 8.0, y + LEGEND_ROW
        mark = (f'<circle cx="{x + 11}" cy="{y - 5}" r="4" fill="{colour}"/>' if point else
                f'<line x1="{x}" x2="{x + 22}" y1="{y - 5}" y2="{y - 5}" stroke="{colour}" stroke-width="2.5"'
                f'{_dash(dash)}/>')
        parts.append(f'{mark}<text x="{x + 28}" y="{y}"{_fit_label(label, WIDTH - 40 - x)}>{escape(_cut(label))}</text>')
        x += width
    return parts, (y - 30 + 8 if items else 0)


def _cut(label: str) -> str:
    """A legend label no longer than the chart holds at SMALLEST, shortened with an ellipsis where it must be."""
    room = int((WIDTH - 40) / (0.56 * SMALLEST))
    return label if len(label) <= room else label[:room - 1] + "…"


def _fit_label(label: str, room: float) -> str:
    """A smaller font-size for a legend label longer than its row, never below SMALLEST; else nothing."""
    wide = _width(_cut(label), FONT)
    return f' font-size="{max(FONT * room / wide, SMALLEST):.1f}"' if wide > room else ""


def _width(text: str, size: float) -> float:
    """Roughly how wide `text` is at font size `size` (a sans-serif's mean glyph: 0.56 em)."""
    return 0.56 * size * len(text)


def _fit(title: str, size: float) -> str:
    """A smaller font-size attribute for a title that would not fit the chart's width, else nothing; never below
    SMALLEST (11 px on a phone): keep titles short, this only absorbs a long class or column name."""
    room = WIDTH - 16
    if _width(title, size) <= room:
        return ""
    return f' font-size="{max(size * room / _width(title, size), SMALLEST):.1f}"'


def _dash(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _range(values: list[float], fallback: tuple[float, float]) -> tuple[float, float]:
    if not values:
        return fallback
    low, high = min(values), max(values)
    if high - low < 1.0e-12 * max(1.0, abs(high)):
        return low - 0.5 * (abs(low) or 1.0), high + 0.5 * (abs(high) or 1.0)
    return low, high


def render(chart: Chart) -> str:
    """The chart's SVG: title, legend rows, framed plot with grid and ticks, the lines, the rules."""
    log = chart.log
    legend, legend_height = _legend(chart)
    top = 30 + legend_height
    height = HEIGHT + legend_height
    head = (f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(chart.title)}" '
            f'font-family="system-ui, sans-serif" font-size="{FONT}">'
            f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-weight="600"{_fit(chart.title, FONT)}>'
            f'{escape(chart.title)}</text>')
    x0, x1, y0, y1 = chart.ranges()
    ticks = y_labels(y0, y1, log)
    # the plot starts right of its widest tick label, and that right of the rotated axis label: never overlapping
    left = max(LEFT, (34 if chart.y_label else 8) + max((_width(label, FONT) for _, label in ticks), default=0) + 8)
    plot_w, plot_h = WIDTH - left - RIGHT, height - top - BOTTOM
    sx = lambda x: left + (x - x0) / (x1 - x0) * plot_w  # noqa: E731 - two tiny maps
    sy = lambda y: top + (y1 - y) / (y1 - y0) * plot_h  # noqa: E731
    parts = [head, *legend, f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
             'stroke="#999"/>']
    parts += _y_ticks(ticks, sy, left)
    parts += _x_ticks(x0, x1, chart.integer_x, sx, top + plot_h, chart.log_x)
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">{escape(chart.x_label)}</text>')
    if chart.y_label:
        label = chart.y_label + (" (log scale)" if log else "")
        parts.append(f'<text transform="translate(18 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                     f'{escape(label)}</text>')
    parts.append(f'<svg x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
                 f'viewBox="{left} {top} {plot_w} {plot_h}" overflow="hidden">')  # clip to the plot
    for line in chart.lines:
        parts += _draw(line, log, sx, sy)
    for rule in chart.rules:
        if rule.vertical:
            x = sx(rule.at)
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{rule.colour}" '
                         f'stroke-width="2"{_dash(rule.dash)}/>')
        elif _drawable(rule.at, log):
            y = sy(math.log10(rule.at) if log else rule.at)
            parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{rule.colour}" '
                         f'stroke-width="2"{_dash(rule.dash)}/>')
    parts.append("</svg>")
    if chart.note:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" fill="#d62728">'
                     f'{escape(chart.note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _y_ticks(ticks: list[tuple[float, str]], sy, left: float) -> list[str]:
    parts = []
    for value, label in ticks:
        y = sy(value)
        parts.append(f'<line x1="{left}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
                     f'<text x="{left - 6}" y="{y + 5:.1f}" text-anchor="end">{label}</text>')
    return parts


def _x_ticks(x0: float, x1: float, integer: bool, sx, bottom: float, log: bool = False) -> list[str]:
    ticks = log_ticks(x0, x1) if log else nice_ticks(x0, x1, 6)
    if integer:
        ticks = sorted({int(round(t)) for t in ticks if abs(t - round(t)) < 1e-9} or {int(round(x0))})
    parts, step = [], (ticks[1] - ticks[0]) if len(ticks) > 1 else 0.0
    for value in ticks:
        x = sx(value)
        label = f"{10 ** value:.2g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e") if log else \
            tick_text(value, step)
        half = _width(label, FONT) / 2  # a label at either end stays inside the chart
        anchor = "end" if x + half > WIDTH - 2 else "start" if x - half < 2 else "middle"
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 5}" stroke="#999"/>'
                     f'<text x="{x:.1f}" y="{bottom + 20}" text-anchor="{anchor}">{label}</text>')
    return parts


def _draw(line: Line, log: bool, sx, sy) -> list[str]:
    """One polyline per finite stretch (a NaN or inf is a gap; a lone point is a dot), or the points."""
    points = [(sx(x), sy(math.log10(y) if log else y)) if _drawable(y, log) and math.isfinite(x) else None
              for x, y in zip(line.xs, line.ys)]
    if line.radius > 0:
        dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{line.radius}"/>' for x, y in filter(None, points))
        return [f'<g fill="{line.colour}" fill-opacity="{line.opacity}">{dots}</g>']
    runs, current = [], []
    for point in points + [None]:
        if point is not None:
            current.append(point)
        elif current:
            runs.append(current)
            current = []
    out = []
    for run in runs:
        if len(run) == 1 or line.markers:
            out.append(f'<g fill="{line.colour}">' + "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>'
                                                             for x, y in run) + "</g>")
        if len(run) > 1:
            text = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.append(f'<polyline fill="none" stroke="{line.colour}" stroke-width="{line.width}" '
                       f'stroke-opacity="{line.opacity}"{_dash(line.dash)} points="{text}"/>')
    return out


def line_chart(series: list[tuple[str, str, list[float], list[float]]], title: str, x_label: str = "epoch",
               log: bool = False, legend: bool = True, ylim: tuple[float, float] | None = None) -> str:
    """An SVG chart of (label, colour, xs, ys) lines; NaN and inf are gaps; log: a log10 y axis.

    legend=False leaves the labels to the page (one legend shared by several charts).
    """
    if not any(_drawable(y, log) for *_, ys in series for y in ys):
        return (f'<svg viewBox="0 0 {WIDTH} 60" role="img" aria-label="{escape(title)}">'
                f'<text x="8" y="34" font-size="{FONT}">{escape(title)}: nothing finite to draw yet</text></svg>')
    lines = [Line(label, colour, list(xs), list(ys), markers=len(xs) <= 30) for label, colour, xs, ys in series]
    return Chart(title, lines, x_label=x_label, log=log, legend=legend, integer_x=x_label == "epoch", ylim=ylim).svg()
