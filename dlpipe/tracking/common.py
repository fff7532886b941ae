"""What every tracker shares: the pipeline as flat params, the history's new steps, the run's files, the extras."""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any

from dlpipe.archive.record import RunRecord

EXTRA = "pip install 'dlpipe[{0}]'  (in a checkout: pip install -e '.[{0}]')"


def need(module: str, extra: str):
    """The module, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"tracking: {extra} needs {module.split('.')[0]}, which is not installed: "
                          f"{EXTRA.format(extra)}") from None


def flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{'optimizer.lr': 0.01, 'model.layers.0.units': 16, ...}: the resolved pipeline as one level of keys."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in flat(value, f"{prefix}{key}.").items()}
    if isinstance(obj, list) and obj and any(isinstance(item, (dict, list)) for item in obj):
        return {k: v for i, item in enumerate(obj) for k, v in flat(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): obj}


def finite_steps(history: dict[str, list[float]], start: int):
    """(key, step from 1, value) of the epochs from `start` on, leaving out the epoch column and non-finite values."""
    length = len(history.get("epoch") or next(iter(history.values()), []))
    for step in range(start, length):
        for key, values in history.items():
            if key != "epoch" and step < len(values) and isinstance(values[step], (int, float)) \
                    and math.isfinite(values[step]):
                yield key, step + 1, float(values[step])


def run_files(record: RunRecord) -> list[Path]:
    """The run's files a tracker keeps a copy of: the report, the model, the pipeline, the record."""
    names = ("report.html", "model.pt", "pipeline.yaml", "metrics.json", "preprocessing.json")
    return [record.path / name for name in names if record.path is not None and (record.path / name).is_file()]
