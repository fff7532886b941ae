"""Learning-rate schedules: the lr each epoch runs at, checked against torch's own schedulers."""

from __future__ import annotations

import pytest
import torch
from pydantic import TypeAdapter

from dlpipe.language.optim import SCHEDULERS
from dlpipe.language.section import tagged_union
from dlpipe.engine.schedule import LRSchedule

SCHEDULE = TypeAdapter(tagged_union(SCHEDULERS))


def lrs(raw: dict | None, epochs: int = 6, steps: int = 4, metric=lambda epoch: 1.0, key: str = "val_loss"
        ) -> list[float]:
    """The lr at the start of each epoch when driven like the training loop drives it."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = LRSchedule(SCHEDULE.validate_python(raw) if raw else None, optimizer, epochs, steps)
    seen = []
    for epoch in range(1, epochs + 1):
        schedule.start_epoch(epoch)
        seen.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps):
            optimizer.step()
            schedule.after_batch()
        schedule.end_epoch(epoch, {key: metric(epoch)})
    return seen


@pytest.mark.parametrize("raw, expected", [
    (None, [1, 1, 1, 1, 1, 1]),
    ({"type": "step", "step_size": 2, "gamma": 0.5}, [1, 1, 0.5, 0.5, 0.25, 0.25]),
    ({"type": "multistep", "milestones": [1, 4], "gamma": 0.1}, [1, 0.1, 0.1, 0.1, 0.01, 0.01]),
    ({"type": "exponential", "gamma": 0.5}, [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]),
    ({"type": "step", "step_size": 1, "gamma": 0.5, "warmup_epochs": 3}, [0.25, 0.5, 0.75, 1, 0.5, 0.25]),
])
def test_epoch_schedules(raw, expected):
    assert lrs(raw) == pytest.approx(expected)


def test_cosine_reaches_min_lr_at_the_end():
    seen = lrs({"type": "cosine", "min_lr": 0.1}, epochs=5)
    assert seen[0] == 1 and seen == sorted(seen, reverse=True)
    expected = [0.1 + 0.9 * (1 + torch.cos(torch.tensor(torch.pi * e / 5)).item()) / 2 for e in range(5)]
    assert seen == pytest.approx(expected)


def test_onecycle_steps_every_batch_and_matches_torch():
    seen = lrs({"type": "onecycle", "max_lr": 2.0, "pct_start": 0.5}, epochs=4, steps=5)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2.0, total_steps=20, pct_start=0.5)
    expected = []
    for step in range(20):
        if step % 5 == 0:
            expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert seen == pytest.approx(expected) and max(seen) > 1.0


def test_plateau_cuts_after_patience():
    # the monitored value improves twice, then stalls: with patience 1 the lr is cut after 2 stalled epochs
    values = {1: 3.0, 2: 2.0, 3: 2.0, 4: 2.0, 5: 2.0, 6: 2.0}
    seen = lrs({"type": "reduce_on_plateau", "patience": 1, "factor": 0.5}, metric=values.get)
    assert seen == pytest.approx([1, 1, 1, 1, 0.5, 0.5])


@pytest.mark.parametrize("key, values, cut", [
    ("val_r2", [0.1, 0.5, 0.7, 0.8, 0.9, 0.95], False),  # rising R^2 is progress: never cut
    ("val_r2", [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], True),
    ("val_accuracy", [0.5, 0.6, 0.7, 0.8, 0.9, 0.95], False),
    ("val_mae", [0.5, 0.4, 0.3, 0.2, 0.1, 0.05], False),
    ("val_mae", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], True),
])
def test_plateau_takes_its_direction_from_the_watched_metric(key, values, cut):
    seen = lrs({"type": "reduce_on_plateau", "monitor": key, "patience": 0, "factor": 0.1},
               metric=lambda epoch: values[epoch - 1], key=key)
    assert (min(seen) < 1) is cut, seen


def test_plateau_mode_can_still_be_given():
    seen = lrs({"type": "reduce_on_plateau", "monitor": "val_r2", "mode": "min", "patience": 0, "factor": 0.1},
               metric=lambda epoch: epoch / 10, key="val_r2")
    assert seen[-1] < 1e-3  # the user asked for min: rising R^2 counts as getting worse


@pytest.mark.parametrize("monitor", ["val_foo", "lr", "val_confusion_matrix"])
def test_a_watched_value_of_unknown_direction_is_refused_not_guessed(monitor, cli, write_yaml):
    schedule = SCHEDULE.validate_python({"type": "reduce_on_plateau", "monitor": monitor})
    with pytest.raises(ValueError, match="no metric says whether higher or lower is better"):
        schedule.higher_is_better  # noqa: B018 - never a silent "lower is better"
    assert SCHEDULE.validate_python({"type": "reduce_on_plateau", "monitor": monitor, "mode": "max"}).higher_is_better
    from conftest import TINY_SINE

    done = cli("validate", write_yaml(TINY_SINE + f"scheduler: {{type: reduce_on_plateau, monitor: {monitor}}}\n"))
    assert done.exit_code == 2 and f"'{monitor}' is not recorded by this pipeline (recorded: train_loss, val_loss" \
        in done.stderr


def test_sine_with_a_plateau_on_val_r2_keeps_its_learning_rate(cli, tmp_path):
    """The reproduction: val_r2 rises every epoch, so the lr must stay where it is (it was cut 10x each epoch)."""
    import json

    from conftest import ROOT

    result = cli("run", ROOT / "pipelines" / "sine.yaml", "--out", tmp_path, "-q", "--set", "training.epochs=4",
                 "--set", "scheduler={type: reduce_on_plateau, monitor: val_r2, patience: 0}")
    assert result.exit_code == 0, result.output
    run = next(tmp_path.glob("*/*/"))
    history = (run / "history.csv").read_text().splitlines()
    columns = history[0].split(",")
    r2 = [float(row.split(",")[columns.index("val_r2")]) for row in history[1:]]
    lrs_seen = [float(row.split(",")[columns.index("lr")]) for row in history[1:]]
    assert r2 == sorted(r2) and len(set(lrs_seen)) == 1, (r2, lrs_seen)  # never cut
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
