"""training.stop_at: the values a run trains until, and when its history first reached each.

A target is reached when the recorded value is at or beyond it in the metric's direction
(val_accuracy 0.98: at least 0.98; val_loss 0.05: at most 0.05). The run ends after the epoch
where every target has been reached; the report says the epoch and training time of each.
"""

from __future__ import annotations

from dlpipe.language.metrics import higher_is_better


def reached(stop_at: dict[str, float], history: dict[str, list[float]]) -> list[dict]:
    """Each target as {key, target, higher, epoch, time, value}: the first epoch at or beyond it, its training
    time and value, or None for the three while it has not been reached (NaN never reaches anything)."""
    found = []
    for key, target in stop_at.items():
        higher = higher_is_better(key)
        values = history.get(key, [])
        first = next((i for i, v in enumerate(values) if (v >= target if higher else v <= target)), None)
        found.append({"key": key, "target": target, "higher": higher,
                      "epoch": None if first is None else int(history["epoch"][first]),
                      "time": None if first is None else history["time"][first],
                      "value": None if first is None else values[first]})
    return found


def describe(target: dict) -> str:
    """One target in words: 'val_accuracy ≥ 0.98: epoch 3, 4.1 s of training (0.9812)'."""
    sign = "≥" if target["higher"] else "≤"
    head = f"{target['key']} {sign} {target['target']:g}"
    if None in (target["epoch"], target["time"], target["value"]):
        return f"{head}: not reached"
    return f"{head}: epoch {target['epoch']}, {target['time']:.1f} s of training ({target['value']:.4g})"
