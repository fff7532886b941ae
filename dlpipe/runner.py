"""The orchestrator: config -> data -> model -> training -> test -> archive -> report.

Read `run` top to bottom; it is the one module that imports every stage. Whatever
happens after the run directory exists, the directory ends with a report and a
run.log that say what happened; a checkpoint lets `dlpipe run --resume RUN_DIR`
finish an interrupted run.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from dlpipe.archive import files
from dlpipe.archive.environment import environment
from dlpipe.archive.log import Progress, deferring_stops
from dlpipe.archive.record import RunRecord
from dlpipe.archive.rundir import new_record, open_run_dir
from dlpipe.data.dataset import Dataset
from dlpipe.data.sources import load_data
from dlpipe.engine import distributed, integrity
from dlpipe.engine.augment import for_run as augmenter
from dlpipe.engine.checkpoint import Checkpointer, ResumeError, TrainingState, save_model
from dlpipe.engine.device import place, threads_for, training_device, use_channels_last
from dlpipe.engine.resume import checkpoint_the_end, keep_provenance, restored
from dlpipe.engine.distributed import Ranks, World
from dlpipe.engine.optim import build_loss, build_optimizer, class_weights
from dlpipe.engine.probe import NetworkProbe
from dlpipe.engine.schedule import LRSchedule
from dlpipe.engine.threads import Sample, Threads, sample, step_mflop
from dlpipe.engine.train import Callback, FitOutcome, fit, steps_per_epoch, targets
from dlpipe.language.errors import InvalidValue
from dlpipe.language.loader import Loaded
from dlpipe.language.targets import reached
from dlpipe.model.layers import Facts
from dlpipe.model.network import build_model, check_output
from dlpipe.report.advice import settings
from dlpipe.report.html import Insights
from dlpipe.report.live import LiveReport
from dlpipe.report.extras import extras, test_split
from dlpipe.report.insights import data_facts, training_notes
from dlpipe.report.threshold import with_threshold
from dlpipe.report.outputs import finish, update_index
from dlpipe.tracking.trackers import Trackers


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
    data_files: dict[str, str] = field(default_factory=dict)  # {path: SHA-256} of the data it trains on now
    insights: Insights = field(default_factory=Insights)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, for run.log
    load: Sample | None = None  # CPU counters as the data began to load (engine/threads.py)

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
            training_device(loaded.pipeline.training)  # (a device or precision it cannot have: refused here)
            load = sample()  # the other programs' load is measured from here, while the data loads
            data = load_data(loaded.pipeline.data, loaded.pipeline.seed, progress)
        except InvalidValue as exc:
            raise loaded.invalid(exc) from None
        stages = {**({"start-up": startup_s} if startup_s is not None else {}),
                  "load data": time.perf_counter() - clock}
        with deferring_stops(stop):  # from the run directory on, a signal ends the run after a batch, with its report
            record = _start_record(loaded, out_root, started, resume_dir, progress, world, locks, stages)
            record.sweep = sweep
            trackers = Trackers.open(loaded, record, progress, stop) if writer else Trackers({}, progress)
            context = RunContext(loaded, progress, record, stop, world, tune_process, resume_dir is not None,
                                 allow_changed_data, (*callbacks, trackers), stages=stages, load=load)
            try:
                return _run(context, data, clock)
            finally:
                trackers.close(record)  # after the report: its files go to the trackers too
    finally:
        for lock in locks:
            files.unlock_run_dir(lock)


def _start_record(loaded: Loaded, out_root: Path, started: datetime, resume_dir: Path | None, progress: Progress,
                  world: World | None, locks: list, stages: dict[str, float]) -> RunRecord:
    """The run directory (new, or the one resumed; a temporary one for the other ranks), locked and in the index."""
    writer = world is None or world.main
    run_dir = open_run_dir(loaded, out_root, started, resume_dir, progress) if writer else \
        Path(resume_dir or tempfile.mkdtemp(prefix="dlpipe-rank-"))
    if writer and not locks:
        locks.append(files.lock_run_dir(run_dir))  # a new directory: nobody else can know it yet
    if writer:
        update_index(run_dir.parent.parent, progress, stages)  # the index shows the run as running (it holds the lock)
    record = new_record(loaded, run_dir, started)
    record.status = "failed"  # until training says otherwise
    return record


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
    return finish(record, context.insights, context.stages, progress, trace)


def _train(context: RunContext, data: Dataset) -> None:
    """Build, restore when resuming, fit with checkpoints, then evaluate on the test split."""
    record, insights, stages = context.record, context.insights, context.stages
    data, parts = _prepare(context, data)
    t = time.perf_counter()
    state, fitted, probe, live = _fit(context, data, parts)
    record.history, record.status, record.message = state.history, fitted.status, fitted.message
    record.best_epoch, record.evaluated_epoch = state.best_epoch, fitted.evaluated_epoch
    record.targets = reached(context.loaded.pipeline.training.stop_at or {}, state.history)
    insights.diverged_at = fitted.diverged_at
    insights.network, stages["train"], stages["layer stats"] = probe.rows, time.perf_counter() - t, probe.spent
    stages["live report"] = live.cpu_s  # in a thread beside training (CPU seconds)

    t = time.perf_counter()
    pipeline = context.loaded.pipeline
    outputs, threshold = test_split(parts.model, data, parts.loss_fn, pipeline, context.world, record)
    save_model(record.path, parts.model, pipeline.model_dump(mode="json"),
               with_threshold(data.preprocessing, record.data.get("threshold")))
    stages["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()  # what the report shows, after the model is saved: a failing one is a note
    extras(parts.model, data, parts.loss_fn, pipeline, record, insights, outputs, threshold, context.progress)
    stages["report extras"] = time.perf_counter() - t


class Parts(NamedTuple):
    """What training works on: built from the pipeline, put back from the checkpoint when resuming."""

    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    generator: torch.Generator  # batch order
    device: torch.device
    state: TrainingState | None  # where a resumed run continues from
    threads: Threads  # the CPU threads, following the work and the load
    train_loss: nn.Module | None = None  # the training loss with class weights (loss_fn scores every split)


def _prepare(context: RunContext, data: Dataset) -> tuple[Dataset, Parts]:
    """The device and the record's environment; the network and its training parts, restored when resuming."""
    loaded, record, insights = context.loaded, context.record, context.insights
    pipeline = loaded.pipeline
    device = place(pipeline.training, context.world, context.tune_process)
    record.device, record.task = str(device), data.task
    record.data = data_facts(data, loaded.task_reason, getattr(pipeline.data, "split", None))
    data = data.to(device)
    torch.manual_seed(pipeline.seed)  # initial weights and dropout masks
    generator = torch.Generator().manual_seed(pipeline.seed)  # batch order

    t = time.perf_counter()
    model, loss_fn, optimizer, schedule, train_loss = _build(pipeline, data, device, insights)
    record.data["notes"] += training_notes(pipeline, data.classes, train_loss, model)
    if pipeline.headline:  # the pipeline's own: the run's headline and what the baselines are compared on
        record.data["headline"] = pipeline.headline
    threads = threads_for(pipeline.training, context.world, device,
                          step_mflop(insights.summary.rows, min(pipeline.training.batch_size, len(data.train))))
    threads.start(context.load)
    record.environment = environment(loaded.identity_text, data.files, str(device))
    record.environment["thread_choice"] = threads.changes  # the count it started with, then each change (a live list)
    resumed = restored(record.path, device, model, optimizer, schedule, generator, context.progress,
                       record.environment["data_files"], context.allow_changed_data) if context.resume else None
    record.resumed_after = resumed.state.epoch if resumed else None
    context.data_files = dict(record.environment["data_files"])  # what it trains on now (provenance may differ)
    keep_provenance(record, resumed)
    context.stages["build"] = time.perf_counter() - t
    _say_setup(context.progress, insights, device, loaded, record.data.get("notes", []), context.world, threads)
    return data, Parts(model, loss_fn, optimizer, schedule, generator, device, resumed.state if resumed else None,
                       threads, train_loss)


def _fit(context: RunContext, data: Dataset, parts: Parts):
    """Train with the run's callbacks (checkpoint, probe, live page, then the caller's); (state, outcome, probe, live)."""
    pipeline, record, world, state = context.loaded.pipeline, context.record, context.world, parts.state
    saver = Checkpointer(record.path, parts.model, parts.optimizer, parts.schedule, parts.generator,
                         state.epoch if state else 0, enabled=context.writer, run_identity=integrity.identity(
                             (record.path / "pipeline.yaml").read_bytes() if context.writer else b"",
                             context.data_files, record.environment["data_files"]))
    probe = NetworkProbe(parts.model, context.insights.summary, data.validation.x,
                         record.path if saver.enabled else None, pipeline.training.epochs, state.epoch if state else 0)
    finished = state is not None and state.finished is not None
    stop_at = [targets(pipeline.training.stop_at)] if pipeline.training.stop_at else []
    live = LiveReport(record, pipeline.training.epochs, probe.rows, context.insights.summary,
                      enabled=saver.enabled and not finished)  # report.html from now on: status running
    try:
        if finished:  # killed while writing its outputs: re-create them, train no more
            context.progress.say("training had finished; writing the outputs again")
            return state, FitOutcome(**state.finished), probe, live
        state, fitted = fit(distributed.wrap(parts.model, parts.device) if world else parts.model, data,
                            loss_fn=parts.loss_fn, train_loss=parts.train_loss, optimizer=parts.optimizer,
                            training=pipeline.training,
                            metrics=pipeline.scalar_metrics, generator=parts.generator, progress=context.progress,
                            schedule=parts.schedule, state=state, callbacks=(saver, probe, live, *stop_at, *context.callbacks),
                            stop=context.stop, sync=Ranks(world) if world else None, pace=parts.threads.pace,
                            augment=augmenter(pipeline.data, pipeline.seed, data.preprocessing))
        checkpoint_the_end(saver, state, fitted, record.path)
        return state, fitted, probe, live
    finally:
        live.close()  # before anything else writes report.html


def _build(pipeline, data: Dataset, device: torch.device, insights: Insights):
    """The network (its summary into insights), the loss, the optimizer and the learning-rate schedule."""
    model, insights.summary = build_model(pipeline.model, data.sample_shape, Facts(data.info.vocabulary))
    insights.usual_lr = pipeline.optimizer.USUAL_LR  # for the verdict "learning rate too low"
    insights.settings = settings(pipeline)  # what the verdict's advice changes
    check_output(insights.summary, data.target_size, data.task)
    model.to(device)
    use_channels_last(model, device)
    optimizer = build_optimizer(pipeline.optimizer, model.parameters(), fused=device.type in ("cpu", "cuda"))
    schedule = LRSchedule(pipeline.scheduler, optimizer, pipeline.training.epochs,
                          steps_per_epoch(len(data.train), pipeline.training.batch_size, pipeline.training.accumulate))
    weights = class_weights(pipeline.loss, tuple(data.classes), data.train.y) if data.task == "classification" \
        else None
    return model, build_loss(pipeline.loss), optimizer, schedule, \
        build_loss(pipeline.loss, weights.to(device)) if weights is not None else None


def _say_setup(progress: Progress, insights: Insights, device: torch.device, loaded: Loaded, notes: list[str],
               world: World | None, threads: Threads) -> None:
    """The model table, the device, and what the data stage decided (the task and why; rows left out; imbalance)."""
    progress.say(insights.summary.table())
    progress.say(f"device {device}, CPU threads {threads.changes[-1]}, precision "
                 f"{loaded.pipeline.training.precision}" + (f", {world.size} processes ({world.backend})" if world else ""))
    for line in ([f"task: {loaded.task_reason}"] if loaded.task_reason else []) + [f"note: {n}" for n in notes]:
        progress.say(line)
