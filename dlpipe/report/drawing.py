"""Who draws a Chart (report/svg.py): the built-in SVG, or what a block chose (matplotlib: report/mpl.py), and the
charts kept as the page draws them (charts.json, for dlpipe figures)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable


class _Drawing(threading.local):
    """What Chart.svg() does in this thread: draw by `by` (None: the built-in SVG), keep each chart in `kept`."""

    by: Callable[["Chart"], str] | None = None
    kept: list["Chart"] | None = None


DRAWING = _Drawing()


@contextmanager
def drawing(by: Callable[["Chart"], str] | None = None, keep: list | None = None):
    """Within the block, charts are drawn by `by` (matplotlib: report/mpl.py) and appended to `keep`."""
    before = (DRAWING.by, DRAWING.kept)
    DRAWING.by, DRAWING.kept = by, keep
    try:
        yield keep
    finally:
        DRAWING.by, DRAWING.kept = before
