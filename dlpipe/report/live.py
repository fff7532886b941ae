"""The live report: report.html while the run trains, rewritten in the background every EVERY_S seconds.

The training loop hands over a copy of the history and the network statistics (microseconds)
at the end of an epoch once EVERY_S have passed; a worker thread renders a light page
(inline SVG charts, no matplotlib: ~5 ms) and writes it atomically, so an open browser
always reads a whole page. The page reloads itself every RELOAD_S seconds while it is
fresh, and stops, saying so, once no update has come for STALE_S (a killed run); the final
report, which replaces it, does not reload. `close` stops the worker before the final
report is written, so a late live page can never overwrite it.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone

from dlpipe.archive.files import write_atomic
from dlpipe.archive.record import RunRecord
from dlpipe.report.network import judge_network
from dlpipe.report.pages import render_page
from dlpipe.report.charts import TRAIN, VAL
from dlpipe.report.svg import line_chart

EVERY_S = 3.0
RELOAD_S = 3
STALE_S = 60


def _charts(history: dict[str, list[float]]) -> list[str]:
    epochs = history.get("epoch", [])
    losses = [v for k in ("train_loss", "val_loss") for v in history.get(k, []) if v and v > 0]
    log = bool(losses) and max(losses) / min(losses) > 10
    charts = [line_chart([("train loss", TRAIN, epochs, history.get("train_loss", [])),
                          ("validation loss", VAL, epochs, history.get("val_loss", []))], "Loss by epoch", log=log)]
    if "train_accuracy" in history:
        charts.append(line_chart([("train accuracy", TRAIN, epochs, history["train_accuracy"]),
                                  ("validation accuracy", VAL, epochs, history.get("val_accuracy", []))],
                                 "Accuracy by epoch"))
    return charts


def render_live(record: RunRecord, history: dict[str, list[float]], network: list[dict], epochs: int,
                elapsed: float, summary=None) -> str:
    """The live page's HTML for the run as it stands."""
    done = len(history.get("epoch", []))
    last = {k: v[-1] for k, v in history.items() if v and k not in ("epoch", "time")}
    latest = max((row["epoch"] for row in network), default=None)
    eta = elapsed / done * (epochs - done) if done else None
    return render_page("live.html", r=record, done=done, epochs=epochs, elapsed=elapsed, eta=eta, last=last,
                       charts=_charts(history) if done else [], verdict=judge_network(network),
                       layers=[{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
                               for row in network if row["epoch"] == latest], summary=summary,
                       written=datetime.now(timezone.utc), reload_s=RELOAD_S, stale_s=STALE_S)


class LiveReport:
    """Call it at the end of every epoch with the training state; `close()` before the final report."""

    def __init__(self, record: RunRecord, epochs: int, network: list[dict], summary=None, enabled: bool = True):
        self.record, self.epochs, self.network, self.summary = record, epochs, network, summary
        self.enabled, self.updates, self.cpu_s = enabled, 0, 0.0
        self._due = 0.0  # write at once: report.html exists from the first epoch on
        self._job: tuple | None = None
        self._wake, self._lock, self._stop = threading.Event(), threading.Lock(), False
        self._thread = threading.Thread(target=self._work, name="dlpipe-live-report", daemon=True)
        if enabled:
            self._thread.start()
            self.submit({}, 0.0)

    def __call__(self, state) -> None:
        now = time.perf_counter()
        if self.enabled and now >= self._due:
            self._due = now + EVERY_S
            self.submit({k: list(v) for k, v in state.history.items()}, state.elapsed)

    def submit(self, history: dict, elapsed: float) -> None:
        with self._lock:
            self._job = (history, list(self.network), elapsed)
        self._wake.set()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                job, self._job = self._job, None
                self._wake.clear()
                if self._stop:
                    return
            if job is None:
                continue
            start = time.thread_time()
            try:
                self.write(*job)
            except Exception:  # noqa: BLE001 - a live page is a convenience: it never fails the run
                pass
            self.cpu_s += time.thread_time() - start

    def write(self, history: dict, network: list[dict], elapsed: float) -> None:
        """Render and write one live page (in the worker thread)."""
        page = render_live(self.record, history, network, self.epochs, elapsed, self.summary)
        write_atomic(self.record.path / "report.html", page)
        self.updates += 1

    def close(self) -> None:
        """Stop the worker (a page being written is finished first); nothing is written after this returns."""
        if not self.enabled:
            return
        with self._lock:
            self._stop, self._job = True, None
        self._wake.set()
        self._thread.join()
