"""The end of every run, whatever its outcome: the verdicts, history.csv, report.html, metrics.json (last), the
index and the end of run.log. A failure here is said in the record, never raised: the run keeps what it has."""

from __future__ import annotations

import errno
import time
import traceback
from pathlib import Path

from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord
from dlpipe.engine.checkpoint import CHECKPOINT
from dlpipe.language.metrics import headline
from dlpipe.report.advice import advise
from dlpipe.report.baselines import with_baselines
from dlpipe.report.html import Insights, write_report
from dlpipe.report.index import write_index
from dlpipe.report.network import judge_network
from dlpipe.report.verdict import judge, with_targets, with_unseen


def finish(record: RunRecord, insights: Insights, stages: dict[str, float], progress: Progress,
            trace: str) -> RunRecord:
    """metrics.json, history.csv, report.html, the index and the end of run.log, whatever the outcome."""
    t = time.perf_counter()
    fitted = record.data.get("baselines", {})
    verdict = with_unseen(with_targets(judge(record.history, insights.usual_lr), record.targets),
                          (record.data or {}).get("unseen"))
    verdict = advise(verdict, insights.settings, record.evaluated_epoch)  # the curves' advice as --set overrides
    imbalanced = bool((record.data or {}).get("imbalance"))
    supports = [row["support"] for row in record.per_class if row.get("support")]
    samples = int(min(supports) * len(supports)) if imbalanced and supports else fitted.get("samples", 0)
    named = (record.data or {}).get("headline")
    verdict = with_baselines(verdict, fitted.get("kind", record.task), record.test, record.baselines, samples,
                             imbalanced, named)
    record.verdict = {"kind": verdict.kind, "advice": verdict.advice, "epoch": verdict.epoch,
                      "suggest": list(verdict.suggest)} if verdict else None
    network = judge_network(insights.network)
    record.network = {"kind": network.kind, "findings": list(network.findings), "epoch": network.epoch} \
        if network else None
    record.headline = {"name": named, "value": record.test[named]} if named in record.test else \
        headline(record.task, record.test, imbalanced, len(record.classes) or 2)
    if not record.history.get("epoch"):  # no epoch completed: its test figures are an untrained network's
        record.headline, record.verdict = None, None
    try:
        record.write_history()
        write_report(record, insights)
    except Exception as exc:  # noqa: BLE001 - keep the traceback in run.log, not on the terminal
        record.status, record.message = "failed", _writing_failed(exc, "the report", record.path)
        trace += traceback.format_exc()
        (record.path / "report.html").unlink(missing_ok=True)  # the live page would say "running"
    try:
        record.write()  # last: metrics.json says how the run ended only once every other file is in place
    except OSError as exc:  # it keeps its last status (running): the run is resumable once there is room
        record.status, record.message = "failed", _writing_failed(exc, "metrics.json", record.path)
    stages["report"] = time.perf_counter() - t
    update_index(record.path.parent.parent, progress, stages)
    status, *times = record.log_tail(stages).splitlines()
    progress.log(status)  # run.log only: the terminal gets the status once, from the command, with the verdict
    progress.say("\n".join(times))
    if trace:
        progress.log("\n" + trace.rstrip())  # run.log only: the terminal gets the one-line status
    progress.close()
    return record


def update_index(root: Path, progress: Progress, stages: dict[str, float]) -> None:
    t = time.perf_counter()
    try:
        write_index(root)
    except Exception as exc:  # noqa: BLE001 - the index is a convenience: it never fails the run
        progress.say(f"warning: the run index was not updated: {type(exc).__name__}: {exc}")
    stages["index"] = stages.get("index", 0.0) + time.perf_counter() - t  # at the start and at the end


def _writing_failed(exc: Exception, what: str, run_dir: Path) -> str:
    """What went wrong writing the outputs, and what to do: resume when a checkpoint holds the training, else run
    again (the disk filled before the first checkpoint was written: there is nothing to resume)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        if (run_dir / CHECKPOINT).is_file():
            return f"{exc.strerror}; free some space, then `dlpipe run --resume` writes the outputs again"
        return (f"{exc.strerror}; no checkpoint could be written either, so there is nothing to resume: free some "
                "space and run the pipeline again")
    return f"writing {what} failed: {type(exc).__name__}: {exc}"
