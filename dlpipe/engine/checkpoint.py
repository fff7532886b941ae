"""Checkpoints: everything needed to continue a run exactly where its last epoch ended.

Written atomically after every epoch as <run>/checkpoint.pt: weights, optimizer and
schedule state, the random number generators (dropout and batch order), the
history and the early-stopping bookkeeping. Loaded with weights_only=True.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dlpipe.archive.files import write_atomic, write_json
from dlpipe.archive.record import RunRecord
from dlpipe.archive.runs import CHECKPOINT_SUMMARY
from dlpipe.engine.integrity import digest
from dlpipe.language.secrets import masked

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


class ResumeError(Exception):
    """A run could not be continued (its checkpoint or pipeline does not load); nothing of it was changed."""


@dataclass
class TrainingState:
    """Where training stands: epochs done, history, best epoch so far."""

    history: dict[str, list[float]]
    epoch: int = 0  # epochs completed
    elapsed: float = 0.0  # training seconds spent before this process
    best_value: float | None = None
    best_epoch: int | None = None
    stale: int = 0  # epochs since the monitored value last improved
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    finished: dict | None = None  # how training ended (status, message, evaluated_epoch), once it has


def save_checkpoint(run_dir: Path, state: TrainingState, model: nn.Module, optimizer: torch.optim.Optimizer,
                    schedule_state: dict, generator: torch.Generator, run_identity: dict | None = None) -> None:
    """Write the checkpoint of the current state atomically."""
    rng = {"torch": torch.get_rng_state(), "batches": generator.get_state(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    write_payload(run_dir, state, model.state_dict(), optimizer.state_dict(), schedule_state, rng, run_identity)


def write_payload(run_dir: Path, state: TrainingState, model_state: dict, optimizer_state: dict,
                  schedule_state: dict, rng: dict, run_identity: dict | None = None) -> None:
    """Write a checkpoint atomically (a kill during the write leaves the previous one intact), with its checksum."""
    payload = {
        "identity": run_identity or {},
        "format": FORMAT,
        "epoch": state.epoch,
        "elapsed": state.elapsed,
        "history": state.history,
        "early_stopping": {"best_value": state.best_value, "best_epoch": state.best_epoch, "stale": state.stale},
        "best_weights": state.best_weights,
        "finished": state.finished,
        "model": model_state,
        "optimizer": optimizer_state,
        "scheduler": schedule_state,
        "rng": rng,
    }
    payload["sha256"] = digest(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(run_dir / CHECKPOINT, buffer.getvalue())
    # Beside it, what the archive lists without torch: the epochs a killed run's checkpoint holds.
    write_atomic(run_dir / CHECKPOINT_SUMMARY, json.dumps({"epoch": state.epoch, "elapsed": state.elapsed}) + "\n")


def load_checkpoint(run_dir: Path, device: torch.device) -> dict:
    """The checkpoint's contents, tensors on `device`; ValueError if it is missing or unreadable."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"{run_dir}: no {CHECKPOINT} (the run ended before its first epoch, or is not a run)")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__}); the run cannot be resumed") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dlpipe checkpoint of format {FORMAT}")
    saved = payload.pop("sha256", None)
    if saved != digest(payload):
        raise ValueError(f"{path}: its content does not match its checksum (damaged or edited); the run cannot "
                         "be resumed from it")
    return payload


def restore(payload: dict, model: nn.Module, optimizer: torch.optim.Optimizer,
            generator: torch.Generator) -> TrainingState:
    """Put weights, optimizer and random generators back; return the training state to continue from."""
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng"]["torch"].cpu())
    generator.set_state(payload["rng"]["batches"].cpu())
    if payload["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["rng"]["cuda"]])
    early = payload["early_stopping"]
    return TrainingState(history=payload["history"], epoch=payload["epoch"], elapsed=payload["elapsed"],
                         best_value=early["best_value"], best_epoch=early["best_epoch"], stale=early["stale"],
                         best_weights=payload["best_weights"], finished=payload.get("finished"))


class Checkpointer:
    """Saves the state after the first epoch, then at most every `every_s` seconds; `flush` on an interrupt.

    Saving after every epoch of a millisecond-epoch regression cost more than the training
    itself (3 ms per save, measured), so an epoch that is not written is kept in memory
    (EpochSnapshot, a few foreach copies): an interrupt writes it, and a kill loses at most
    `every_s` of work.
    """

    def __init__(self, run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule,
                 generator: torch.Generator, epoch: int = 0, enabled: bool = True, every_s: float = 2.0,
                 run_identity: dict | None = None):
        self.run_dir, self.model, self.optimizer, self.identity = run_dir, model, optimizer, run_identity
        self.schedule, self.generator, self.enabled, self.every_s = schedule, generator, enabled, every_s
        self.epoch = epoch  # the epoch the latest checkpoint ends with
        self._at = 0.0
        self._snapshot = EpochSnapshot(model, optimizer)
        self._pending: TrainingState | None = None  # an epoch held only in the snapshot

    def __call__(self, state: TrainingState) -> None:
        if not self.enabled:
            return
        if self.epoch and time.perf_counter() - self._at < self.every_s:
            self._snapshot.take(self.schedule, self.generator)
            self._pending = state
            return
        self.save(state)

    def save(self, state: TrainingState) -> None:
        """Write the current state now (the end of training: with state.finished set)."""
        if self.enabled:
            save_checkpoint(self.run_dir, state, self.model, self.optimizer, self.schedule.state_dict(),
                            self.generator, self.identity)
            self.epoch, self._at, self._pending = state.epoch, time.perf_counter(), None

    def flush(self) -> int:
        """After an interrupt mid-epoch: write the last completed epoch if only memory held it; its number."""
        if self.enabled and self._pending is not None:
            self._snapshot.write(self.run_dir, self._pending, self.identity)
            self.epoch, self._pending = self._pending.epoch, None
        return self.epoch


class EpochSnapshot:
    """The tensors an epoch changes (weights, optimizer state), copied into buffers allocated once.

    Taken at the end of every epoch that is not written to disk: one foreach copy, the
    random generators' states and the schedule's numbers: ~25 us for the sine MLP, whose
    epochs take ~5 ms (0.5 %).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.model, self.optimizer = model, optimizer
        self.names, self.weights = zip(*((k, v.detach()) for k, v in model.state_dict(keep_vars=True).items()))
        self.sources: list[torch.Tensor] = []
        self.copies: list[torch.Tensor] = []
        self.groups: list[dict] = []
        self.schedule: dict = {}
        self.rng: dict = {}
        self.stated = -1  # parameters with optimizer state when the buffers were made
        self.cuda = torch.cuda.is_available()

    def take(self, schedule, generator: torch.Generator) -> None:
        states = self.optimizer.state
        if len(states) != self.stated:  # first time, or the optimizer made state for more parameters
            sources = [*self.weights, *(v for s in states.values() for v in s.values() if isinstance(v, torch.Tensor))]
            self.sources, self.copies, self.stated = sources, [torch.empty_like(t) for t in sources], len(states)
        torch._foreach_copy_(self.copies, self.sources)  # the optimizer updates its state tensors in place
        self.groups = [{k: v for k, v in group.items() if k != "params"} for group in self.optimizer.param_groups]
        self.schedule = dict(schedule.state_dict())
        self.rng = {"torch": torch.get_rng_state(), "batches": generator.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.cuda else []}

    def write(self, run_dir: Path, state: TrainingState, run_identity: dict | None) -> None:
        """The checkpoint of the snapshot's epoch (`state` has not changed since: no epoch ended after it)."""
        copy_of = {id(source): copy for source, copy in zip(self.sources, self.copies)}
        optimizer = self.optimizer.state_dict()
        optimizer["state"] = {index: {k: copy_of.get(id(v), v) for k, v in entry.items()}
                              for index, entry in optimizer["state"].items()}
        optimizer["param_groups"] = [{**group, **saved} for group, saved in zip(optimizer["param_groups"],
                                                                                 self.groups)]
        model = dict(zip(self.names, self.copies[:len(self.names)]))
        write_payload(run_dir, state, model, optimizer, self.schedule, self.rng, run_identity)


def model_bytes(model: nn.Module, resolved: dict, preprocessing: dict | None = None) -> bytes:
    """model.pt: state_dict, the resolved pipeline and the fitted preprocessing; torch.load(weights_only=True) reads it."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "pipeline": resolved, "preprocessing": preprocessing}, buffer)
    return buffer.getvalue()


def save_model(run_dir: Path, model: nn.Module, resolved: dict, preprocessing) -> None:
    """model.pt, and the fitted preprocessing (also inside model.pt) as a readable preprocessing.json."""
    prep = preprocessing.to_json() if preprocessing is not None else None
    if prep is not None:
        write_json(run_dir / "preprocessing.json", prep)
    write_atomic(run_dir / "model.pt", model_bytes(model, masked(resolved), prep))  # no URL password in it


def resumable(run_dir: Path) -> str | None:
    """Why `run_dir` cannot be resumed, or None when it can."""
    if not (run_dir / "pipeline.yaml").is_file():
        return f"--resume {run_dir}: not a run directory (no pipeline.yaml)"
    if not (run_dir / CHECKPOINT).is_file():
        return (f"--resume {run_dir}: no {CHECKPOINT}; the run ended before one was written (before its first epoch "
                "ended, or on a full disk: its run.log says): run the pipeline again")
    if not (run_dir / "metrics.json").exists():
        status = "running"  # killed before metrics.json was written
    else:
        try:
            status = RunRecord.read(run_dir, with_history=False).status
        except (OSError, ValueError) as exc:
            return f"--resume {run_dir}: {exc}"
    if status not in ("running", "interrupted", "failed"):
        return f"--resume {run_dir}: the run is {status}; only a killed, interrupted or failed run is resumed"
    return None
