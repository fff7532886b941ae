"""`dlpipe lr-find PIPELINE`: the learning-rate range test on the pipeline's own data, network and optimizer.

The training batches are drawn as a run draws them (seeded, shuffled, cycling over small data), the curve
is drawn as the report draws its charts, and the page and lr_find.json are archived beside the pipeline's
runs, in RUNS/<name>/lr-find/<stamp>/. Nothing else is kept: the weights trained by the test are thrown away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from dlpipe.archive.files import write_atomic, write_json
from dlpipe.archive.log import Progress
from dlpipe.data.sources import load_data
from dlpipe.engine.device import place, use_channels_last
from dlpipe.engine.evaluate import channels_last
from dlpipe.engine.local import Local
from dlpipe.engine.lrfind import RULES, RangeTest, range_test, steps_for
from dlpipe.engine.optim import build_loss, build_optimizer
from dlpipe.engine.train import epoch_order, forward_of, steps_per_epoch
from dlpipe.language.loader import Loaded
from dlpipe.model.layers import Facts
from dlpipe.model.network import build_model
from dlpipe.report.advice import number
from dlpipe.report.pages import render_page
from dlpipe.report.svg import Chart, Line, Rule


@dataclass
class Found:
    """The test's curve, its suggestion, and where its page is."""

    test: RangeTest
    folder: Path
    pipeline_lr: float

    key: str = "optimizer.lr"  # scheduler.max_lr under onecycle, whose peak the suggestion is

    @property
    def override(self) -> str | None:
        return f"{self.key}={number(self.test.suggestion)}" if self.test.suggestion else None


def find_lr(loaded: Loaded, out: Path, progress: Progress, stop: Callable[[], bool] = lambda: False) -> Found:
    """Run the range test on the pipeline and archive its page."""
    pipeline = loaded.pipeline
    data = load_data(pipeline.data, pipeline.seed, progress)
    device = place(pipeline.training, None, tune_process=False)
    data = data.to(device)
    torch.manual_seed(pipeline.seed)
    model, _ = build_model(pipeline.model, data.sample_shape, Facts(data.info.vocabulary))
    model.to(device)
    use_channels_last(model, device)
    optimizer = build_optimizer(pipeline.optimizer, model.parameters())
    training, x = pipeline.training, data.train.x
    precision = "bf16" if training.precision == "bf16" else "fp32"  # (fp16 would need the scaler: fp32 here)
    forward = forward_of(model, device.type, precision, x.dim() == 4 and channels_last(model))
    steps = steps_for(steps_per_epoch(len(x), training.batch_size))
    progress.say(f"lr-find: {steps} steps of {min(training.batch_size, len(x))}, the learning rate rising from "
                 "1e-7 to 10")
    onecycle = pipeline.scheduler is not None and pipeline.scheduler.type == "onecycle"
    test = range_test(model, build_loss(pipeline.loss), optimizer, _batches(data, training, pipeline.seed), steps,
                      forward, stop=stop, rule="peak" if onecycle else "lr")
    folder = Path(out) / pipeline.name / "lr-find" / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    found = Found(test, folder, pipeline.scheduler.max_lr if onecycle else pipeline.optimizer.lr,
                  "scheduler.max_lr" if onecycle else "optimizer.lr")
    _write(found, loaded)
    return found


def _batches(data, training, seed: int):
    """Training batches as a run draws them, epoch after epoch, for as long as the test asks."""
    generator, sync, x, y = torch.Generator().manual_seed(seed), Local(), data.train.x, data.train.y
    while True:
        yield from sync.batches(x, y, epoch_order(training, y, len(x), generator), min(training.batch_size, len(x)))


def _write(found: Found, loaded: Loaded) -> None:
    test, lr = found.test, found.pipeline_lr
    found.folder.mkdir(parents=True, exist_ok=True)
    write_json(found.folder / "lr_find.json", {
        "pipeline": str(loaded.path), "lrs": test.lrs, "losses": test.losses, "stopped": test.stopped,
        "suggestion": test.suggestion, "rule": RULES[test.rule][1], "pipeline_lr": lr})
    rules = [Rule(math.log10(lr), f"the pipeline's lr {lr:g}", "#7f7f7f", "6 4")]
    if test.suggestion:
        rules.insert(0, Rule(math.log10(test.suggestion), f"suggested {test.suggestion:.2g}", "#2ca02c"))
    chart = Chart("Loss while the learning rate rises", [Line("smoothed training loss", "#1f77b4",
                  [math.log10(v) for v in test.lrs], test.losses)], rules, x_label="learning rate (log scale)",
                  y_label="loss", log=min(test.losses, default=1) > 0, log_x=True)
    write_atomic(found.folder / "report.html", render_page(
        "lr_find.html", name=loaded.pipeline.name, chart=chart.svg(), test=test, rule=RULES[test.rule][1], pipeline_lr=lr,
        override=found.override, key=found.key, source=str(loaded.path)))
