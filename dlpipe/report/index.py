"""The run index: <root>/index.html, one sortable row per run, rewritten after every run."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from dlpipe.archive.files import write_atomic
from dlpipe.archive.runs import list_runs, status_text
from dlpipe.report.pages import render_page


def link(run_dir: Path, root: Path) -> str:
    """The relative link to a run's report: each part percent-encoded, `./` first, so never a scheme."""
    parts = Path(run_dir).relative_to(root).parts
    return "./" + "/".join(quote(part, safe="") for part in (*parts, "report.html"))


def _sweeps(root: Path) -> list[dict]:
    """Each sweep's summary (sweep.json beside its page), newest first, with the page's link."""
    found = []
    for path in root.glob("*/sweeps/*/sweep.json"):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict):
            found.append({**summary, "href": "./" + "/".join(quote(p, safe="") for p in
                                                             path.with_name("sweep.html").relative_to(root).parts),
                          "mtime": path.stat().st_mtime})
    return sorted(found, key=lambda s: s["mtime"], reverse=True)


def write_index(root: Path) -> Path:
    """Rewrite <root>/index.html atomically, linking to every run's report."""
    damaged: list[str] = []
    runs = list_runs(root, damaged=damaged)
    links = [link(record.path, root) for record in runs]
    # A run whose metrics.json still says running but whose process is gone was killed: say "stopped".
    states = [status_text(r) for r in runs]
    html = render_page("index.html", runs=zip(runs, links, states), sweeps=_sweeps(Path(root)), count=len(runs), root=str(root), damaged=damaged,
                       written=datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    path = Path(root) / "index.html"
    write_atomic(path, html)
    return path
