"""Learning-curve verdicts: read a history the way a teacher reads the plot, and say what to do.

One of: diverging, plateau, noisy, overfitting, generalisation gap, still improving, good;
checked in that order, so the most urgent problem wins. Only train_loss and val_loss are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PLATEAU_GAIN = 0.2  # the best loss is under 20 % below the first: the curve is flat on a plot
OVERFIT_RISE = 0.10  # validation loss ends 10 % above its minimum while training loss kept falling
NOISE_LEVEL = 0.12  # mean epoch-to-epoch jump of log(val_loss) in the second half (about 13 %)
STILL_GAIN = 0.03  # validation loss fell more than 3 % over the last fifth of training
GAP_RATIO = 3.0  # validation loss ends at least 3x the training loss ...
GAP_WIDENED = 2.0  # ... and that ratio is at least twice its smallest in the run (the gap widened) ...
FLAT_BAND = 0.05  # ... while validation loss stayed within 5 % of its minimum (flat) for the last epochs


@dataclass(frozen=True)
class Verdict:
    """A one-word diagnosis, the advice that goes with it, and the epoch it starts at (if any)."""

    kind: str
    advice: str
    epoch: int | None = None


def judge(history: dict[str, list[float]]) -> Verdict | None:
    """The verdict for a history; None when there is no epoch to judge."""
    train = np.asarray(history.get("train_loss", []), dtype=float)
    val = np.asarray(history.get("val_loss", []), dtype=float)
    if len(train) == 0:
        return None
    if not (np.isfinite(train).all() and np.isfinite(val).all()):
        return Verdict("diverging", "the loss became NaN or infinite: lower the learning rate (a tenth is a "
                                    "good first try) or clip the gradients (training.clip_grad_norm)")
    if len(train) >= 3 and val[-1] > 2 * val.min() and train[-1] > train.min() * 1.5:
        return Verdict("diverging", "training and validation loss are rising: lower the learning rate")
    if len(val) < 3:
        return Verdict("still improving", "too few epochs to judge: train for more epochs")
    if _gain(train) < PLATEAU_GAIN and _gain(val) < PLATEAU_GAIN:
        return Verdict("plateau", "the loss has hardly moved since the start: raise the learning rate, "
                                  "check that inputs and targets are scaled sensibly, or try another optimizer")
    half = np.log(np.maximum(val[len(val) // 2:], 1e-300))
    if len(half) >= 3 and np.abs(np.diff(half)).mean() > NOISE_LEVEL:
        return Verdict("noisy", "the validation loss jumps from epoch to epoch: lower the learning rate, "
                                "raise the batch size, or add a schedule that decays the learning rate")
    smooth_val, smooth_train = _smooth(val), _smooth(train)
    best = int(smooth_val.argmin())
    if (best < len(val) - 2 and smooth_val[-1] > smooth_val[best] * (1 + OVERFIT_RISE)
            and smooth_train[-1] < smooth_train[best]):
        start = int(val[:best + 1].argmin()) + 1  # the raw minimum: the moving average lags behind it
        return Verdict("overfitting", f"validation loss has risen since epoch {start} while training loss kept "
                                      "falling: regularise (dropout, weight_decay), get more data, or stop early "
                                      "(training.early_stopping)", epoch=start)
    gap = _widening_gap(smooth_train, smooth_val, val)
    if gap is not None:
        return gap
    window = max(3, math.ceil(len(val) / 5))
    recent = val[-window:]
    falling = val[-1] <= val[-2]  # still going down at the very end, not levelling off
    if len(val) > window and falling and (recent[0] - recent.min()) / recent[0] > STILL_GAIN:
        return Verdict("still improving", "the validation loss is still falling: train for more epochs")
    return Verdict("good", "the loss fell steadily and levelled off")


def _widening_gap(smooth_train: np.ndarray, smooth_val: np.ndarray, val: np.ndarray) -> Verdict | None:
    """The model learns the training set, not the task: validation loss flat, training loss far below and falling."""
    ratio = smooth_val / np.maximum(smooth_train, 1e-12)
    flat_since = int(np.argmax(val <= val.min() * (1 + FLAT_BAND)))  # first epoch within 5 % of the minimum
    if ratio[-1] < GAP_RATIO or ratio[-1] < GAP_WIDENED * ratio.min() or flat_since > len(val) - 3:
        return None
    return Verdict("generalisation gap", f"validation loss has been flat since epoch {flat_since + 1} while training "
                                         f"loss kept falling, to {ratio[-1]:.1f}x below it: the model is memorising "
                                         "the training set; regularise (dropout, weight_decay), get more data, or "
                                         "stop early (training.early_stopping)", epoch=flat_since + 1)


def _gain(losses: np.ndarray) -> float:
    """How far the best loss fell below the first, as a fraction of the first."""
    return float((losses[0] - losses.min()) / abs(losses[0])) if losses[0] else 0.0


def _smooth(values: np.ndarray) -> np.ndarray:
    """Trailing moving average over up to 5 epochs (a tenth of the run), so single jumps do not count."""
    width = max(1, min(5, len(values) // 10))
    padded = np.concatenate([np.full(width - 1, values[0]), values])
    return np.convolve(padded, np.ones(width) / width, mode="valid")
