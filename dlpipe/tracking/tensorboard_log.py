"""TensorBoard: event files with every epoch's scalars (train and validation of a metric on one chart) and, at the
end, the hyperparameters with the test metrics (the HPARAMS tab compares runs and sweep trials)."""

from __future__ import annotations

import json
from pathlib import Path

from dlpipe.archive.record import RunRecord
from dlpipe.language.tracking import TensorBoardTracking
from dlpipe.tracking.common import finite_steps, need

FLUSH_S = 2  # seconds between writes of the event file: `tensorboard` shows a run as it trains


def tag(key: str) -> str:
    """train_loss -> loss/train, val_loss -> loss/validation (one chart each); lr, time as they are."""
    for prefix, split in (("train_", "train"), ("val_", "validation")):
        if key.startswith(prefix):
            return f"{key[len(prefix):]}/{split}"
    return key


class TensorBoardTracker:
    """One event-file folder per run: DIR/<name>/<run stamp>."""

    def __init__(self, config: TensorBoardTracking, params: dict, record: RunRecord, before: dict | None = None):
        """before: where the run was logged before it was stopped (unused: a resumed run's folder is the same)."""
        need("tensorboard", "tensorboard")
        writer = need("torch.utils.tensorboard", "tensorboard")
        self.folder = Path(config.dir) / record.name / record.path.name
        # A resumed run writes its whole history again: TensorBoard hides the first try's events from step 1 on.
        again = self.folder.is_dir() and any(self.folder.glob("events.out.tfevents.*"))
        self.writer = writer.SummaryWriter(log_dir=str(self.folder), flush_secs=FLUSH_S, purge_step=1 if again else None)
        self.params = {key: value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
                       for key, value in params.items()}
        self.where = {"dir": str(self.folder)}
        self.logged = 0

    def epoch(self, history: dict[str, list[float]]) -> None:
        for key, step, value in finite_steps(history, self.logged):
            self.writer.add_scalar(tag(key), value, step)
        self.logged = len(history.get("epoch", []))

    def close(self, record: RunRecord) -> None:
        """The last epochs; the test metrics as test/NAME, with the hyperparameters; the file closed."""
        self.epoch(record.history)
        summary = need("torch.utils.tensorboard.summary", "tensorboard")
        results = {f"test/{key}": float(value) for key, value in record.test.items() if isinstance(value, (int, float))}
        for part in summary.hparams(self.params, results):  # the HPARAMS plugin's experiment, start and end
            self.writer.file_writer.add_summary(part)
        for key, value in results.items():
            self.writer.add_scalar(key, value, max(self.logged, 1))
        self.writer.close()
