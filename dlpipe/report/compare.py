"""Compare runs: learning curves overlaid, test metrics side by side (best highlighted), config differences."""

from __future__ import annotations

import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path

import yaml

from dlpipe.archive.files import write_atomic
from dlpipe.archive.record import RunRecord, read_regular
from dlpipe.language.metrics import UnknownDirection, higher_is_better
from dlpipe.report.noise import noise
from dlpipe.report.overlay import overlay_curves
from dlpipe.report.pages import render_page


def flatten(value, prefix: str = "") -> dict[str, object]:
    """Nested config as dotted keys: {'optimizer.lr': 0.001, 'model.layers.0.units': 64, ...}."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


def best_marks(rows: list[list[float | None]], names: list[str]) -> list[int | None]:
    """For each metric row, the column of the best value, in the direction its metric declares."""
    marks = []
    for name, values in zip(names, rows):
        present = [(v, i) for i, v in enumerate(values) if isinstance(v, (int, float))]
        try:
            best = max if higher_is_better(name) else min
        except UnknownDirection:  # a value this version does not know (a newer run's): no mark, never a guess
            best = None
        marks.append(best(present)[1] if best is not None and len(present) >= 2 else None)
    return marks


def shown(value) -> str:
    """A config value as YAML (true, [accuracy, f1], {type: adam}), not as a Python repr."""
    if value == "—":
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def mixed(records: list[RunRecord]) -> str | None:
    """A warning when the runs' losses are not comparable (different tasks or loss functions), else None."""
    kinds = sorted({f"{r.task} with {r.loss}" for r in records})
    if len(kinds) < 2:
        return None
    return (f"these runs are not comparable by loss: {'; '.join(kinds)}. Each loss gets its own plot; compare "
            "their test metrics within a task")


def _config(run_dir: Path) -> dict:
    """A run's resolved pipeline.yaml; ValueError (one line) when it is not what dlpipe wrote there."""
    path = run_dir / "pipeline.yaml"
    try:
        config = yaml.safe_load(read_regular(path))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not the pipeline dlpipe wrote there ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: holds a {type(config).__name__}, not a pipeline")
    return config


def write_comparison(run_dirs: list[Path], root: Path) -> Path:
    """Render the comparison of `run_dirs` to <root>/comparisons/<UTC stamp>-<hex>.html."""
    folder = Path(root) / "comparisons"
    runs = []
    for run_dir in run_dirs:
        record = RunRecord.read(run_dir)
        config = _config(run_dir)
        runs.append({"label": record.ref, "record": record, "config": flatten(config),
                     "report": os.path.relpath(run_dir.resolve() / "report.html", folder.resolve())})
    names = list(dict.fromkeys(k for run in runs for k in run["record"].test))
    table = [[run["record"].test.get(name) for run in runs] for name in names]
    keys = list(dict.fromkeys(k for run in runs for k in run["config"]))
    differences = [(k, [shown(run["config"].get(k, "—")) for run in runs]) for k in keys
                   if len({json.dumps(run["config"].get(k), sort_keys=True) for run in runs}) > 1]
    losses = list(dict.fromkeys(run["record"].loss for run in runs))  # one plot per loss: never two on one axis
    figures = [(f"Learning curves ({loss})" if len(losses) > 1 else "Learning curves", overlay_curves(
        [(f"{n}: {run['label']}", run["record"].history) for n, run in enumerate(runs, 1)
         if run["record"].loss == loss])) for loss in losses]  # numbered as in the runs table
    html = render_page("compare.html", runs=runs, names=names, table=table, marks=best_marks(table, names),
                       differences=differences, figures=[f for f in figures if f[1]],
                       warning=mixed([run["record"] for run in runs]), noise=noise([run["record"] for run in runs]),
                       written=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}.html"
    write_atomic(path, html)
    return path
