"""Parallel coordinates of a sweep as inline SVG: one vertical axis per parameter, labelled with its lowest and
highest value (log ranges on a log scale, categories listed), one line per trial coloured by its metric on a
dark-to-bright ramp (viridis), with a colour bar that says which end is better."""

from __future__ import annotations

import math
from html import escape

WIDTH, TOP, BOTTOM, SIDE = 540, 56, 100, 80
FONT = 16
NAME = 18  # characters of a parameter's name under its axis (its end: the part that differs)
# viridis at five stops; a value between two is mixed linearly
RAMP = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def colour(share: float) -> str:
    """The ramp's colour at share (0: darkest, 1: brightest)."""
    at = min(max(share, 0.0), 1.0) * (len(RAMP) - 1)
    low, part = int(math.floor(min(at, len(RAMP) - 2))), at - math.floor(min(at, len(RAMP) - 2))
    mixed = [round(a + (b - a) * part) for a, b in zip(RAMP[low], RAMP[low + 1])]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def numeric(values) -> bool:
    """Numbers only (a bool is a category, not a number)."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _column(values, logged: bool) -> tuple[list[float], str, str]:
    """Positions 0..1 up the axis, and the labels of its bottom and top."""
    if not numeric(values):
        names = list(dict.fromkeys(map(str, values)))
        spots = [names.index(str(v)) / max(len(names) - 1, 1) for v in values]
        return spots, names[0], names[-1] if len(names) > 1 else names[0]
    scaled = [math.log10(v) for v in values] if logged else [float(v) for v in values]
    low, high = min(scaled), max(scaled)
    spots = [(v - low) / (high - low) if high > low else 0.5 for v in scaled]
    return spots, f"{min(values):.3g}", f"{max(values):.3g}"


def _short(key: str) -> str:
    """A parameter's name without its leading sections, until it fits NAME characters (layers.0.units)."""
    parts = key.split(".")
    while len(".".join(parts)) > NAME and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)[-NAME:]


def _span(anchor: str, at: float, text: str) -> tuple[float, float]:
    """The x extent of a text at font size FONT (a sans-serif's mean glyph: 0.56 em)."""
    width = 0.56 * FONT * len(text)
    return (at, at + width) if anchor == "start" else (at - width, at) if anchor == "end" else \
        (at - width / 2, at + width / 2)


def parallel_svg(params: list[dict], scores: list[float], keys: list[str], logged: dict[str, bool], metric: str,
                 maximize: bool) -> str:
    """The chart's SVG text (params: each trial's parameter values; scores: its metric)."""
    height = TOP + 260 + BOTTOM
    plot = height - TOP - BOTTOM
    gap = (WIDTH - 2 * SIDE) / max(len(keys) - 1, 1)
    xs = [SIDE + i * gap for i in range(len(keys))]
    columns = [_column([p[k] for p in params], logged[k]) for k in keys]
    low, high = min(scores), max(scores)
    shades = [((s - low) / (high - low) if high > low else 0.5) for s in scores]
    shades = shades if maximize else [1 - s for s in shades]  # bright is better either way
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="parallel coordinates" '
             f'font-family="system-ui, sans-serif" font-size="{FONT}">',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-weight="600">trials by {escape(metric)}</text>']
    for trial in sorted(range(len(scores)), key=lambda t: shades[t]):  # the best drawn last, on top
        points = " ".join(f"{x:.1f},{TOP + (1 - column[0][trial]) * plot:.1f}" for x, column in zip(xs, columns))
        parts.append(f'<polyline fill="none" stroke="{colour(shades[trial])}" stroke-width="2.5" '
                     f'stroke-opacity="0.9" points="{points}"/>')
    names = [f"{_short(key)}{' (log)' if logged[key] else ''}" for key in keys]
    # the outer axes' names run inward, so a long one stays on the chart
    placed = [("start", x - 12) if n == 0 else ("end", x + 12) if n == len(keys) - 1 else ("middle", x)
              for n, x in enumerate(xs)]
    spans = [_span(anchor, at, name) for (anchor, at), name in zip(placed, names)]
    crowded = any(left[1] + 8 > right[0] for left, right in zip(spans, spans[1:]))  # then two rows, alternately
    for n, (x, name, (_, bottom, top)) in enumerate(zip(xs, names, columns)):
        anchor, at = placed[n]
        row = TOP + plot + (62 if crowded and n % 2 else 42)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot}" stroke="#555"/>'
                     f'<text x="{x:.1f}" y="{TOP - 8}" text-anchor="middle">{escape(top[:12])}</text>'
                     f'<text x="{x:.1f}" y="{TOP + plot + 20}" text-anchor="middle">{escape(bottom[:12])}</text>'
                     f'<text x="{at:.1f}" y="{row}" text-anchor="{anchor}" font-weight="600">'
                     f'<title>{escape(keys[n])}</title>{escape(name)}</text>')
    bar_y, bar_x, bar_w = height - 12, WIDTH / 2 - 90, 180
    worst, best = (low, high) if maximize else (high, low)
    parts += [f'<rect x="{bar_x + i * bar_w / 20:.1f}" y="{bar_y - 10}" width="{bar_w / 20 + 0.5:.1f}" height="10" '
              f'fill="{colour(i / 19)}"/>' for i in range(20)]
    parts.append(f'<text x="{bar_x - 6}" y="{bar_y}" text-anchor="end">{worst:.4g}</text>'
                 f'<text x="{bar_x + bar_w + 6}" y="{bar_y}">{best:.4g} (best)</text>')
    return "".join(parts) + "</svg>"
