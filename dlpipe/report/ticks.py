"""Axis ticks and their labels for the built-in SVG charts: round values, log decades, short texts."""

from __future__ import annotations

import math


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    count = math.floor(high / step + 1e-9) - first + 1
    return [round((first + i) * step, 12) for i in range(count)]


def y_labels(y0: float, y1: float, log: bool) -> list[tuple[float, str]]:
    """The y axis's ticks (log10 positions on a log axis) and their labels."""
    ticks = log_ticks(y0, y1) if log else nice_ticks(y0, y1)
    step = (ticks[1] - ticks[0]) if len(ticks) > 1 else 0.0
    return [(value, f"{10 ** value:.2g}" if log else tick_text(value, step)) for value in ticks]


def log_ticks(y0: float, y1: float) -> list[float]:
    """log10 positions of round values: powers of ten, or 1-2-5 steps when the range spans under two decades."""
    decades = [float(v) for v in range(math.ceil(y0 - 1e-9), math.floor(y1 + 1e-9) + 1)]
    if len(decades) >= 3:
        every = math.ceil(len(decades) / 6)  # at most ~6 labels, whatever the span
        return decades[::every]
    steps = [math.log10(m) + k for k in range(math.floor(y0) - 1, math.ceil(y1) + 1) for m in (1, 2, 5)]
    inside = [v for v in steps if y0 - 1e-9 <= v <= y1 + 1e-9]
    return inside if len(inside) >= 2 else [y0 + (y1 - y0) * i / 4 for i in range(5)]


def tick_text(value: float, step: float) -> str:
    """A tick's label, as short as its step allows: 0.0005 -> 5e-4 style only beyond 5 characters."""
    if value == 0:
        return "0"
    if step > 0 and 1.0e-3 <= abs(value) < 1.0e5:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        text = f"{value:.{decimals}f}"
        if len(text) <= 7:
            return text
    return f"{value:.2g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
