"""Continuing a run: its checkpoint checked and put back, and the checkpoint written when training ends."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dlpipe.archive.log import Progress
from dlpipe.engine import integrity
from dlpipe.engine.checkpoint import Checkpointer, ResumeError, TrainingState, load_checkpoint, restore
from dlpipe.engine.train import FitOutcome


def restored(run_dir: Path, device: torch.device, model: nn.Module, optimizer, schedule, generator,
              progress: Progress) -> TrainingState:
    """The training state of the run being resumed, everything put back; ResumeError if it does not load."""
    try:
        payload = load_checkpoint(run_dir, device)
        refusals, warnings = integrity.differences(payload["identity"],
                                                   integrity.identity((run_dir / "pipeline.yaml").read_bytes()))
        if refusals:
            raise ValueError("; ".join(refusals))
        state = restore(payload, model, optimizer, generator)
        schedule.load_state_dict(payload["scheduler"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ResumeError(str(exc)) from exc
    for warning in warnings:
        progress.say(f"warning: {warning}")
    progress.say(f"continuing after epoch {state.epoch}")
    return state


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
