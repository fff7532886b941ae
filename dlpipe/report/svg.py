"""Line charts as inline SVG text, for the live report: a few milliseconds, where matplotlib takes ~0.5 s.

The page is rewritten every few seconds while the run trains, so its figures must cost
next to nothing; the final report draws them again with matplotlib.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 540, 280
LEFT, RIGHT, TOP, BOTTOM = 84, 14, 32, 48
FONT = 16  # px at full size: still 11 px on a 420 px phone with a scroll bar (the chart at 381 of 540 px)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def line_chart(series: list[tuple[str, str, list[float], list[float]]], title: str, x_label: str = "epoch",
               log: bool = False, legend: bool = True) -> str:
    """An SVG chart of (label, colour, xs, ys) lines; NaN and inf are gaps; log: a log10 y axis.

    legend=False leaves the labels to the page (one legend shared by several charts).
    """
    points = [(x, y) for _, _, xs, ys in series for x, y in zip(xs, ys) if _drawable(y, log)]
    if not points:
        return (f'<svg viewBox="0 0 {WIDTH} 60" role="img" aria-label="{escape(title)}">'
                f'<text x="8" y="34" font-size="{FONT}">{escape(title)}: nothing finite to draw yet</text></svg>')
    xs, ys = [p[0] for p in points], [_y(p[1], log) for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1.0e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    sx = lambda x: LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)  # noqa: E731 - two tiny maps
    sy = lambda y: TOP + (y1 - y) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)  # noqa: E731
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'font-family="system-ui, sans-serif" font-size="{FONT}">',
             f'<text x="{WIDTH / 2}" y="19" text-anchor="middle" font-weight="600">{escape(title)}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
             'fill="none" stroke="#999"/>']
    for value in _ticks(y0, y1):
        y = sy(value)
        label = f"{10 ** value if log else value:.3g}"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end">{label}</text>')
    for value in sorted({round(v) for v in _ticks(x0, x1)}):
        x = sx(value)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{value}</text>')
    parts.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
                 f'{escape(x_label)}{" (log scale)" if log else ""}</text>')
    for number, (label, colour, line_xs, line_ys) in enumerate(series):
        parts += _polylines(line_xs, line_ys, log, sx, sy, colour)
        if not legend:
            continue
        y = TOP + 18 + 18 * number
        parts.append(f'<line x1="{WIDTH - RIGHT - 190}" x2="{WIDTH - RIGHT - 168}" y1="{y - 5}" y2="{y - 5}" '
                     f'stroke="{colour}" stroke-width="2"/><text x="{WIDTH - RIGHT - 162}" y="{y}">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _drawable(y, log: bool) -> bool:
    return isinstance(y, (int, float)) and math.isfinite(y) and (y > 0 or not log)


def _y(y: float, log: bool) -> float:
    return math.log10(y) if log else y


def _polylines(xs, ys, log, sx, sy, colour) -> list[str]:
    """One polyline per finite stretch (a NaN or inf is a gap); a lone point is a dot."""
    runs, current = [], []
    for x, y in zip(xs, ys):
        if _drawable(y, log):
            current.append(f"{sx(x):.1f},{sy(_y(y, log)):.1f}")
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    out = []
    for run in runs:
        if len(run) == 1:
            cx, cy = run[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        else:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
    return out
