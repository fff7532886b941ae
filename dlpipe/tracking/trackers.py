"""The trackers a pipeline's `tracking:` section asks for, run beside training; never a reason for a run to fail.

One table, TRACKERS: the section's key -> the class that logs there. Each tracker takes
the run's history after every epoch (`epoch`) and the finished record (`close`). The
first error a tracker raises (a server that cannot be reached, a full disk, a missing
extra) is said once as a warning and that tracker is dropped: the archive is the record.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any

from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord
from dlpipe.language.secrets import mask, masked
from dlpipe.language.loader import Loaded
from dlpipe.tracking.common import flat
from dlpipe.tracking.mlflow_log import MLflowTracker
from dlpipe.tracking.tensorboard_log import TensorBoardTracker

TRACKERS = {"mlflow": MLflowTracker, "tensorboard": TensorBoardTracker}
SKIPPED = ("sweep", "tracking")  # not settings of the run: left out of the params a tracker gets
GRACE = 1.0  # seconds a tracker call may go on once the run is stopped ...
CLOSING = 5.0  # ... and its last call, which logs how the run ended


class Trackers:
    """The open trackers of one run; a training callback (after every epoch), then close(record)."""

    def __init__(self, opened: dict[str, Any], progress: Progress, stop: threading.Event | None = None):
        self.opened, self.progress, self.hook, self.stop = opened, progress, None, stop
        if opened:  # a tracker's own writer thread that fails (a full disk) is a warning, not a traceback
            self.hook, threading.excepthook = threading.excepthook, self._thread_failed

    def _thread_failed(self, args) -> None:
        """threading.excepthook while trackers are open: a tracker library's thread drops that tracker, with its
        traceback in run.log; any other thread's exception goes to the hook there was."""
        frames = traceback.extract_tb(args.exc_traceback)
        key = next((k for k in TRACKERS if any(f"/{k}/" in frame.filename for frame in frames)), None)
        if key is None:
            return self.hook(args)
        self.progress.log("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))
        if self.opened.pop(key, None) is None:  # (dropped already, by the call that met the same error)
            return None
        _warn(self.progress, key, args.exc_value, None)
        return None

    @classmethod
    def open(cls, loaded: Loaded, record: RunRecord, progress: Progress,
             stop: threading.Event | None = None) -> Trackers:
        """Open every tracker the pipeline asks for (none: nothing is imported); record.tracking says where.

        stop: the run's stop event; a tracker call still waiting (a server that never answers) a second after it is
        set is given up, so Ctrl-C acts at once."""
        tracking, opened = loaded.pipeline.tracking, {}
        if tracking is None:
            return cls(opened, progress, stop)
        params = flat(masked({k: v for k, v in loaded.pipeline.model_dump(mode="json").items() if k not in SKIPPED}))
        before = _before(record)
        record.tracking = {}
        for key, tracker in TRACKERS.items():
            config = getattr(tracking, key)
            if config is None:
                continue
            try:
                opened[key] = waited(lambda: tracker(config, params, record, before.get(key)), stop)
                record.tracking[key] = opened[key].where
                progress.say(f"tracking: {key}: " + ", ".join(f"{k} {mask(str(v))}" for k, v in opened[key].where.items()))
            except Exception as exc:  # noqa: BLE001 - any failure of a tracker is a warning, never a failed run
                _warn(progress, key, exc, record)
        return cls(opened, progress)

    def __call__(self, state) -> None:
        """After each epoch: the new history to every tracker (a training callback; never stops training)."""
        self._each("epoch", state.history)

    def close(self, record: RunRecord) -> None:
        """The rest of the history, the test metrics and the run's files; then each tracker ends."""
        try:
            self._each("close", record, CLOSING)
        finally:
            if self.hook is not None:
                threading.excepthook, self.hook = self.hook, None

    def _each(self, method: str, argument, grace: float = GRACE) -> None:
        for key, tracker in list(self.opened.items()):
            try:
                waited(lambda: getattr(tracker, method)(argument), self.stop, grace)
            except Exception as exc:  # noqa: BLE001 - the archive is the record; this tracker is dropped
                if self.opened.pop(key, None) is None:
                    continue  # (dropped already: its own thread failed first, and said so)
                _warn(self.progress, key, exc, argument if isinstance(argument, RunRecord) else None)


class GaveUp(Exception):
    """A tracker call still waiting when the run was stopped: given up (the tracker is dropped)."""


def waited(work, stop: threading.Event | None, grace: float = GRACE):
    """work() in a thread of its own, waited for until it ends, or until `grace` seconds after `stop` is set (then
    GaveUp: the thread is left to its own timeout, and the process does not wait for it)."""
    if stop is None:
        return work()
    done: dict = {}

    def run() -> None:
        try:
            done["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
            done["error"] = exc

    thread = threading.Thread(target=run, name="dlpipe-tracker", daemon=True)
    thread.start()
    since = None
    while thread.is_alive():
        thread.join(0.1)
        if stop.is_set() and thread.is_alive():
            since = since or time.monotonic()
            if time.monotonic() - since > grace:
                raise GaveUp("no answer, and the run was stopped: given up waiting for it")
    if "error" in done:
        raise done["error"]
    return done.get("value")


def _before(record: RunRecord) -> dict:
    """Where a resumed run was logged before it stopped (its metrics.json); {} for a new run."""
    try:
        return RunRecord.read(record.path, with_history=False).tracking or {}
    except (OSError, ValueError):
        return {}


def _warn(progress: Progress, key: str, exc: Exception, record: RunRecord | None) -> None:
    why = mask(" ".join(str(exc).split())[:800]) or type(exc).__name__  # (MLflow puts its way out last)
    text = f"warning: tracking to {key} stopped ({why}); the run goes on, and its archive is the record"
    progress.warn(text)
    if record is not None and record.tracking is not None:
        record.tracking[f"{key}_error"] = why
