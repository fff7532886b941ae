"""The orchestrator: config -> data -> model -> training -> test -> archive -> report.

Read `run` top to bottom; it is the one module that imports every stage. Whatever
happens after the run directory exists, the directory ends with a report and a
run.log that say what happened; a checkpoint lets `dlpipe run --resume RUN_DIR`
finish an interrupted run.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from dlpipe.archive import files
from dlpipe.archive.environment import environment
from dlpipe.archive.log import Progress
from dlpipe.archive.record import RunRecord
from dlpipe.data.dataset import Dataset
from dlpipe.data.sources import load_data
from dlpipe.engine import distributed, integrity
from dlpipe.engine.checkpoint import Checkpointer, ResumeError, model_bytes
from dlpipe.engine.device import place, resolve_device, use_channels_last
from dlpipe.engine.resume import Resumed, checkpoint_the_end, restored
from dlpipe.engine.distributed import Ranks, World
from dlpipe.engine.evaluate import predict, scores
from dlpipe.engine.optim import build_loss, build_optimizer
from dlpipe.engine.probe import NetworkProbe
from dlpipe.engine.schedule import LRSchedule
from dlpipe.engine.train import Callback, FitOutcome, fit, steps_per_epoch
from dlpipe.language.errors import InvalidValue
from dlpipe.language.loader import Loaded
from dlpipe.language.metrics import headline
from dlpipe.model.network import build_model, check_output
from dlpipe.report.html import Insights, write_report
from dlpipe.report.index import write_index
from dlpipe.report.live import LiveReport
from dlpipe.report.insights import (class_report, data_facts, learned_parameters, predicted_vs_true,
                                    regression_curve)
from dlpipe.report.network import judge_network
from dlpipe.report.verdict import judge

@dataclass
class RunContext:
    """One run as the stages below see it: what was asked, and what it has produced so far (filled in as it goes)."""

    loaded: Loaded
    progress: Progress
    record: RunRecord
    stop: threading.Event | None = None  # set by a signal: end after the current batch
    world: World | None = None  # a distributed run's place in it; None for one process
    tune_process: bool = False  # the `dlpipe` command itself may tune the process (speed.py)
    resume: bool = False
    allow_changed_data: bool = False  # a resume may continue on data files that changed since (said in the report)
    callbacks: tuple[Callback, ...] = ()  # asked after every epoch, after the run's own (a sweep's pruner)
    insights: Insights = field(default_factory=Insights)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, for run.log

    @property
    def writer(self) -> bool:
        """Whether this process writes the run directory (every process but a distributed run's other ranks)."""
        return self.world is None or self.world.main


def run(loaded: Loaded, out_root: Path, progress: Progress, stop: threading.Event | None = None,
        resume_dir: Path | None = None, world: World | None = None, tune_process: bool = False,
        callbacks: tuple[Callback, ...] = (), sweep: dict | None = None, startup_s: float | None = None,
        allow_changed_data: bool = False) -> RunRecord:
    """Train the pipeline (or continue the run in resume_dir) and archive everything in its run directory.

    Raises PipelineError (a setting the data cannot satisfy) or DataUnavailable before any
    run directory exists. In a distributed run every rank trains; only rank 0 writes the
    run directory. tune_process: the `dlpipe` command itself may tune the process (speed.py).
    callbacks: asked after every epoch; one may end the run (a sweep's pruner: status pruned).
    sweep: the sweep this run is a trial of ({study, trial, page, metric, maximize}), shown in its record.
    startup_s: the process's seconds before this call (interpreter, imports, checks), for run.log's stages.
    allow_changed_data: resume even if a data file changed since the run started (refused otherwise).
    """
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    writer = world is None or world.main
    # The run directory is this process's until it returns (RunLocked when another live one has it).
    locks = [files.lock_run_dir(resume_dir)] if resume_dir is not None and writer else []
    try:
        try:
            resolve_device(loaded.pipeline.training.device)
            data = load_data(loaded.pipeline.data, loaded.pipeline.seed, progress)
        except InvalidValue as exc:
            raise loaded.invalid(exc) from None
        stages = {**({"start-up": startup_s} if startup_s is not None else {}),
                  "load data": time.perf_counter() - clock}
        run_dir = _open_run_dir(loaded, out_root, started, resume_dir, progress) if writer else \
            Path(resume_dir or tempfile.mkdtemp(prefix="dlpipe-rank-"))
        if writer and not locks:
            locks.append(files.lock_run_dir(run_dir))  # a new directory: nobody else can know it yet
        if writer:
            _index(run_dir.parent.parent, progress, stages)  # the index shows the run as running (it holds the lock)
        record = _record(loaded, run_dir, started)
        record.status, record.sweep = "failed", sweep
        context = RunContext(loaded, progress, record, stop, world, tune_process, resume_dir is not None,
                             allow_changed_data, tuple(callbacks), stages=stages)
        return _run(context, data, clock)
    finally:
        for lock in locks:
            files.unlock_run_dir(lock)


def _run(context: RunContext, data: Dataset, clock: float) -> RunRecord:
    """Train and test; whatever happens, the run directory ends with its report (rank 0)."""
    record, progress, trace = context.record, context.progress, ""
    try:
        _train(context, data)
    except ResumeError as exc:  # nothing was trained: the run's files stay as they were
        progress.log(f"--resume failed before training, nothing was changed: {exc}")
        progress.log(traceback.format_exc().rstrip())
        progress.close()
        raise
    except Exception as exc:  # noqa: BLE001 - any failure still ends with a report
        lost = context.world is not None and isinstance(exc, RuntimeError) and (
            "peer" in str(exc) or "Connection" in str(exc))
        cause = "another worker of this distributed run failed or was killed; " if lost else ""
        record.status, record.message = "failed", f"{cause}{type(exc).__name__}: {exc}"
        trace = traceback.format_exc()
    record.duration_s = time.perf_counter() - clock
    if not context.writer:
        if not context.resume:
            shutil.rmtree(record.path, ignore_errors=True)
        return record
    return _finish(record, context.insights, context.stages, progress, trace)


def _record(loaded: Loaded, run_dir: Path, started: datetime) -> RunRecord:
    pipeline = loaded.pipeline
    return RunRecord(name=pipeline.name, started=started, path=run_dir, task=pipeline.task,
                     description=pipeline.description, seed=pipeline.seed, source=str(loaded.path),
                     loss=pipeline.loss.type)


def _open_run_dir(loaded: Loaded, out_root: Path, started: datetime, resume_dir: Path | None,
                  progress: Progress) -> Path:
    """A new run directory holding the resolved pipeline (or the one being resumed); run.log opened."""
    run_dir = resume_dir or files.create_run_dir(out_root, loaded.pipeline.name, started)
    if resume_dir is None:
        try:
            files.write_atomic(run_dir / "pipeline.yaml", files.resolved_yaml(
                loaded.pipeline.model_dump(mode="json"), loaded.path, loaded.overrides, loaded.origin))
            _record(loaded, run_dir, started).write()  # status: running
        except OSError:
            shutil.rmtree(run_dir, ignore_errors=True)  # (a full disk) no directory that is not a run
            raise
    progress.attach(run_dir / "run.log")
    progress.say(f"{'resuming' if resume_dir else 'run directory:'} {run_dir}  ({started.isoformat()})")
    return run_dir


def _train(context: RunContext, data: Dataset) -> None:
    """Build, restore when resuming, fit with checkpoints, then evaluate on the test split."""
    loaded, progress, record, insights, stages = (context.loaded, context.progress, context.record,
                                                  context.insights, context.stages)
    pipeline, run_dir, world = loaded.pipeline, record.path, context.world
    device = place(pipeline.training, world, context.tune_process)
    record.device, record.task = str(device), data.task
    record.environment = environment(loaded.text, data.files, str(device))
    record.data = data_facts(data, loaded.task_reason)
    data = data.to(device)
    torch.manual_seed(pipeline.seed)  # initial weights and dropout masks
    generator = torch.Generator().manual_seed(pipeline.seed)  # batch order

    t = time.perf_counter()
    model, loss_fn, optimizer, schedule = _build(pipeline, data, device, insights)
    data_files = record.environment["data_files"]
    resumed = restored(run_dir, device, model, optimizer, schedule, generator, progress, data_files,
                       context.allow_changed_data) if context.resume else None
    state = resumed.state if resumed else None
    record.resumed_after = state.epoch if state else None
    _provenance(record, resumed)
    stages["build"] = time.perf_counter() - t
    _say_setup(progress, insights, device, loaded, data, world)

    t = time.perf_counter()
    saver = Checkpointer(run_dir, model, optimizer, schedule, generator, state.epoch if state else 0,
                         enabled=context.writer, run_identity=integrity.identity(
                             (run_dir / "pipeline.yaml").read_bytes() if context.writer else b"", data_files,
                             record.environment["data_files"]))
    probe = NetworkProbe(model, insights.summary, data.validation.x, run_dir if saver.enabled else None,
                         pipeline.training.epochs, state.epoch if state else 0)
    finished = state is not None and state.finished is not None
    live = LiveReport(record, pipeline.training.epochs, probe.rows, insights.summary,
                      enabled=saver.enabled and not finished)  # report.html from now on: status running
    try:
        if finished:  # killed while writing its outputs: re-create them, train no more
            progress.say("training had finished; writing the outputs again")
            fitted = FitOutcome(**state.finished)
        else:
            state, fitted = fit(distributed.wrap(model, device) if world else model, data, loss_fn=loss_fn,
                                optimizer=optimizer, training=pipeline.training, metrics=pipeline.scalar_metrics,
                                generator=generator, progress=progress, schedule=schedule, state=state,
                                callbacks=(saver, probe, live, *context.callbacks), stop=context.stop,
                                sync=Ranks(world) if world else None)
            checkpoint_the_end(saver, state, fitted, run_dir)
    finally:
        live.close()  # before anything else writes report.html
    record.history, record.status, record.message = state.history, fitted.status, fitted.message
    record.best_epoch, record.evaluated_epoch = state.best_epoch, fitted.evaluated_epoch
    insights.diverged_at = fitted.diverged_at
    insights.network, stages["train"], stages["layer stats"] = probe.rows, time.perf_counter() - t, probe.spent
    stages["live report"] = live.cpu_s  # in a thread beside training (CPU seconds)

    t = time.perf_counter()
    _test(model, data, loss_fn, loaded, world, record, insights)
    _save_model(run_dir, model, pipeline.model_dump(mode="json"), data)
    stages["evaluate"] = time.perf_counter() - t


def _provenance(record: RunRecord, resumed: Resumed | None) -> None:
    """The data the run started on stays its data_files; a resume allowed on changed data adds what it is now."""
    if resumed is None:
        return
    if resumed.changed:
        record.environment["data_files_at_resume"] = record.environment["data_files"]
        record.data["notes"].append(f"resumed after epoch {resumed.state.epoch} on changed data "
                                    f"(--allow-changed-data): {'; '.join(resumed.changed)}")
    record.environment["data_files"] = resumed.first_data


def _build(pipeline, data: Dataset, device: torch.device, insights: Insights):
    """The network (its summary into insights), the loss, the optimizer and the learning-rate schedule."""
    model, insights.summary = build_model(pipeline.model, data.sample_shape)
    insights.usual_lr = pipeline.optimizer.USUAL_LR  # for the verdict "learning rate too low"
    check_output(insights.summary, data.target_size, data.task)
    model.to(device)
    use_channels_last(model, device)
    optimizer = build_optimizer(pipeline.optimizer, model.parameters(), fused=device.type in ("cpu", "cuda"))
    schedule = LRSchedule(pipeline.scheduler, optimizer, pipeline.training.epochs,
                          steps_per_epoch(len(data.train), pipeline.training.batch_size))
    return model, build_loss(pipeline.loss), optimizer, schedule


def _say_setup(progress: Progress, insights: Insights, device: torch.device, loaded: Loaded, data: Dataset,
               world: World | None) -> None:
    """The model table, the device, and what the data stage decided (the task and why; rows left out)."""
    progress.say(insights.summary.table())
    progress.say(f"device {device}, {torch.get_num_threads()} CPU threads, precision "
                 f"{loaded.pipeline.training.precision}" + (f", {world.size} processes ({world.backend})" if world else ""))
    for line in ([f"task: {loaded.task_reason}"] if loaded.task_reason else []) + [f"note: {n}" for n in data.notes]:
        progress.say(line)


def _save_model(run_dir: Path, model: nn.Module, resolved: dict, data: Dataset) -> None:
    """model.pt, and the fitted preprocessing (also inside model.pt) as a readable preprocessing.json."""
    prep = data.preprocessing.to_json() if data.preprocessing is not None else None
    if prep is not None:
        files.write_json(run_dir / "preprocessing.json", prep)
    files.write_atomic(run_dir / "model.pt", model_bytes(model, resolved, prep))


def _test(model: nn.Module, data: Dataset, loss_fn: nn.Module, loaded: Loaded, world: World | None,
          record: RunRecord, insights: Insights) -> None:
    """Test metrics and what the report shows about the trained model."""
    pipeline = loaded.pipeline
    outputs = (Ranks(world).predict(model, data.test.x) if world else predict(model, data.test.x)).float()
    test = scores(outputs, data.test, loss_fn, data.task, pipeline.scalar_metrics, data.target_scale)
    if world:
        record.environment["distributed"] = {"world_size": world.size, "backend": world.backend,
                                             "weights_identical_across_ranks": distributed.weights_agree(model)}
    record.test = {"loss": test.pop("loss"), **test}
    record.learned = learned_parameters(model, pipeline)
    insights.fit_curve = regression_curve(model, data)
    insights.predictions = None if insights.fit_curve else predicted_vs_true(model, data, outputs)
    insights.classes = class_report(model, data, outputs)
    if insights.classes is not None:
        record.classes, record.per_class = list(insights.classes.classes), insights.classes.per_class
        record.confusion_matrix = insights.classes.matrix.tolist()


def _finish(record: RunRecord, insights: Insights, stages: dict[str, float], progress: Progress,
            trace: str) -> RunRecord:
    """metrics.json, history.csv, report.html, the index and the end of run.log, whatever the outcome."""
    t = time.perf_counter()
    verdict = judge(record.history, insights.usual_lr)
    record.verdict = {"kind": verdict.kind, "advice": verdict.advice, "epoch": verdict.epoch} if verdict else None
    network = judge_network(insights.network)
    record.network = {"kind": network.kind, "findings": list(network.findings), "epoch": network.epoch} \
        if network else None
    record.headline = headline(record.task, record.test)
    try:
        record.write_history()
        write_report(record, insights)
    except Exception as exc:  # noqa: BLE001 - keep the traceback in run.log, not on the terminal
        record.status, record.message = "failed", _writing_failed(exc, "the report")
        trace += traceback.format_exc()
        (record.path / "report.html").unlink(missing_ok=True)  # the live page would say "running"
    try:
        record.write()  # last: metrics.json says how the run ended only once every other file is in place
    except OSError as exc:  # it keeps its last status (running): the run is resumable once there is room
        record.status, record.message = "failed", _writing_failed(exc, "metrics.json")
    stages["report"] = time.perf_counter() - t
    _index(record.path.parent.parent, progress, stages)
    status, *times = record.log_tail(stages).splitlines()
    progress.log(status)  # run.log only: the terminal gets the status once, from the command, with the verdict
    progress.say("\n".join(times))
    if trace:
        progress.log("\n" + trace.rstrip())  # run.log only: the terminal gets the one-line status
    progress.close()
    return record


def _index(root: Path, progress: Progress, stages: dict[str, float]) -> None:
    t = time.perf_counter()
    try:
        write_index(root)
    except Exception as exc:  # noqa: BLE001 - the index is a convenience: it never fails the run
        progress.say(f"warning: the run index was not updated: {type(exc).__name__}: {exc}")
    stages["index"] = stages.get("index", 0.0) + time.perf_counter() - t  # at the start and at the end


def _writing_failed(exc: Exception, what: str) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"{exc.strerror}; free some space, then `dlpipe run --resume` writes the outputs again"
    return f"writing {what} failed: {type(exc).__name__}: {exc}"
