"""Terminal progress and run.log: one line per epoch, a bar inside slow epochs and during downloads."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_AFTER_S = 2.0
BAR_EVERY_S = 0.2
BAR_WIDTH = 30


class Progress:
    """Prints to `stream` (stderr by default); quiet=True prints nothing."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, stop=None):
        self.quiet = quiet
        self.stop = stop  # a threading.Event set by Ctrl-C or SIGTERM: long work before training checks it
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._epoch_start = self._last_draw = time.perf_counter()
        self._bar_shown = False
        self.transcript: list[str] = []  # everything said, quiet or not, until a log file is attached
        self._log: TextIO | None = None

    def attach(self, path) -> None:
        """Append everything said so far, and from now on, to the file at `path` (the run.log)."""
        self._log = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the rest of the run
        self._log.write("".join(line + "\n" for line in self.transcript))
        self._log.flush()

    def close(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass  # what could not be flushed was already kept in the transcript
            self._log = None

    def say(self, text: str) -> None:
        """Print a line (unless quiet) and keep it for run.log."""
        self.clear_bar()
        self.log(text)
        if not self.quiet:
            print(text, file=self.stream, flush=True)

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

    def start_epoch(self) -> None:
        self._epoch_start = self._last_draw = time.perf_counter()

    def batch(self, done: int, total: int) -> None:
        """Redraw the in-epoch bar, at most every BAR_EVERY_S, once the epoch is slow."""
        if self.quiet or not self.tty:
            return
        now = time.perf_counter()
        if now - self._epoch_start < BAR_AFTER_S or now - self._last_draw < BAR_EVERY_S:
            return
        self._last_draw = now
        self.bar(done, total, f"{done}/{total} batches {now - self._epoch_start:.1f}s")

    def bar(self, done: float, total: float, label: str) -> None:
        """Draw a bar over the current terminal line (a tty only, not run.log): training batches, downloads."""
        if self.quiet or not self.tty or total <= 0:
            return
        filled = int(BAR_WIDTH * min(done, total) // total)
        self.stream.write(f"\r  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {label}")
        self.stream.flush()
        self._bar_shown = True

    def clear_bar(self) -> None:
        if self._bar_shown:
            self.stream.write("\r" + " " * (BAR_WIDTH + 50) + "\r")
            self._bar_shown = False

    def end_epoch(self, epoch: int, epochs: int, values: dict[str, float]) -> None:
        """One line: epoch counter, then every recorded value of this epoch."""
        self.clear_bar()
        width = len(str(epochs))
        seconds = values.pop("time", 0.0)
        fields = "  ".join(f"{key} {_fmt(value)}" for key, value in values.items())
        self.say(f"epoch {epoch:>{width}}/{epochs}  {fields}  {seconds:.1f}s")


def _fmt(value: float) -> str:
    """Short, aligned numbers: 4 significant digits, scientific when tiny or huge."""
    if value == 0 or 1.0e-3 <= abs(value) < 1.0e4:
        return f"{value:.4f}"
    return f"{value:.3e}"
