"""The run index: <root>/index.html, one sortable row per run, rewritten after every run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dlpipe.archive.files import write_atomic
from dlpipe.archive.runs import list_runs
from dlpipe.report.pages import render_page


def write_index(root: Path) -> Path:
    """Rewrite <root>/index.html atomically, linking to every run's report."""
    html = render_page("index.html", runs=list_runs(root), root=str(root),
                       written=datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    path = Path(root) / "index.html"
    write_atomic(path, html)
    return path
