"""Learning-curve verdicts: read a history the way a teacher reads the plot, and say what to do.

Checked in this order, so the most urgent problem wins (each rule is tested against real
curves: tests/fixtures/curves, made by benchmarks/verdicts.py):
- diverging: the loss became NaN or inf, or both losses end far above their minimum;
- learning rate too high: the loss jumped up 2x or more between epochs again and again;
- plateau: neither loss fell more than PLATEAU_GAIN below its first value;
- learning rate too low: the loss fell slowly and steadily all run, at a learning rate near the bottom of the
  optimizer's usual range;
- overfitting: the (smoothed) validation loss ends well above its minimum, by more than its noise, while the
  training loss kept falling;
- noisy: the validation loss jumps from epoch to epoch (mean jump of its log over NOISE_LEVEL);
- generalisation gap: validation loss flat for a good part of the run, training loss far below and falling;
- still improving: over the last fifth the validation loss fell by more than STILL_GAIN, a fall larger than its
  epoch-to-epoch noise (a regression slope more than two standard errors below zero), and keeping pace with
  the training loss (when training loss falls far faster, more epochs mostly memorise: MNIST's MLP, 30 epochs
  instead of 10, ended with a 45 % higher validation loss);
- good: it fell and levelled off (and since when, if the rest of the run did not help).
Only the losses and the learning rate of the history are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

JUDGED = 5  # epochs a curve needs before it is read: fewer is "too few epochs to judge"
PLATEAU_GAIN = 0.2  # the best loss is under 20 % below the first: the curve is flat on a plot
JUMP = 2.0  # a loss at least twice the epoch before's is a jump ...
JUMPS = 3  # ... and this many (or 5 % of the epochs, if more) mean the learning rate is too high
OVERFIT_RISE = 0.05  # validation loss ends 5 % (or twice its noise, if more) above its minimum ...
RISE_EPOCHS = 4  # ... at least this many epochs after it, on a trend rising by more than two standard errors
NOISE_LEVEL = 0.12  # mean epoch-to-epoch jump of log(val_loss) in the second half (about 13 %)
STILL_GAIN = 0.03  # validation loss fell more than 3 % over the last fifth of training ...
SIGNIFICANT = 2.0  # ... by more than two standard errors of its trend (the noise cannot explain it)
KEEPS_PACE = 0.25  # ... and a fall at least this share of the training loss's (in log): not mostly memorising
LR_FIND = "dlpipe lr-find PIPELINE"  # the command the learning-rate verdicts point at
STEADY = 0.8  # the share of epochs whose validation loss fell, for "learning rate too low"
LOW_LR = 10.0  # "too low" only at a learning rate under 10x the bottom of the optimizer's usual range
GAP_RATIO = 3.0  # validation loss ends at least 3x the training loss ...
GAP_WIDENED = 2.0  # ... and that ratio is at least twice its smallest in the run (the gap widened) ...
FLAT_BAND = 0.05  # ... while validation loss stayed within 5 % of its minimum (flat) ...
FLAT_SHARE = 0.25  # ... for at least a quarter of the run (and at least 5 epochs)


@dataclass(frozen=True)
class Verdict:
    """A one-word diagnosis, the advice that goes with it, the epoch it starts at (if any), and the advice as
    `--set` overrides where it is a setting (report/advice.py)."""

    kind: str
    advice: str
    epoch: int | None = None
    suggest: tuple[str, ...] = ()
    worded: bool = False  # its advice is not a setting (the words say what to do): nothing to suggest


def with_targets(verdict: Verdict | None, targets: list[dict]) -> Verdict | None:
    """A run that reached every target of training.stop_at stopped there on purpose: "still improving" then
    says so, instead of advising more epochs the user did not ask for."""
    if verdict is None or verdict.kind != "still improving" or not targets or \
            any(t["epoch"] is None for t in targets):
        return verdict
    judged = "too few epochs to judge" if verdict.advice.startswith("too few") else "the loss was still falling"
    return Verdict(verdict.kind, f"{judged}, and every target (training.stop_at) was reached: raise a target "
                                 "to train further", verdict.epoch, worded=True)


UNSEEN = 0.3  # a third of the validation rows hold a category training never saw: the gap is the data's


def with_unseen(verdict: Verdict | None, unseen: dict[str, list[float]] | None) -> Verdict | None:
    """A gap between training and validation that unseen categories explain is blamed on them, not on the network:
    regularising cannot help a one-hot column whose validation values training never held (all zeros)."""
    if verdict is None or verdict.kind not in ("overfitting", "generalisation gap", "noisy") or not unseen:
        return verdict
    name, (share, _) = max(unseen.items(), key=lambda item: item[1][0])
    if share < UNSEEN:
        return verdict
    return Verdict("unseen categories", f"{share:.0%} of validation rows hold a value of {name!r} that training never "
                                        "saw (one-hot encoded, they are all zeros), so the network cannot generalise "
                                        f"from it: read it as characters (text: {{columns: [{name}], tokens: chars, "
                                        "ngrams: [1, 3]}, and out of categorical) or leave it out of features: a "
                                        "change of the data section, not one setting", verdict.epoch, worded=True)


def judge(history: dict[str, list[float]], usual_lr: tuple[float, float] | None = None) -> Verdict | None:
    """The verdict for a history; None when there is no epoch to judge.

    usual_lr: the optimizer's usual learning rates (its USUAL_LR), for "learning rate too low".
    """
    train = np.asarray(history.get("train_loss", []), dtype=float)
    val = np.asarray(history.get("val_loss", []), dtype=float)
    lr = np.asarray(history.get("lr", []), dtype=float)
    peak = f" (it peaked at {lr.max():g})" if len(lr) and np.isfinite(lr).all() else ""
    if len(train) == 0:
        return None
    if not (np.isfinite(train).all() and np.isfinite(val).all()):
        return Verdict("diverging", f"the loss became NaN or infinite: lower the learning rate{peak}, a tenth is a "
                                    "good first try, or clip the gradients (training.clip_grad_norm)")
    jumpy = _jumpy(train, val, peak)  # before "rising": a loss that leaps up and down is the steps' size, not a trend
    if jumpy is None and len(train) >= 3 and val[-1] > 2 * val.min() and train[-1] > train.min() * 1.5:
        return Verdict("diverging", f"training and validation loss are rising: lower the learning rate{peak}")
    if len(val) < JUDGED:
        return Verdict("still improving", f"too few epochs to judge ({len(val)}; a curve needs {JUDGED}): train for "
                                          "more epochs")
    return (jumpy or _plateau(train, val, peak) or _slow(val, lr, usual_lr)
            or _overfitting(train, val) or _noisy(val, lr) or _widening_gap(train, val)
            or _still_improving(train, val) or _levelled(val))


def _jumpy(train: np.ndarray, val: np.ndarray, peak: str) -> Verdict | None:
    """The loss jumps up by JUMP or more again and again: steps too large for the valley they are in."""
    jumps = np.flatnonzero((val[1:] >= JUMP * val[:-1]) | (train[1:] >= JUMP * train[:-1])) + 2  # 1-based epochs
    if len(jumps) < max(JUMPS, 0.05 * len(val)):
        return None
    return Verdict("learning rate too high", f"the loss jumped to {JUMP:g}x or more of the epoch before {len(jumps)} "
                                             f"times, first in epoch {jumps[0]}: the learning rate{peak} is too "
                                             f"high; try a tenth of it ({LR_FIND} measures one)", epoch=int(jumps[0]))


def _plateau(train: np.ndarray, val: np.ndarray, peak: str) -> Verdict | None:
    if _gain(train) >= PLATEAU_GAIN or _gain(val) >= PLATEAU_GAIN:
        return None
    return Verdict("plateau", f"the loss has hardly moved since the start: raise the learning rate{peak}, check that "
                              "inputs and targets are scaled sensibly, or try another optimizer")


def _slow(val: np.ndarray, lr: np.ndarray, usual_lr: tuple[float, float] | None) -> Verdict | None:
    """Fell a little every epoch, all run long, at a learning rate near the bottom of the usual range."""
    if usual_lr is None or not len(lr) or not np.isfinite(lr).all() or lr.max() > LOW_LR * usual_lr[0]:
        return None
    if (np.diff(val) < 0).mean() < STEADY:
        return None
    return Verdict("learning rate too low", f"the validation loss fell a little every epoch, all run long, at a "
                                            f"learning rate of {lr.max():g} (this optimizer's usual range: "
                                            f"{usual_lr[0]:g} to {usual_lr[1]:g}): raise it, 10x is a good first "
                                            f"try ({LR_FIND} measures one)")


def _overfitting(train: np.ndarray, val: np.ndarray) -> Verdict | None:
    """The smoothed validation loss ends above its minimum by more than its noise, over at least RISE_EPOCHS
    epochs (a tenth of the run, if more) of a rising trend, while the training loss kept falling."""
    smooth_val, smooth_train = _smooth(val), _smooth(train)
    best = int(smooth_val.argmin())
    rise = max(OVERFIT_RISE, 2 * _noise(val))  # a rise the noise alone could make does not count
    if len(val) - 1 - best < max(RISE_EPOCHS, math.ceil(len(val) / 10)) or \
            smooth_val[-1] <= smooth_val[best] * (1 + rise) or smooth_train[-1] >= smooth_train[best]:
        return None
    start = int(val[:best + 1].argmin()) + 1  # the raw minimum: the moving average lags behind it
    slope, error = _trend(val[start - 1:])
    if slope <= SIGNIFICANT * error:  # two last epochs above a minimum are not a trend
        return None
    return Verdict("overfitting", f"validation loss has risen {smooth_val[-1] / smooth_val[best] - 1:.0%} since epoch "
                                  f"{start} while training loss kept falling: regularise (dropout, weight_decay), get "
                                  "more data, or stop early (training.early_stopping)", epoch=start)


def _noisy(val: np.ndarray, lr: np.ndarray) -> Verdict | None:
    if _noise(val) <= NOISE_LEVEL:
        return None
    jumps = f"the validation loss jumps by about {math.expm1(_noise(val)):.0%} from epoch to epoch"
    if len(lr) > 1 and lr[-1] < lr.max() / 2:  # a schedule already decays it
        return Verdict("noisy", f"{jumps}: lower the learning rate, or raise the batch size")
    # Measured (benchmarks/verdicts.py): a decaying schedule over twice the epochs beat the constant rate on every
    # noisy case, while a lower rate or larger batches in the same epochs ended worse on the short sine run.
    return Verdict("noisy", f"{jumps} at a constant learning rate: add a schedule that decays it (scheduler: "
                            "{type: cosine}) and give it about twice the epochs")


def _widening_gap(train: np.ndarray, val: np.ndarray) -> Verdict | None:
    """The model learns the training set, not the task: validation loss flat, training loss far below and falling."""
    smooth_train, smooth_val = _smooth(train), _smooth(val)
    ratio = smooth_val / np.maximum(smooth_train, 1e-12)
    flat_since = int(np.argmax(val <= val.min() * (1 + FLAT_BAND)))  # first epoch within 5 % of the minimum
    flat_for = len(val) - flat_since
    if ratio[-1] < GAP_RATIO or ratio[-1] < GAP_WIDENED * ratio.min() or flat_for < max(5, FLAT_SHARE * len(val)):
        return None
    return Verdict("generalisation gap", f"validation loss has been flat since epoch {flat_since + 1} while training "
                                         f"loss kept falling, to {ratio[-1]:.1f}x below it: the model is memorising "
                                         "the training set; regularise (dropout, weight_decay), get more data, or "
                                         "stop early (training.early_stopping)", epoch=flat_since + 1)


def _still_improving(train: np.ndarray, val: np.ndarray) -> Verdict | None:
    """Over the last fifth, a fall of the (log) validation loss larger than STILL_GAIN and than its noise, keeping
    pace with the training loss's."""
    window = max(5, math.ceil(len(val) / 5))
    if len(val) <= window:
        return None
    slope, error = _trend(val[-window:])
    fell = -slope * (window - 1)
    if slope >= 0 or fell <= STILL_GAIN or -slope <= SIGNIFICANT * error:
        return None
    if fell < KEEPS_PACE * -_trend(train[-window:])[0] * (window - 1):
        return None
    return Verdict("still improving", f"the validation loss fell {math.expm1(fell):.0%} over the last {window} "
                                      "epochs, more than its epoch-to-epoch noise: train for more epochs")


def _levelled(val: np.ndarray) -> Verdict:
    """Good; and when it levelled off early, how many epochs did not help."""
    smooth = _smooth(val)
    band = max(FLAT_BAND, 2 * _noise(val))
    since = int(np.argmax(smooth <= smooth.min() * (1 + band))) + 1
    if since <= len(val) / 2 and len(val) - since >= 10:
        more = smooth[since - 1] / smooth.min() - 1
        return Verdict("good", f"the loss fell steadily and levelled off by epoch {since}: the {len(val) - since} "
                               f"epochs after it lowered it only {more:.0%} more", epoch=since)
    return Verdict("good", "the loss fell steadily and levelled off")


def _trend(values: np.ndarray) -> tuple[float, float]:
    """The least-squares slope of log(values) per epoch, and its standard error."""
    logs = np.log(np.maximum(values, 1e-300))
    x = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(x, logs, 1)
    residual = logs - (intercept + slope * x)
    return float(slope), float(residual.std(ddof=2) / math.sqrt(((x - x.mean()) ** 2).sum()))


def _noise(val: np.ndarray) -> float:
    """Mean epoch-to-epoch jump of log(val_loss) over the second half of the run."""
    half = np.log(np.maximum(val[len(val) // 2:], 1e-300))
    return float(np.abs(np.diff(half)).mean()) if len(half) >= 3 else 0.0


def _gain(losses: np.ndarray) -> float:
    """How far the best loss fell below the first, as a fraction of the first."""
    return float((losses[0] - losses.min()) / abs(losses[0])) if losses[0] else 0.0


def _smooth(values: np.ndarray) -> np.ndarray:
    """Trailing moving average over up to 5 epochs (a tenth of the run), so single jumps do not count."""
    width = max(1, min(5, len(values) // 10))
    padded = np.concatenate([np.full(width - 1, values[0]), values])
    return np.convolve(padded, np.ones(width) / width, mode="valid")
