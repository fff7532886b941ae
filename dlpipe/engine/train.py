"""Training: the loop, read top to bottom.

Data stays in memory as tensors; each epoch draws one permutation and takes batches
by indexing it (no DataLoader, no per-sample Python). After every epoch the loop
records the history, applies early stopping and the schedule, and hands the state to
each callback in turn (checkpoint, probe, live page, a sweep's pruner: one signature,
`callback(state) -> Stop | None`; training.stop_at is one: `targets`). A set `stop` event
ends training after the current batch; `pace` runs after every batch (the thread count
following the machine's load: engine/threads.py). `sync` is engine.local.Local, or engine.distributed.Ranks in a distributed run.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from dlpipe.archive.log import Progress
from dlpipe.data.dataset import Dataset
from dlpipe.engine.augment import Augmenter
from dlpipe.engine.checkpoint import TrainingState
from dlpipe.engine.evaluate import channels_last, evaluate
from dlpipe.engine.local import Local
from dlpipe.engine.schedule import LRSchedule
from dlpipe.language.metrics import history_columns
from dlpipe.language.targets import describe, reached
from dlpipe.language.pipeline import EarlyStopping, Training


@dataclass(frozen=True)
class Stop:
    """What a callback returns to end training after this epoch: the run's status (e.g. pruned) and why."""

    status: str
    message: str


# A per-epoch hook: called with the training state after every epoch (checkpoint, network probe, live page,
# a sweep's pruner); it returns a Stop to end training there, or None to go on.
Callback = Callable[[TrainingState], "Stop | None"]


@dataclass
class FitOutcome:
    """How training ended (completed, diverged or interrupted), and whose weights the model holds."""

    status: str = "completed"
    message: str = ""
    evaluated_epoch: int | None = None  # the last epoch, or the best one when its weights were restored
    diverged_at: tuple[int, int, int] | None = None  # (epoch, batch, batches per epoch) where the loss became NaN/inf


def targets(stop_at: dict[str, float]) -> Callback:
    """The callback that ends a run once every value of training.stop_at has reached its target."""
    def check(state: TrainingState) -> Stop | None:
        found = reached(stop_at, state.history)
        if all(target["epoch"] is not None for target in found):
            return Stop("completed", "reached every target (training.stop_at): " + "; ".join(map(describe, found)))
        return None

    return check


def steps_per_epoch(samples: int, batch_size: int, accumulate: int = 1) -> int:
    """Optimizer steps in one epoch: its batches (a batch size at least the training split is one full batch),
    `accumulate` batches a step."""
    return math.ceil(math.ceil(samples / min(batch_size, samples)) / accumulate)


def improved(rule: EarlyStopping, value: float, best: float | None) -> bool:
    """Whether `value` beats `best` by more than min_delta in the rule's direction."""
    if best is None:
        return math.isfinite(value)
    return value > best + rule.min_delta if rule.higher_is_better else value < best - rule.min_delta


def _early_stop(rule: EarlyStopping | None, state: TrainingState, row: dict, model: nn.Module) -> str:
    """Track the best epoch (and its weights); the reason to stop now, or '' to go on."""
    if rule is None:
        return ""
    if improved(rule, row[rule.monitor], state.best_value):
        state.best_value, state.best_epoch, state.stale = row[rule.monitor], row["epoch"], 0
        if rule.restore_best:
            state.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.stale += 1
    if state.stale < rule.patience:
        return ""
    return (f"stopped early after epoch {row['epoch']}: {rule.monitor} has not improved for {rule.patience} "
            f"epochs; best epoch {state.best_epoch} ({rule.monitor} {state.best_value:.6g})")


def _end_with_best(rule: EarlyStopping | None, state: TrainingState, model: nn.Module, outcome: FitOutcome
                   ) -> int | None:
    """Load the best epoch's weights when early stopping keeps them; the epoch whose weights the model holds."""
    if rule and rule.restore_best and state.best_weights is not None and outcome.status != "interrupted":
        model.load_state_dict(state.best_weights)
        return state.best_epoch
    return len(state.history["epoch"]) or None


HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}  # training.precision -> the autocast dtype


def forward_of(model: nn.Module, device_type: str, precision: str, nhwc: bool,
               augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's forward pass: on the augmented batch, under bfloat16 or float16 autocast (float32 out, for the
    loss), on NHWC batches, or plain."""
    half = HALF.get(precision)
    if half is None and not nhwc and augment is None:
        return model

    def forward(xb: torch.Tensor) -> torch.Tensor:
        if augment is not None:
            xb = augment(xb)
        if nhwc:
            xb = xb.contiguous(memory_format=torch.channels_last)  # a gathered batch comes out NCHW
        if half is None:
            return model(xb)
        with torch.autocast(device_type, dtype=half):
            return model(xb).float()

    return forward


def _diverged(value: float, epoch: int, step: int, lr: float) -> str:
    return (f"the loss became {value} in epoch {epoch}, batch {step}: lower the learning rate (optimizer.lr is "
            f"{lr:g}; try a tenth of it), add training.clip_grad_norm, or check the scale of the data")


class Stepper:
    """Backward passes and optimizer steps: the gradients clipped first when training.clip_grad_norm says, the
    schedule's per-batch step after. fp16: a gradient scaler multiplies the loss before backward (small float16
    gradients would underflow to 0), unscales before clipping, and skips a step whose gradients overflowed."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, training: Training,
                 after: Callable[[], None], device: torch.device):
        self.model, self.optimizer, self.clip, self.after = model, optimizer, training.clip_grad_norm, after
        self.scaler = scaler_for(training.precision, device)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.after()


def scaler_for(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16's gradient scaler (CUDA); None otherwise."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def _ended(outcome: FitOutcome, halt: bool, value: float, where: tuple[int, int, int], lr: float) -> None:
    """Training ends in this batch: interrupted (a stop), or diverged (the loss is not a number)."""
    epoch, batch, batches = where
    if halt:
        outcome.status, outcome.message = "interrupted", f"interrupted in epoch {epoch}, batch {batch}/{batches}"
    else:
        outcome.status, outcome.message = "diverged", _diverged(value, epoch, batch, lr)
        outcome.diverged_at = where


def epoch_order(training: Training, y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor | None:
    """The rows of one epoch, in order: shuffled, as they are (shuffle: false), or drawn with replacement so that
    every class comes up as often (sampling: balanced; the same draw on every process of a distributed run)."""
    if training.sampling == "balanced":
        counts = torch.bincount(y.long().cpu())
        chance = (1.0 / counts.double().clamp(min=1))[y.long().cpu()]
        return torch.multinomial(chance, n, replacement=True, generator=generator).to(y.device)
    return torch.randperm(n, generator=generator).to(y.device) if training.shuffle else None


def fit(model: nn.Module, data: Dataset, *, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
        training: Training, metrics: list, generator: torch.Generator, progress: Progress,
        schedule: LRSchedule | None = None, state: TrainingState | None = None, callbacks: Sequence[Callback] = (),
        stop: threading.Event | None = None, sync: Local | None = None, pace: Callable[[], None] = lambda: None,
        train_loss: nn.Module | None = None, augment: Augmenter | None = None) -> tuple[TrainingState, FitOutcome]:
    """Train from `state` (None: from scratch) to training.epochs; metrics: the scalar metric configs; train_loss:
    what steps minimise if not loss_fn (class weights); augment: what changes each training batch (data.augment)."""
    sync, step_loss = sync or Local(), train_loss or loss_fn
    inner, classify = sync.unwrap(model), data.task == "classification"
    state = state or TrainingState(history={k: [] for k in history_columns(data.task, [m.key for m in metrics])})
    outcome, (x, y) = FitOutcome(), (data.train.x, data.train.y)
    n, batch_size, every = len(x), min(training.batch_size, len(x)), training.accumulate
    micros, steps = steps_per_epoch(n, batch_size), steps_per_epoch(n, batch_size, every)
    schedule = schedule or LRSchedule(None, optimizer, training.epochs, steps)
    forward = forward_of(model, x.device.type, training.precision, x.dim() == 4 and channels_last(inner),
                         augment.at(state.epoch * micros) if augment else None)
    bar, agree = progress.batch, sync.agree
    stepper = Stepper(model, optimizer, training, schedule.after_batch, x.device)
    stopping = stop if stop is not None else threading.Event()
    # Preallocated once: a small tensor kept per batch would split the freed activation blocks and
    # grow the heap by one block per batch (measured: MNIST CNN peak RSS 2.6 GB instead of 0.9 GB).
    guessed = torch.empty(n if classify else 0, dtype=torch.long, device=x.device)
    start = time.perf_counter() - state.elapsed
    for epoch in range(state.epoch + 1, training.epochs + 1):
        model.train()  # evaluate() left it in eval mode
        progress.start_epoch(epoch, training.epochs)
        schedule.start_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        order = epoch_order(training, y, n, generator)
        total, seen = 0.0, 0
        for micro, (xb, yb) in enumerate(sync.batches(x, y, order, batch_size), 1):
            first, last = (micro - 1) % every == 0, micro % every == 0 or micro == micros
            with nullcontext() if last else sync.no_sync(model):  # (gradients are averaged over ranks once a step)
                out = forward(xb)
                loss = step_loss(out, yb)
                value = loss.item()  # one sync per batch: the cheapest way to catch NaN at once (~2 us on CPU)
                count = yb.shape[0]  # not len(yb): Tensor.__len__ is Python code, ~1 us a call
                total += value * count
                if classify:  # train accuracy: one argmax per batch here, compared with the targets once per epoch
                    torch.argmax(out, dim=1, out=guessed[seen:seen + count])
                seen += count
                halt, bad = agree(stopping.is_set(), not math.isfinite(value))
                if halt or bad:
                    _ended(outcome, halt, value, (epoch, micro, micros), lr)
                    break
                if first:
                    optimizer.zero_grad(set_to_none=True)
                # Each batch's mean loss weighs 1/(batches in this step): one step's gradient is the mean over them.
                stepper.backward(loss / min(every, micros - (micro - 1) // every * every) if every > 1 else loss)
            if last:
                stepper.step()
            pace()
            bar(micro, micros)
        if outcome.status == "interrupted":
            break

        val = evaluate(inner, data.validation, loss_fn, data.task, metrics, sync, data.target_scale)
        hits = int((guessed[:seen] == sync.targets(y, order, seen, batch_size)).sum()) if classify else 0
        total, seen, hits = sync.total(total, seen, hits)
        row = {"epoch": epoch, "train_loss": total / max(seen, 1),
               **({"train_accuracy": hits / max(seen, 1)} if classify else {}),
               "val_loss": val.pop("loss"), **{f"val_{k}": v for k, v in val.items()},
               "lr": lr, "time": time.perf_counter() - start}
        for key, value in row.items():
            state.history[key].append(value)
        progress.end_epoch(epoch, training.epochs, {k: v for k, v in row.items() if k not in ("epoch", "lr")})
        if outcome.status == "diverged":
            break
        stop_early = _early_stop(training.early_stopping, state, row, inner)
        schedule.end_epoch(epoch, row)
        state.epoch, state.elapsed = epoch, time.perf_counter() - start
        asked = [ask for ask in (callback(state) for callback in callbacks) if ask is not None]
        if asked:  # a callback ended the run here (a sweep's pruner): its status, not "completed"
            outcome.status, outcome.message = asked[0].status, asked[0].message
            break
        if stop_early:
            outcome.message = stop_early
            break
    outcome.evaluated_epoch = _end_with_best(training.early_stopping, state, inner, outcome)
    return state, outcome
