"""Checkpoints: everything needed to continue a run exactly where its last epoch ended.

Written atomically after every epoch as <run>/checkpoint.pt: weights, optimizer and
schedule state, the random number generators (dropout and batch order), the
history and the early-stopping bookkeeping. Loaded with weights_only=True.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dlpipe.archive import write_atomic

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


@dataclass
class TrainState:
    """Where training stands: epochs done, history, best epoch so far."""

    history: dict[str, list[float]]
    epoch: int = 0  # epochs completed
    elapsed: float = 0.0  # training seconds spent before this process
    best_value: float | None = None
    best_epoch: int | None = None
    stale: int = 0  # epochs since the monitored value last improved
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)


def save_checkpoint(run_dir: Path, state: TrainState, model: nn.Module, optimizer: torch.optim.Optimizer,
                    schedule_state: dict, generator: torch.Generator) -> None:
    """Write the checkpoint atomically: a kill during the write leaves the previous one intact."""
    payload = {
        "format": FORMAT,
        "epoch": state.epoch,
        "elapsed": state.elapsed,
        "history": state.history,
        "early_stopping": {"best_value": state.best_value, "best_epoch": state.best_epoch, "stale": state.stale},
        "best_weights": state.best_weights,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": schedule_state,
        "rng": {"torch": torch.get_rng_state(), "batches": generator.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(run_dir / CHECKPOINT, buffer.getvalue())


def load_checkpoint(run_dir: Path, device: torch.device) -> dict:
    """The checkpoint's contents, tensors on `device`; ValueError if it is missing or unreadable."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"{run_dir}: no {CHECKPOINT} (the run ended before its first epoch, or is not a run)")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__}); the run cannot be resumed") from None
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path}: checkpoint format {payload.get('format')} is not {FORMAT}")
    return payload


def restore(payload: dict, model: nn.Module, optimizer: torch.optim.Optimizer,
            generator: torch.Generator) -> TrainState:
    """Put weights, optimizer and random generators back; return the training state to continue from."""
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng"]["torch"].cpu())
    generator.set_state(payload["rng"]["batches"].cpu())
    if payload["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["rng"]["cuda"]])
    early = payload["early_stopping"]
    return TrainState(history=payload["history"], epoch=payload["epoch"], elapsed=payload["elapsed"],
                      best_value=early["best_value"], best_epoch=early["best_epoch"], stale=early["stale"],
                      best_weights=payload["best_weights"])
