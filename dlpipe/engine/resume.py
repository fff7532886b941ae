"""Continuing a run: its checkpoint checked and put back, and the checkpoint written when training ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord
from dlpipe.engine import integrity
from dlpipe.engine.checkpoint import Checkpointer, ResumeError, TrainingState, load_checkpoint, restore
from dlpipe.engine.train import FitOutcome


@dataclass(frozen=True)
class Resumed:
    """The state to continue from, and the run's data provenance: what it started on, and what changed since."""

    state: TrainingState
    first_data: dict[str, str]  # {path: SHA-256} the run started with
    changed: tuple[str, ...] = ()  # data files that changed since (allowed explicitly), in words


def restored(run_dir: Path, device: torch.device, model: nn.Module, optimizer, schedule, generator,
             progress: Progress, data_files: dict[str, str], allow_changed_data: bool = False) -> Resumed:
    """The training state of the run being resumed, everything put back; ResumeError if it does not load.

    Changed data is refused (the run would mix two data sets under one name and checksum) unless
    allow_changed_data, and then said in run.log and kept in the run's record.
    """
    try:
        payload = load_checkpoint(run_dir, device)
        saved = payload["identity"]
        now = integrity.identity((run_dir / "pipeline.yaml").read_bytes(), data_files)
        refusals, warnings = integrity.differences(saved, now)
        changed = integrity.changed_data(saved, now)
        if changed and not allow_changed_data:
            refusals.append("; ".join(changed) + ": a resumed run must train on the data it started with; put it "
                            "back, start a new run, or pass --allow-changed-data to continue on the new data (the "
                            "report will say so)")
        if refusals:
            raise ValueError("; ".join(refusals))
        state = restore(payload, model, optimizer, generator)
        schedule.load_state_dict(payload["scheduler"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ResumeError(str(exc)) from exc
    for warning in warnings + [f"{line}; continuing on it (--allow-changed-data)" for line in changed]:
        progress.say(f"warning: {warning}")
    progress.say(f"continuing after epoch {state.epoch}")
    return Resumed(state, saved.get("data_files_first") or saved.get("data_files") or dict(data_files),
                   tuple(changed))


def checkpoint_the_end(saver: Checkpointer, state: TrainingState, fitted: FitOutcome, run_dir: Path) -> None:
    """Interrupted: write the last completed epoch. Otherwise: the final weights, marked finished."""
    if fitted.status == "interrupted":
        done = saver.flush()
        fitted.message += (f"; `dlpipe run --resume {run_dir}` continues from the end of epoch {done}" if done else
                           "; no epoch was completed, so there is nothing to resume: run the pipeline again")
        return
    state.finished = {"status": fitted.status, "message": fitted.message, "evaluated_epoch": fitted.evaluated_epoch,
                      "diverged_at": fitted.diverged_at}
    saver.save(state)


def keep_provenance(record: RunRecord, resumed: Resumed | None) -> None:
    """The data the run started on stays its data_files; a resume allowed on changed data adds what it is now."""
    if resumed is None:
        return
    if resumed.changed:
        record.environment["data_files_at_resume"] = record.environment["data_files"]
        record.data["notes"].append(f"resumed after epoch {resumed.state.epoch} on changed data "
                                    f"(--allow-changed-data): {'; '.join(resumed.changed)}")
    record.environment["data_files"] = resumed.first_data
