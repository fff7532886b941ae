"""Terminal progress and run.log: epoch lines, a run-level bar on a terminal, bars during downloads.

run.log gets every epoch. The terminal (or a pipe: CI, nohup) gets every epoch of a run of at
most EVERY_EPOCH_UP_TO epochs, else about LINES_PER_RUN lines in all plus the last epoch; on a
terminal a bar below them shows the run's progress (epoch k/N, elapsed, ETA, latest losses)
and, inside a slow epoch, its batches. Written here rather than with tqdm or rich: each
takes ~0.1 s to import (measured: tqdm 91-100 ms, rich.progress 92-113 ms), more than
this whole module does, on every run.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

class StopRequest(threading.Event):
    """A Ctrl-C or SIGTERM, as the command's signal handler records it.

    While `deferring` (a run has its directory and is training) a signal only sets it: the run stops after
    the current batch and writes its checkpoint and report. Before that (checks, loading, a sweep between its
    trials) the handler ends the command at once with KeyboardInterrupt, which every writer cleans up after.
    """

    deferring = False


@contextmanager
def deferring_stops(stop) -> Iterator[None]:
    """From here until the block ends a signal stops the run gently (a StopRequest only; others are left alone)."""
    if not isinstance(stop, StopRequest):
        yield
        return
    before, stop.deferring = stop.deferring, True
    try:
        yield
    finally:
        stop.deferring = before


BAR_AFTER_S = 2.0
BAR_EVERY_S = 0.2
BAR_WIDTH = 30
EVERY_EPOCH_UP_TO = 30
LINES_PER_RUN = 20


def epoch_shown(epoch: int, epochs: int) -> bool:
    """Whether the terminal gets this epoch's line (run.log gets every one)."""
    if epochs <= EVERY_EPOCH_UP_TO:
        return True
    return epoch == 1 or epoch % math.ceil(epochs / LINES_PER_RUN) == 0 or epoch == epochs


def clock(seconds: float) -> str:
    """4.2s, 3m07s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class Progress:
    """Prints to `stream` (stderr by default); quiet=True prints nothing."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, stop=None):
        self.quiet = quiet
        self.stop = stop  # a threading.Event set by Ctrl-C or SIGTERM: long work before training checks it
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._epoch_start = self._last_draw = time.perf_counter()
        self._bar_shown, self._bar_length = False, 0
        self._pending = ""  # the latest epoch line the terminal has not shown (shown before anything else)
        self._epoch, self._epochs, self._run_text = 0, 0, ""
        self.transcript: list[str] = []  # everything said, quiet or not, until a log file is attached
        self._log: TextIO | None = None

    def attach(self, path) -> None:
        """Append everything said so far, and from now on, to the file at `path` (the run.log)."""
        self._log = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the rest of the run
        self._log.write("".join(line + "\n" for line in self.transcript))
        self._log.flush()

    def close(self) -> None:
        if self._pending and not self.quiet:  # the run's last epoch line, not shown yet
            self.clear_bar()
            self.write(self._pending + "\n")
        self._pending = ""
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass  # what could not be flushed was already kept in the transcript
            self._log = None

    def say(self, text: str) -> None:
        """Print a line (unless quiet) and keep it for run.log."""
        self.log(text)
        self._print(text)

    def warn(self, text: str) -> None:
        """A warning: kept for run.log and shown on stderr even when quiet (quiet is not silent about a problem)."""
        self.log(text)
        self.clear_bar()
        try:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):  # a closed stderr: run.log has it
            pass

    def _print(self, text: str) -> None:
        self.clear_bar()
        if self.quiet:
            return
        if self._pending:  # the last epoch before whatever comes next is always shown
            pending, self._pending = self._pending, ""
            self.write(pending + "\n")
        self.write(text + "\n")

    def write(self, text: str) -> None:
        """Write to the terminal. A closed reader (`dlpipe run ... | head -5`) ends the terminal output, never the
        run: everything goes on into run.log, the report and the checkpoint."""
        if self.quiet:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError) as exc:  # ValueError: the stream was closed under us
            self.quiet = self.tty = False
            self.log(f"(the terminal output stopped here: {type(exc).__name__}; the run went on)")
            detach(self.stream)

    def log(self, text: str) -> None:
        """Keep `text` for run.log only (a traceback: the terminal gets one line, the log the details)."""
        if self._log is None:
            self.transcript.append(text)
            return
        try:
            self._log.write(text + "\n")
            self._log.flush()
        except OSError:  # a full disk: the terminal still gets every line, and the run its ending
            self.transcript.append(text)

    def start_epoch(self, epoch: int = 0, epochs: int = 0) -> None:
        self._epoch_start = self._last_draw = time.perf_counter()
        self._epoch, self._epochs = epoch, epochs

    def batch(self, done: int, total: int) -> None:
        """Redraw the bar with this epoch's batches, at most every BAR_EVERY_S, once the epoch is slow."""
        if self.quiet or not self.tty:
            return
        now = time.perf_counter()
        if now - self._epoch_start < BAR_AFTER_S or now - self._last_draw < BAR_EVERY_S:
            return
        self._last_draw = now
        where = f"epoch {self._epoch}/{self._epochs} " if self._epochs else ""
        share = (self._epoch - 1 + done / total) / self._epochs if self._epochs else done / total
        self.bar(share, 1.0, f"{where}batch {done}/{total} {now - self._epoch_start:.1f}s" +
                 (f" · {self._run_text}" if self._run_text else ""))

    def bar(self, done: float, total: float, label: str) -> None:
        """Draw a bar over the current terminal line (a tty only, not run.log): training batches, downloads."""
        if self.quiet or not self.tty or total <= 0:
            return
        filled = int(BAR_WIDTH * min(done, total) // total)
        line = f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {label}"
        width = self._columns() - 1  # a wrapped line could not be redrawn
        self.write("\r" + line[:width] + " " * max(0, self._bar_length - len(line[:width])))
        self._bar_length = len(line[:width])
        self._bar_shown = True

    def _columns(self) -> int:
        """The width of the terminal the stream writes to (120 when it cannot say)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return 120

    def clear_bar(self) -> None:
        if self._bar_shown:
            self._bar_shown = False
            self.write("\r" + " " * self._bar_length + "\r")

    def end_epoch(self, epoch: int, epochs: int, values: dict[str, float]) -> None:
        """The epoch's line (counter, every recorded value, seconds): to run.log always, to the terminal as
        epoch_shown says; then, on a terminal, the run-level bar."""
        width = len(str(epochs))
        seconds = values.pop("time", 0.0)
        fields = "  ".join(f"{key} {_fmt(value)}" for key, value in values.items())
        line = f"epoch {epoch:>{width}}/{epochs}  {fields}  {seconds:.1f}s"
        self.log(line)
        eta = seconds / epoch * (epochs - epoch) if epoch < epochs else 0.0
        losses = " ".join(f"{k.removesuffix('_loss')} {_fmt(v)}" for k, v in values.items() if k.endswith("loss"))
        self._run_text = f"{clock(seconds)} elapsed, ETA {clock(eta)} · {losses}"
        if epoch_shown(epoch, epochs):
            self._pending = ""
            self._print(line + (f"  ETA {clock(eta)}" if epoch < epochs else ""))
        else:
            self._pending = line
        now = time.perf_counter()
        if self.tty and epoch < epochs and now - self._last_draw >= BAR_EVERY_S:
            self._last_draw = now
            self.bar(epoch, epochs, f"epoch {epoch}/{epochs} · {self._run_text}")


def detach(stream) -> None:
    """Point a stream whose reader has gone (EPIPE) at /dev/null, so the interpreter's last flush cannot fail."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _fmt(value: float) -> str:
    """Short, aligned numbers: 4 significant digits, scientific when tiny or huge."""
    if value == 0 or 1.0e-3 <= abs(value) < 1.0e4:
        return f"{value:.4f}"
    return f"{value:.3e}"
