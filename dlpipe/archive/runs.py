"""The run archive as a whole: list the runs, find one, and print them as a table.

Everything is read from each run's metrics.json (as a RunRecord), so the archive
needs no database and survives runs being copied, moved or deleted by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dlpipe.archive.files import run_is_live
from dlpipe.archive.record import METRICS_FILE, RunRecord, read_regular


def list_runs(root: Path, name: str | None = None, damaged: list[str] | None = None) -> list[RunRecord]:
    """Every run under root (newest first), optionally only those named `name`; histories not read.

    A run whose metrics.json cannot be read (damaged by hand, not a regular file) is skipped,
    never fatal; `damaged`, when given, collects why for each.
    """
    runs = []
    for path in Path(root).glob(f"*/*/{METRICS_FILE}"):
        try:
            record = RunRecord.read(path.parent, with_history=False)
        except (OSError, ValueError) as exc:
            if damaged is not None:
                damaged.append(str(exc))
            continue
        if name is None or record.name == name or path.parent.parent.name == name:
            runs.append(record)
    return sorted(runs, key=lambda r: (r.started.isoformat(), r.path.name), reverse=True)


def find_run(root: Path, ref: str) -> Path:
    """A run directory from a path, `name/stamp`, a unique stamp prefix, or a name (its newest run)."""
    if (Path(ref) / METRICS_FILE).is_file():
        return Path(ref)
    ref = ref.strip("/")
    runs = list_runs(root)
    exact = [r for r in runs if r.ref == ref or r.path.name == ref]
    by_name = [r for r in runs if r.path.parent.name == ref]
    by_prefix = [r for r in runs if r.path.name.startswith(ref) or r.ref.startswith(ref)]
    for matches in (exact, by_name[:1], by_prefix):
        if len(matches) == 1:
            return matches[0].path
    if len(by_prefix) > 1:
        raise LookupError(f"{ref!r} matches {len(by_prefix)} runs: " + ", ".join(r.ref for r in by_prefix[:5]))
    where = Path(root).resolve()
    elsewhere = [found for found in _other_archives(where) if any(r.path.parent.name == ref or r.ref == ref
                                                                   for r in list_runs(found))]
    hint = (f"; a run {ref!r} is under {elsewhere[0]}: give --out {elsewhere[0]}, or set DLPIPE_OUT to it"
            if elsewhere else f" (see `dlpipe runs --out {root}`; DLPIPE_OUT sets the archive for every command)")
    raise LookupError(f"no run {ref!r} under {where}{hint}")


def _other_archives(root: Path) -> list[Path]:
    """Archives a user may have meant: a `reports` folder in this directory's parents, or one folder down (the
    pipeline's own folder, when it was run from there), at most a few dozen looked at."""
    here = Path.cwd()
    found = [p / "reports" for p in [here, *list(here.parents)[:3]]]
    found += sorted(here.glob("*/reports"))[:30]
    return [p for p in dict.fromkeys(found) if p.is_dir() and p.resolve() != root]


CHECKPOINT_SUMMARY = "checkpoint.json"  # written beside checkpoint.pt by the engine: {"epoch": N, "elapsed": s}


def checkpointed_epochs(run_dir: Path) -> int:
    """The epochs a run's latest checkpoint holds (0 when there is none or it cannot be read)."""
    try:
        epoch = json.loads(read_regular(Path(run_dir) / CHECKPOINT_SUMMARY)).get("epoch")
    except (OSError, ValueError, AttributeError):
        return 0
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0


def status_text(record: RunRecord) -> str:
    """The status to show: a run still marked running whose process is gone (no one holds its lock: SIGKILL, a
    crash, a machine gone down) is stopped, after the epochs its checkpoint holds; `--resume` continues it."""
    if record.status != "running" or run_is_live(record.path):
        return record.status
    epochs = checkpointed_epochs(record.path)
    return f"stopped after epoch {epochs}" if epochs else "stopped"


def _row(r: RunRecord) -> tuple[str, ...]:
    return (r.ref, started_text(r), status_text(r), duration_text(r), headline_text(r),
            (r.verdict or {}).get("kind", ""))


def sweep_best(trials: list[RunRecord]) -> tuple[RunRecord, str, float] | None:
    """The sweep's best trial as the sweep itself ranks them (its page, sweep.json, Optuna): by the sweep's
    validation metric, in that metric's direction, among completed trials; (run, metric, value), or None."""
    link = next((t.sweep for t in trials if (t.sweep or {}).get("metric")), None)
    if link is None or not isinstance(link.get("maximize"), bool):
        return None  # a sweep recorded before trials carried their metric: its page says which is best
    metric = link["metric"]
    scored = [(t, t.validation[metric]) for t in trials if t.status == "completed"
              and isinstance(t.validation.get(metric), (int, float)) and math.isfinite(t.validation[metric])]
    if not scored:
        return None
    run, value = (max if link["maximize"] else min)(scored, key=lambda pair: pair[1])
    return run, metric, value


def _sweep_row(study: str, trials: list[RunRecord]) -> tuple[str, ...]:
    """One row for a sweep's trials: how many, and the best of them by the sweep's own metric."""
    best = sweep_best(trials)
    total = sum(t.duration_s or 0.0 for t in trials)
    shown = f"best {best[1]} {best[2]:.4g}: trial {best[0].sweep['trial']} ({best[0].ref})" if best else ""
    return (f"sweep {study} ({len(trials)} trials)", started_text(trials[-1]), "sweep", f"{total:.1f} s", shown, "")


def damaged_text(damaged: list[str]) -> str:
    """One line per run that could not be read, under a count."""
    lines = [f"{len(damaged)} run(s) could not be read:"] + [f"  {reason}" for reason in damaged[:20]]
    return "\n".join(lines + ([f"  ... and {len(damaged) - 20} more"] if len(damaged) > 20 else []))


def started_text(record: RunRecord) -> str:
    return record.started.strftime("%Y-%m-%d %H:%M:%S")


def duration_text(record: RunRecord) -> str:
    return f"{record.duration_s:.1f} s" if isinstance(record.duration_s, (int, float)) else ""


def headline_text(record: RunRecord) -> str:
    head = record.headline or {}
    return f"{head['name']} {head['value']:.4g}" if isinstance(head.get("value"), (int, float)) else ""


def _folds_row(group: str, members: list[RunRecord]) -> tuple[str, ...]:
    """One row for the runs of a K-fold cross-validation: the headline's mean over the folds and its range."""
    values = [r.headline["value"] for r in members if r.status == "completed" and isinstance(
        (r.headline or {}).get("value"), (int, float))]
    name = next((r.headline["name"] for r in members if r.headline), "")
    total = sum(r.duration_s or 0.0 for r in members)
    shown = f"{name} {sum(values) / len(values):.4g} (mean; {min(values):.4g} to {max(values):.4g})" if values else ""
    folds = (members[0].group or {}).get("of", len(members))
    return (f"{members[0].name} {folds}-fold ({group})", started_text(members[-1]), "folds", f"{total:.1f} s", shown,
            "")


def _bundle(record: RunRecord) -> tuple[str, str] | None:
    """The rows shown as one: a sweep's trials, a cross-validation's folds."""
    if (record.sweep or {}).get("study") is not None:
        return "sweep", record.sweep["study"]
    if (record.group or {}).get("kind") == "folds":
        return "folds", record.group["id"]
    return None


def table(runs: list[RunRecord], expand: bool = False) -> str:
    """The runs as an aligned text table for the terminal; a sweep's trials and a cross-validation's folds are one
    row each (expand: and each run under it)."""
    head = ("run", "started", "status", "duration", "headline", "verdict")
    rows, members_of, at = [], {}, {}
    for r in runs:
        bundle = _bundle(r)
        if bundle is None:
            rows.append(_row(r))
            continue
        if bundle not in members_of:  # the bundle's row goes where its newest member would be
            members_of[bundle], at[bundle] = [], len(rows)
            rows.append(())
        members_of[bundle].append(r)
    for bundle in reversed(list(at)):  # from the end: expanding one shifts only the rows after it
        members = members_of[bundle]
        indented = [("  " + row[0], *row[1:]) for row in map(_row, members)] if expand else []
        first = _sweep_row(bundle[1], members) if bundle[0] == "sweep" else _folds_row(bundle[1], members)
        rows[at[bundle]:at[bundle] + 1] = [first, *indented]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head, *rows])
