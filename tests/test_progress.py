"""Progress output: one line per epoch; a bar inside slow epochs on a terminal; nothing when quiet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dlpipe.archive import log as progress_module
from dlpipe.archive.log import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_slow_epoch_draws_a_bar_then_one_clean_line_then_the_run_level_bar(monkeypatch):
    monkeypatch.setattr(progress_module, "BAR_AFTER_S", 0.0)
    monkeypatch.setattr(progress_module, "BAR_EVERY_S", 0.0)
    stream = Terminal()
    p = Progress(stream=stream)
    p.start_epoch(1, 10)
    p.batch(5, 10)
    assert "[#" + "." * 29 + "] epoch 1/10 batch 5/10" in stream.getvalue()  # 5 % of the run
    p.end_epoch(1, 10, {"train_loss": 0.5, "val_loss": 0.25, "time": 2.5})
    text = stream.getvalue()
    assert "\repoch  1/10  train_loss 0.5000  val_loss 0.2500  2.5s  ETA 22.5s\n" in text
    assert text.endswith("[###" + "." * 27 + "] epoch 1/10 · 2.5s elapsed, ETA 22.5s · train 0.5000 val 0.2500")
    p.say("next")  # the bar is wiped before any line
    assert stream.getvalue().endswith("\r" + " " * len(text.rsplit("\r", 1)[1]) + "\rnext\n")


def test_fast_epochs_and_pipes_get_no_bar():
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        p = Progress(stream=stream)
        p.start_epoch(3, 3)
        p.batch(1, 2)  # well under BAR_AFTER_S
        p.end_epoch(3, 3, {"val_loss": 1.0e-5, "time": 0.01})
        assert stream.getvalue() == "epoch 3/3  val_loss 1.000e-05  0.0s\n"


def test_a_long_run_in_a_pipe_prints_about_20_lines_and_its_last_epoch_while_run_log_keeps_every_one(tmp_path):
    pipe = io.StringIO()
    p = Progress(stream=pipe)
    p.attach(tmp_path / "run.log")
    for epoch in range(1, 248):  # stopped early at 247 of 300
        p.start_epoch(epoch, 300)
        p.end_epoch(epoch, 300, {"train_loss": 1 / epoch, "time": epoch * 0.01})
    p.say("stopped early")
    p.close()
    lines = pipe.getvalue().splitlines()
    assert "\r" not in pipe.getvalue()
    epochs = [int(line.split()[1].split("/")[0]) for line in lines if line.startswith("epoch")]
    assert epochs == [1, *range(15, 247, 15), 247] and len(epochs) <= 22
    assert lines[-1] == "stopped early" and "ETA" in lines[0]
    logged = (tmp_path / "run.log").read_text().splitlines()
    assert [int(line.split()[1].split("/")[0]) for line in logged if line.startswith("epoch")] == list(range(1, 248))
    short = io.StringIO()
    q = Progress(stream=short)
    for epoch in range(1, 31):
        q.end_epoch(epoch, 30, {"train_loss": 1.0, "time": 1.0})
    assert len(short.getvalue().splitlines()) == 30  # a short run: every epoch


def test_the_last_epoch_is_shown_when_the_run_ends_without_another_line():
    pipe = io.StringIO()
    p = Progress(stream=pipe)
    for epoch in range(1, 43):
        p.end_epoch(epoch, 100, {"train_loss": 1.0, "time": 1.0})
    p.close()
    assert pipe.getvalue().splitlines()[-1].startswith("epoch  42/100")


def test_quiet_prints_nothing():
    stream = Terminal()
    p = Progress(quiet=True, stream=stream)
    p.say("hello")
    p.end_epoch(1, 1, {"train_loss": 1.0, "time": 1.0})
    assert stream.getvalue() == ""


@pytest.mark.parametrize("merge", [True, False], ids=["2>&1 | head -1", "| head -1"])
def test_a_closed_reader_stops_the_terminal_lines_not_the_run(tmp_path, write_yaml, merge):
    """`dlpipe run FILE 2>&1 | head -1`: the reader goes after one line; the run completes and keeps everything."""
    import json
    import subprocess
    import sys

    from conftest import ROOT, TINY_SINE

    path = write_yaml(TINY_SINE.replace("epochs: 5", "epochs: 40"))
    process = subprocess.Popen([sys.executable, "-m", "dlpipe", "run", str(path), "--out", str(tmp_path / "out")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.DEVNULL,
                               cwd=ROOT)
    process.stdout.readline()  # the first line (stderr's "run directory:", or stdout's first test metric) ...
    process.stdout.close()  # ... then the reader is gone, as `head -1` goes
    assert process.wait(timeout=120) == 0
    run_dir = next((tmp_path / "out").glob("tiny/*"))
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["status"] == "completed", saved["message"]
    assert {"model.pt", "checkpoint.pt", "report.html", "history.csv"} <= {p.name for p in run_dir.iterdir()}
    assert "epoch 40/40" in (run_dir / "run.log").read_text()  # run.log got every line the terminal did not


def test_a_signal_before_training_ends_the_command_at_once(cli, write_yaml, tmp_path, monkeypatch):
    """While the data loads a first Ctrl-C used to print "stopping after the current batch" and carry on."""
    import os
    import signal

    from dlpipe.data import synthetic

    from conftest import TINY_SINE

    real, seen = synthetic.load, []

    def slow_load(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while the data loads ...
        seen.append("went on")  # ... which must not come back here
        return real(*args, **kwargs)

    from dlpipe.data import sources
    from dlpipe.language.data import SineData

    monkeypatch.setitem(sources.SOURCES, SineData, sources.Source(synthetic.describe, slow_load))
    done = cli("run", write_yaml(TINY_SINE), "--out", tmp_path / "out")
    assert done.exit_code == 130 and "interrupted before training began; no run was started" in done.stderr
    assert seen == [] and not (tmp_path / "out").exists() and "stopping after the current batch" not in done.stderr


def test_sigterm_ends_any_command_at_once_in_one_line(tmp_path):
    """SIGTERM (a job scheduler, `kill`) to `dlpipe predict RUN -` waiting on its input: exit 130, one line."""
    import signal
    import subprocess
    import sys
    import time

    import dlpipe

    from conftest import ROOT

    run = dlpipe.run(ROOT / "pipelines" / "iris.yaml", set={"training.epochs": 2}, out=tmp_path, quiet=True).path
    process = subprocess.Popen([sys.executable, "-m", "dlpipe", "predict", str(run), "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    wchan, deadline = Path(f"/proc/{process.pid}/wchan"), time.monotonic() + 120
    while "pipe" not in wchan.read_text():  # the kernel says it waits on its input: the command is under way
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "dlpipe predict: interrupted; nothing was left half-written" in err
    assert "Traceback" not in err
