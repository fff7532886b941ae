"""The run archive as a whole: list runs, find one, and keep <root>/index.html up to date.

Everything is read from each run's metrics.json, so the archive needs no
database and survives runs being copied, moved or deleted by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from dlpipe import __version__
from dlpipe.archive import write_atomic

HEADLINE = {"classification": ("accuracy", "f1"), "regression": ("r2", "mse")}


@dataclass(frozen=True)
class RunInfo:
    """One archived run, as its metrics.json describes it."""

    path: Path
    metrics: dict

    @property
    def ref(self) -> str:
        """How to name the run on the command line: <name>/<stamp-hex>."""
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def started(self) -> str:
        try:
            return datetime.fromisoformat(self.metrics["started"]).strftime("%Y-%m-%d %H:%M:%S")
        except (KeyError, ValueError):
            return ""

    @property
    def duration(self) -> str:
        seconds = self.metrics.get("duration_s")
        return f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else ""

    @property
    def headline(self) -> str:
        head = self.metrics.get("headline") or {}
        return f"{head['name']} {head['value']:.4g}" if head.get("value") is not None else ""

    @property
    def verdict(self) -> str:
        return (self.metrics.get("verdict") or {}).get("kind", "")


def headline(task: str, test: dict[str, float]) -> dict | None:
    """The one test number that sums a run up: accuracy for classifiers, R^2 for regressions, else the loss."""
    for name in (*HEADLINE.get(task, ()), "loss"):
        if name in test:
            return {"name": name, "value": test[name]}
    return None


def list_runs(root: Path, name: str | None = None) -> list[RunInfo]:
    """Every run under root (newest first), optionally only those named `name`."""
    runs = []
    for path in Path(root).glob("*/*/metrics.json"):
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a run being written, or damaged by hand: skip it, never fail the listing
        if name is None or metrics.get("name") == name or path.parent.parent.name == name:
            runs.append(RunInfo(path.parent, metrics))
    return sorted(runs, key=lambda r: (r.metrics.get("started", ""), r.path.name), reverse=True)


def find_run(root: Path, ref: str) -> Path:
    """A run directory from a path, `name/stamp`, a unique stamp prefix, or a name (its newest run)."""
    if (Path(ref) / "metrics.json").is_file():
        return Path(ref)
    ref = ref.strip("/")
    runs = list_runs(root)
    exact = [r for r in runs if r.ref == ref.strip("/") or r.path.name == ref]
    by_name = [r for r in runs if r.path.parent.name == ref]
    by_prefix = [r for r in runs if r.path.name.startswith(ref) or r.ref.startswith(ref)]
    for matches in (exact, by_name[:1], by_prefix):
        if len(matches) == 1:
            return matches[0].path
    if len(by_prefix) > 1:
        raise LookupError(f"{ref!r} matches {len(by_prefix)} runs: " + ", ".join(r.ref for r in by_prefix[:5]))
    raise LookupError(f"no run {ref!r} under {root} (see `dlpipe runs --out {root}`)")


def write_index(root: Path) -> Path:
    """Rewrite <root>/index.html atomically: one sortable row per run, linking to its report."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("dlpipe", "templates"), autoescape=True)
    runs = list_runs(root)
    html = env.get_template("index.html").render(runs=runs, root=str(root), version=__version__,
                                                 written=datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    path = Path(root) / "index.html"
    write_atomic(path, html)
    return path


def table(runs: list[RunInfo]) -> str:
    """The runs as an aligned text table for the terminal."""
    head = ("run", "started", "status", "duration", "headline", "verdict")
    rows = [(r.ref, r.started, r.metrics.get("status", "?"), r.duration, r.headline, r.verdict) for r in runs]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head, *rows])
