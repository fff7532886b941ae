"""A run's directory as it starts: created (or the one resumed) with its resolved pipeline and first record."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dlpipe.archive import files
from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord

if TYPE_CHECKING:  # (only its type: the archive stays importable without pydantic)
    from dlpipe.language.loader import Loaded


def new_record(loaded: Loaded, run_dir: Path, started: datetime) -> RunRecord:
    """The record a run starts with: who it is, from the pipeline."""
    pipeline = loaded.pipeline
    return RunRecord(name=pipeline.name, started=started, path=run_dir, task=pipeline.task,
                     description=pipeline.description, seed=pipeline.seed, source=str(loaded.path),
                     loss=pipeline.loss.type)


def open_run_dir(loaded: Loaded, out_root: Path, started: datetime, resume_dir: Path | None,
                  progress: Progress) -> Path:
    """A new run directory holding the resolved pipeline (or the one being resumed); run.log opened."""
    run_dir = resume_dir or files.create_run_dir(out_root, loaded.pipeline.name, started)
    if resume_dir is None:
        try:
            files.write_atomic(run_dir / "pipeline.yaml", files.resolved_yaml(
                loaded.pipeline.model_dump(mode="json"), loaded.path, loaded.overrides, loaded.origin))
            new_record(loaded, run_dir, started).write()  # status: running
        except OSError:
            shutil.rmtree(run_dir, ignore_errors=True)  # (a full disk) no directory that is not a run
            raise
    progress.attach(run_dir / "run.log")
    progress.say(f"{'resuming' if resume_dir else 'run directory:'} {run_dir}  ({started.isoformat()})")
    return run_dir
