"""The Python API (`import dlpipe`): run a pipeline, load a trained run, validate a file - as the CLI does.

    import dlpipe
    result = dlpipe.run("pipelines/iris.yaml", set={"training.epochs": 50})
    result.metrics["test_accuracy"], result.history, result.report_path
    model = dlpipe.load(result.path)          # or a run name: its newest run
    model.predict(rows), model.predict_proba(rows)
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord
from dlpipe.data.sources import read_pipeline
from dlpipe.language.loader import Loaded
from dlpipe.model.checks import check_pipeline
from dlpipe.trained.model import TrainedModel, find


@dataclass
class Run:
    """A finished run: its status, metrics (test_* and val_*), history (a dict of lists) and files."""

    record: RunRecord

    @property
    def path(self) -> Path:
        return self.record.path

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def metrics(self) -> dict[str, float]:
        best = self.record.evaluated_epoch
        validation = {k: v[best - 1] for k, v in self.record.history.items() if k.startswith("val_") and best}
        return {**{f"test_{k}": v for k, v in self.record.test.items()}, **validation}

    @property
    def history(self) -> dict[str, list[float]]:
        return self.record.history

    @property
    def report_path(self) -> Path:
        return self.record.path / "report.html"

    def load(self, any_status: bool = False) -> TrainedModel:
        """The trained model of this run (refused unless it completed, or any_status=True)."""
        return TrainedModel(self.path, any_status=any_status)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if k.startswith("test_"))
        return f"Run({self.record.ref!r}, status={self.status}, {shown})"

    def _repr_html_(self) -> str:
        verdict = self.record.verdict or {}
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in self.metrics.items()
                       if k.startswith("test_"))
        return (f"<div><b>{html.escape(self.record.ref)}</b>: {html.escape(self.status)}"
                f"{' · ' + html.escape(verdict.get('kind', '')) if verdict else ''}<table>{rows}</table>"
                f"{_curve(self.history)}<a href=\"{self.report_path.resolve().as_uri()}\">report</a></div>")


def _curve(history: dict[str, list[float]]) -> str:
    """The learning curves as inline SVG charts, or nothing when no epoch finished."""
    if not history.get("epoch"):
        return ""
    from dlpipe.report.charts import history_html

    return history_html(history)


def overrides(values: dict[str, Any] | None) -> tuple[str, ...]:
    """{"training.epochs": 50} as the CLI's --set texts (values written as YAML)."""
    return tuple(f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                 for key, value in (values or {}).items())


def validate(path: str | Path, set: dict[str, Any] | None = None) -> Loaded:  # noqa: A002 - the CLI's word
    """Read and check a pipeline; raises dlpipe.PipelineError with the CLI's messages."""
    loaded = read_pipeline(path, overrides(set))
    check_pipeline(loaded)
    return loaded


def run(path: str | Path, set: dict[str, Any] | None = None, out: str | Path = "reports",  # noqa: A002
        quiet: bool = False, folds: int | None = None) -> Run | Group:
    """Train a pipeline exactly as `dlpipe run` does; returns the Run (also when it failed or diverged).

    folds=K: K-fold cross-validation as `dlpipe run --folds K`: a Group of K runs, each testing on its own fold.
    """
    from dlpipe.runner import run as run_pipeline

    loaded = validate(path, set)
    progress = lambda: InlineProgress(quiet=quiet) if "ipykernel" in sys.modules else Progress(quiet=quiet)  # noqa
    if folds is None:
        return Run(run_pipeline(loaded, Path(out), progress()))
    from dlpipe.trained.groups import folds as fold_members, run_group

    members = fold_members(folds, loaded.pipeline.data)
    made = run_group(members, "folds", lambda member: validate(path, {**(set or {}), **{
        key: yaml.safe_load(value) for key, value in (o.split("=", 1) for o in member.overrides)}}),
        lambda one: run_pipeline(one, Path(out), progress()), say=(lambda line: None) if quiet else print)
    return Group([Run(record) for record in made.records], made.folder, made.kind)


@dataclass
class Group:
    """A group of runs (K-fold cross-validation): each run, and each test metric's mean ± 95 % interval."""

    runs: list[Run]
    path: Path  # the group's folder: group.json and report.html
    kind: str

    @property
    def metrics(self) -> dict[str, float]:
        """test_<metric>: the mean over the completed runs."""
        return {f"test_{key}": found["mean"] for key, found in self._summary().items()}

    @property
    def intervals(self) -> dict[str, tuple[float, float]]:
        """test_<metric>: (mean, half-width of the 95 % interval)."""
        return {f"test_{key}": (found["mean"], found["half"]) for key, found in self._summary().items()}

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    def _summary(self) -> dict:
        from dlpipe.report.group import summary

        return summary([run.record for run in self.runs])

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={m:.4g}±{h:.2g}" for k, (m, h) in self.intervals.items())
        return f"Group({self.path.name!r}, {len(self.runs)} {self.kind}, {shown})"


class InlineProgress(Progress):
    """Progress for a notebook: the epoch lines overwrite each other (one updating line); run.log keeps them all."""

    _midline = False  # an epoch line is on the screen without its newline

    def end_epoch(self, epoch: int, epochs: int, values: dict[str, float]) -> None:
        seconds = values.pop("time", 0.0)
        text = f"epoch {epoch}/{epochs}  " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()) + f"  {seconds:.1f}s"
        self.log(text)
        if not self.quiet:
            self.write("\r" + text)
            self._midline = True

    def say(self, text: str) -> None:
        if self._midline and not self.quiet:
            self.write("\n")
            self._midline = False
        super().say(text)


def load(run: str | Path, out: str | Path = "reports", any_status: bool = False) -> TrainedModel:
    """A trained run's model: a run directory, name/stamp, a stamp prefix or a name (its newest run).

    A run that did not complete is refused (LoadError naming the newest completed one) unless any_status=True.
    """
    return TrainedModel(find(run, out), any_status=any_status)
