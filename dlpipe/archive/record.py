"""RunRecord: one run as its metrics.json holds it, the record every reader of the archive shares.

The runner fills it stage by stage (so a failure keeps what exists) and writes it;
the report renders it, and the index, `dlpipe runs`, `dlpipe runs show` and
`dlpipe compare` read it back with `RunRecord.read`. Plain values only: no torch.
Reading validates every key against TYPES, a plain table rather than a pydantic model,
so that `dlpipe runs` starts without importing pydantic.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dlpipe.archive.files import history_csv, write_atomic, write_json

METRICS_FILE, HISTORY_FILE = "metrics.json", "history.csv"
# How a run ends, and the exit code of `dlpipe run` for it (a pruned sweep trial ended as its sweep asked).
EXIT_CODES = {"completed": 0, "pruned": 0, "diverged": 1, "failed": 1, "interrupted": 130}
MAX_FILE_BYTES = 50_000_000  # a metrics.json or history.csv larger than this is not one dlpipe wrote
NUMBER, TEXT, NONE = (int, float), (str,), (type(None),)
# What each key of metrics.json must hold; a file that breaks this is damaged, never half-trusted.
TYPES = {"name": TEXT, "status": TEXT, "message": TEXT, "task": TEXT, "description": TEXT, "source": TEXT,
         "loss": TEXT, "device": TEXT, "seed": (int,), "duration_s": NUMBER + NONE, "test": (dict,),
         "headline": (dict,) + NONE, "verdict": (dict,) + NONE, "best_epoch": (int,) + NONE,
         "evaluated_epoch": (int,) + NONE, "resumed_after": (int,) + NONE, "learned": (list,),
         "classes": (list,), "per_class": (list,), "confusion_matrix": (list,), "environment": (dict,),
         "data": (dict,), "network": (dict,) + NONE, "sweep": (dict,) + NONE, "validation": (dict,), "targets": (list,),
         "baselines": (dict,), "calibration": (dict,) + NONE, "importance": (dict,) + NONE,
         "group": (dict,) + NONE, "tracking": (dict,) + NONE}


@dataclass
class RunRecord:
    """Who the run is, how it went and what it measured; `path` is its run directory."""

    name: str
    started: datetime
    path: Path | None = None
    status: str = "running"  # running, completed, interrupted, diverged, failed, or pruned (a sweep's trial)
    message: str = ""
    task: str = ""
    description: str = ""
    seed: int = 0
    source: str = ""  # the pipeline file it was started from
    loss: str = "loss"
    device: str = "cpu"
    duration_s: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)  # kept in history.csv
    test: dict[str, float] = field(default_factory=dict)
    headline: dict | None = None  # {name, value}: the one test number that sums the run up
    verdict: dict | None = None  # {kind, advice, epoch, suggest}: how the learning curves look, what to --set
    network: dict | None = None  # {kind, findings, epoch}: what the per-layer statistics say (layers.csv)
    sweep: dict | None = None  # {study, trial, page, metric, maximize}: the sweep this run is a trial of
    validation: dict[str, float] = field(default_factory=dict)  # val_ values at the evaluated epoch, as read back
    best_epoch: int | None = None
    evaluated_epoch: int | None = None  # whose weights were tested (the best, when restored)
    resumed_after: int | None = None
    learned: list[dict] = field(default_factory=list)
    baselines: dict[str, dict] = field(default_factory=dict)  # name -> test metrics (engine/baselines.py)
    calibration: dict | None = None  # a classifier: ece, over, bins (report/calibration.py)
    importance: dict | None = None  # a table: permutation importance per input column (report/importance.py)
    group: dict | None = None  # {id, index, of}: one of the seeds of `dlpipe run --repeat` (report/group.py)
    tracking: dict | None = None  # where it was also logged: {mlflow: {uri, experiment, run_id}, tensorboard: {dir}}
    targets: list[dict] = field(default_factory=list)  # training.stop_at: {key, target, higher, epoch, time, value}
    classes: list[str] = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)  # what the data stage decided: task reason, features, target scale, notes

    @property
    def ref(self) -> str:
        """How to name the run on the command line: <name>/<stamp-hex>."""
        return f"{self.path.parent.name}/{self.path.name}" if self.path else self.name

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("epoch", []))

    def to_json(self) -> dict:
        """metrics.json's content."""
        best = self.evaluated_epoch
        return {
            "name": self.name, "task": self.task, "status": self.status, "message": self.message,
            "verdict": self.verdict, "network": self.network, "sweep": self.sweep, "headline": self.headline, "started": self.started.isoformat(),
            "duration_s": self.duration_s, "device": self.device, "seed": self.seed, "description": self.description,
            "source": self.source, "loss": self.loss, "epochs_run": self.epochs_run, "best_epoch": self.best_epoch,
            "test": self.test, "learned": self.learned, "targets": self.targets, "evaluated_epoch": best, "resumed_after": self.resumed_after,
            "validation": {k: v[best - 1] for k, v in self.history.items() if k.startswith("val_") and best}
            if self.history else self.validation,
            **({"baselines": self.baselines} if self.baselines else {}),
            **({"calibration": self.calibration} if self.calibration else {}),
            **({"importance": self.importance} if self.importance else {}),
            **({"group": self.group} if self.group else {}),
            **({"tracking": self.tracking} if self.tracking else {}),
            **({"per_class": self.per_class, "classes": self.classes, "confusion_matrix": self.confusion_matrix}
               if self.classes else {}),
            "data": self.data, "environment": self.environment, "distributed": self.environment.get("distributed"),
        }

    def log_tail(self, stages: dict[str, float]) -> str:
        """The end of run.log: status and seconds per stage."""
        lines = [f"status: {self.status} {self.message}".rstrip()]
        lines += [f"  {stage:>10}: {seconds:.3f} s" for stage, seconds in stages.items()]
        lines.append(f"  {'total':>10}: {self.duration_s:.3f} s")
        return "\n".join(lines)

    def write(self) -> None:
        """metrics.json, atomically: the status a reader trusts, so the finished run's is written last."""
        write_json(self.path / METRICS_FILE, self.to_json())

    def write_history(self) -> None:
        """history.csv, once there is an epoch."""
        if self.history:
            write_atomic(self.path / HISTORY_FILE, history_csv(self.history))

    @classmethod
    def read(cls, run_dir: Path, with_history: bool = True) -> RunRecord:
        """The record of an archived run; ValueError (or OSError) saying what is wrong when it is damaged."""
        path = Path(run_dir) / METRICS_FILE
        try:
            data = json.loads(read_regular(path))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
        check(data, path)
        known = {k: data[k] for k in TYPES if k in data}
        return cls(started=datetime.fromisoformat(data["started"]), path=Path(run_dir),
                   history=read_history(run_dir) if with_history else {},
                   **{**known, "name": data.get("name", Path(run_dir).parent.name)})


def read_regular(path: Path) -> str:
    """A regular file's text; never opens a FIFO or a device (which could block or never end)."""
    if not path.is_file():
        raise ValueError(f"{path}: missing, or not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes; far larger than dlpipe writes")
    return path.read_text(encoding="utf-8")


def check(data, path: Path) -> None:
    """ValueError naming the first key of a metrics.json that does not hold what dlpipe writes there, nested keys
    too (a headline without its name, a sweep whose study is a list): no reader ever meets a wrong type."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: holds a JSON {type(data).__name__}, not an object")
    try:
        started = datetime.fromisoformat(data.get("started"))
    except (TypeError, ValueError):
        raise ValueError(f"{path}: 'started' is {data.get('started')!r}, not an ISO date and time") from None
    if started.tzinfo is None:
        raise ValueError(f"{path}: 'started' {data['started']!r} has no time zone")
    for key, types in TYPES.items():
        if key in data:
            _expect(data[key], types, key, path)
    for key, fields in NESTED.items():
        if isinstance(data.get(key), dict):
            for field, (types, required) in fields.items():
                if field in data[key] or required:
                    _expect(data[key].get(field), types, f"{key}.{field}", path)
    for key, types in ITEMS.items():
        container = data.get(key)
        for name, value in (container.items() if isinstance(container, dict) else enumerate(container or [])):
            _expect(value, types, f"{key}.{name}", path)
            for field, inner in ITEM_FIELDS.get(key, {}).items():
                _expect(value.get(field), inner, f"{key}.{name}.{field}", path)


def _expect(value, types: tuple, key: str, path: Path) -> None:
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        raise ValueError(f"{path}: {key!r} is {type(value).__name__}, expected "
                         f"{' or '.join(t.__name__ for t in types)}")


# Inside the mappings: field -> (the types it may hold, whether it must be there).
NESTED = {"headline": {"name": (TEXT, True), "value": (NUMBER + NONE, True)},
          "verdict": {"kind": (TEXT, True), "advice": (TEXT, True), "epoch": ((int,) + NONE, False),
                      "suggest": ((list,), False)},
          "network": {"kind": (TEXT, True), "findings": ((list,), True), "epoch": ((int,), False)},
          "sweep": {"study": (TEXT, True), "trial": ((int,), True), "page": (TEXT, True), "metric": (TEXT, False),
                    "params": ((dict,), False),
                    "maximize": ((bool,), False)},
          "data": {"notes": ((list,), False), "task_reason": (TEXT, False)},
          "group": {"id": (TEXT, True), "index": ((int,), True), "of": ((int,), True)}}
# Every item of these: the types it may hold.
ITEMS = {"test": NUMBER + NONE, "validation": NUMBER + NONE, "baselines": (dict,), "classes": TEXT, "per_class": (dict,),
         "confusion_matrix": (list,), "learned": (dict,), "targets": (dict,)}
# Every field of these items (all required).
ITEM_FIELDS = {"targets": {"key": TEXT, "target": NUMBER, "higher": (bool,), "epoch": (int,) + NONE,
                           "time": NUMBER + NONE, "value": NUMBER + NONE}}


def read_history(run_dir: Path) -> dict[str, list[float]]:
    """history.csv as a dict of float lists (empty when the run recorded no epoch)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.exists():
        return {}
    reader = csv.reader(io.StringIO(read_regular(path)))
    header = next(reader, [])
    columns: list[list[float]] = [[] for _ in header]  # (column lists, not a dict per row: 50 MB took 2.7 GB)
    for row in reader:
        for values, cell in zip(columns, row + [""] * (len(header) - len(row))):
            values.append(_number(cell))
    return dict(zip(header, columns)) if columns and columns[0] else {}


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")
