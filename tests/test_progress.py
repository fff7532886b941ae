"""Progress output: one line per epoch; a bar inside slow epochs on a terminal; nothing when quiet."""

from __future__ import annotations

import io

from dlpipe.archive import log as progress_module
from dlpipe.archive.log import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_slow_epoch_draws_a_bar_then_one_clean_line(monkeypatch):
    monkeypatch.setattr(progress_module, "BAR_AFTER_S", 0.0)
    monkeypatch.setattr(progress_module, "BAR_EVERY_S", 0.0)
    stream = Terminal()
    p = Progress(stream=stream)
    p.start_epoch()
    p.batch(5, 10)
    assert "[###############...............] 5/10 batches" in stream.getvalue()
    p.end_epoch(1, 10, {"train_loss": 0.5, "time": 2.5})
    assert stream.getvalue().endswith("\repoch  1/10  train_loss 0.5000  2.5s\n")


def test_fast_epochs_and_pipes_get_no_bar():
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        p = Progress(stream=stream)
        p.start_epoch()
        p.batch(1, 2)  # well under BAR_AFTER_S
        p.end_epoch(3, 3, {"val_loss": 1.0e-5, "time": 0.01})
        assert stream.getvalue() == "epoch 3/3  val_loss 1.000e-05  0.0s\n"


def test_quiet_prints_nothing():
    stream = Terminal()
    p = Progress(quiet=True, stream=stream)
    p.say("hello")
    p.end_epoch(1, 1, {"train_loss": 1.0, "time": 1.0})
    assert stream.getvalue() == ""
