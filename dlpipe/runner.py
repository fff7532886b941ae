"""The orchestrator: config -> data -> model -> training -> metrics -> archive -> report.

Read `run` top to bottom. Whatever happens after the run directory exists, the
directory ends with a report and a run.log that say what happened; a checkpoint
after every epoch lets `dlpipe run --resume RUN_DIR` finish an interrupted run.
"""

from __future__ import annotations

import os
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

from dlpipe import archive, distributed
from dlpipe.build import build_loss, build_optimizer
from dlpipe.checkpoint import Checkpointer, load_checkpoint, model_bytes, restore
from dlpipe.config import ImageData, Pipeline
from dlpipe.data import Dataset, idx_spec, load_data
from dlpipe.distributed import World
from dlpipe.download import locate
from dlpipe.environment import environment
from dlpipe.insights import class_report, learned_parameters, regression_curve
from dlpipe.loader import Loaded
from dlpipe.model import Summary, build_model, check_output
from dlpipe.plots import ClassReport, FitCurve
from dlpipe.progress import Progress
from dlpipe.report import RunRecord, write_metrics, write_report
from dlpipe.runs import write_index
from dlpipe.schedule import LRSchedule
from dlpipe.train import evaluate, fit
from dlpipe.verdict import judge

EXIT_CODES = {"completed": 0, "diverged": 1, "failed": 1, "interrupted": 130}


@dataclass
class RunResult:
    """Where the run went and how it ended."""

    run_dir: Path
    status: str
    message: str = ""
    test_metrics: dict[str, float] = field(default_factory=dict)
    report: Path | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 1)


def resolve_device(name: str) -> torch.device:
    """auto: cuda, else mps, else cpu; a named device that is missing is an error."""
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    if (name == "cuda" and not torch.cuda.is_available()) or (name == "mps" and not mps):
        raise RuntimeError(f"training.device is {name} but torch sees no {name} device; use device: auto or cpu")
    return torch.device(name)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not all the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def prepare_data(pipeline: Pipeline, progress: Progress) -> Dataset:
    """Find (or download) and load the data; raises DataUnavailable before any run directory exists."""
    files = None
    if isinstance(pipeline.data, ImageData):
        files = locate(idx_spec(pipeline.data), pipeline.data.root, pipeline.data.download, say=progress.say)
    return load_data(pipeline.data, pipeline.seed, files)


@dataclass
class Outcome:
    """What a run produced so far; filled in stage by stage, so a failure keeps what exists."""

    status: str = "failed"
    message: str = ""
    device: str = "cpu"
    history: dict[str, list[float]] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    summary: Summary | None = None
    fit_curve: FitCurve | None = None
    classes: ClassReport | None = None
    learned: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    evaluated_epoch: int | None = None
    resumed_after: int | None = None
    environment: dict = field(default_factory=dict)
    distributed: dict | None = None
    trace: str = ""


def run(loaded: Loaded, out_root: Path, progress: Progress, stop: threading.Event | None = None,
        resume_dir: Path | None = None, world: World | None = None) -> RunResult:
    """Train the pipeline (or continue the run in resume_dir) and archive everything in its run directory.

    In a distributed run every rank trains; only rank 0 writes the run directory.
    """
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    data = prepare_data(loaded.pipeline, progress)
    stages = {"load data": time.perf_counter() - clock}
    writer = world is None or world.main
    run_dir = _open_run_dir(loaded, out_root, started, resume_dir, progress) if writer else \
        Path(resume_dir or tempfile.mkdtemp(prefix="dlpipe-rank-"))
    outcome = Outcome()
    try:
        _train(loaded, data, run_dir, resume_dir is not None, progress, stop, outcome, stages, world)
    except Exception as exc:  # noqa: BLE001 - any failure still ends with a report
        lost = world is not None and isinstance(exc, RuntimeError) and ("peer" in str(exc) or "Connection" in str(exc))
        cause = "another worker of this distributed run failed or was killed; " if lost else ""
        outcome.status, outcome.message = "failed", f"{cause}{type(exc).__name__}: {exc}"
        outcome.trace = traceback.format_exc()
    if not writer:
        if resume_dir is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        return RunResult(run_dir, outcome.status, outcome.message, outcome.test_metrics)
    return _finish(loaded, run_dir, started, time.perf_counter() - clock, outcome, stages, progress)


def _open_run_dir(loaded: Loaded, out_root: Path, started: datetime, resume_dir: Path | None,
                  progress: Progress) -> Path:
    """A new run directory holding the resolved pipeline (or the one being resumed); run.log opened."""
    run_dir = resume_dir or archive.create_run_dir(out_root, loaded.pipeline.name, started)
    if resume_dir is None:
        archive.write_atomic(run_dir / "pipeline.yaml", _resolved(loaded))
        archive.write_json(run_dir / "metrics.json", {"name": loaded.pipeline.name, "status": "running",
                                                      "started": started.isoformat()})
    progress.attach(run_dir / "run.log")
    progress.say(f"{'resuming' if resume_dir else 'run directory:'} {run_dir}  ({started.isoformat()})")
    return run_dir


def _place(pipeline: Pipeline, world: World | None) -> torch.device:
    """The device to train on, with the CPU threads split between the local workers."""
    device = resolve_device(pipeline.training.device)
    if world and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))  # one GPU per local rank
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if world else 1
    torch.set_num_threads(pipeline.training.threads or max(1, available_cores() // local_ranks))
    return device


def _train(loaded: Loaded, data: Dataset, run_dir: Path, resume: bool, progress: Progress,
           stop: threading.Event | None, outcome: Outcome, stages: dict[str, float], world: World | None) -> None:
    """Build, restore when resuming, fit with checkpoints, then evaluate on the test split."""
    pipeline = loaded.pipeline
    device = _place(pipeline, world)
    outcome.device = str(device)
    outcome.environment = environment(loaded.text, data.files, str(device))
    data = data.to(device)
    torch.manual_seed(pipeline.seed)  # initial weights and dropout masks
    generator = torch.Generator().manual_seed(pipeline.seed)  # batch order

    t = time.perf_counter()
    model, outcome.summary = build_model(pipeline.model, data.sample_shape)
    check_output(outcome.summary, data.target_size, data.task)
    model.to(device)
    loss_fn = build_loss(pipeline.loss)
    optimizer = build_optimizer(pipeline.optimizer, model.parameters(), fused=device.type in ("cpu", "cuda"))
    steps = -(-len(data.train) // min(pipeline.training.batch_size, len(data.train)))
    schedule = LRSchedule(pipeline.scheduler, optimizer, pipeline.training.epochs, steps)
    state = None
    if resume:
        payload = load_checkpoint(run_dir, device)
        state = restore(payload, model, optimizer, generator)
        schedule.load_state_dict(payload["scheduler"])
        outcome.resumed_after = state.epoch
        progress.say(f"continuing after epoch {state.epoch} of {pipeline.training.epochs}")
    stages["build"] = time.perf_counter() - t
    progress.say(outcome.summary.table())
    progress.say(f"device {device}, {torch.get_num_threads()} CPU threads, precision {pipeline.training.precision}"
                 + (f", {world.size} processes ({world.backend})" if world else ""))

    t = time.perf_counter()
    saver = Checkpointer(run_dir, model, optimizer, schedule, generator, state.epoch if state else 0,
                         enabled=world is None or world.main)
    fitted = fit(distributed.wrap(model, device) if world else model, data, loss_fn, optimizer, pipeline.training,
                 pipeline.metric_keys, generator, progress, schedule, state, saver, stop, world)
    if fitted.status == "interrupted":
        fitted.message += f"; `dlpipe run --resume {run_dir}` continues from the end of epoch {saver.epoch}"
    outcome.history, outcome.status, outcome.message = fitted.history, fitted.status, fitted.message
    outcome.best_epoch, outcome.evaluated_epoch = fitted.state.best_epoch, fitted.evaluated_epoch
    stages["train"] = time.perf_counter() - t

    t = time.perf_counter()
    _test(model, data, loss_fn, loaded.pipeline, world, outcome)
    archive.write_atomic(run_dir / "model.pt", model_bytes(model, pipeline.model_dump(mode="json")))
    stages["evaluate"] = time.perf_counter() - t


def _test(model: nn.Module, data: Dataset, loss_fn: nn.Module, pipeline: Pipeline, world: World | None,
          outcome: Outcome) -> None:
    """Test metrics and what the report shows about the trained model."""
    test = evaluate(model, data.test, loss_fn, data.task, pipeline.metric_keys, world)
    if world:
        outcome.distributed = {"world_size": world.size, "backend": world.backend,
                               "weights_identical_across_ranks": distributed.weights_agree(model)}
    outcome.test_metrics = {"loss": test.pop("loss"), **test}
    outcome.learned = learned_parameters(model, pipeline)
    outcome.fit_curve = regression_curve(model, data)
    outcome.classes = class_report(model, data)


def _finish(loaded: Loaded, run_dir: Path, started: datetime, duration: float, outcome: Outcome,
            stages: dict[str, float], progress: Progress) -> RunResult:
    """metrics.json, history.csv, report.html and the end of run.log, whatever the outcome."""
    pipeline, t = loaded.pipeline, time.perf_counter()
    record = RunRecord(
        name=pipeline.name, description=pipeline.description, status=outcome.status, message=outcome.message,
        started=started, duration_s=duration, device=outcome.device, seed=pipeline.seed, source=str(loaded.path),
        resolved_yaml=(run_dir / "pipeline.yaml").read_text(), history=outcome.history,
        loss_name=pipeline.loss.type, test_metrics=outcome.test_metrics, summary=outcome.summary,
        fit_curve=outcome.fit_curve, learned=outcome.learned, classes=outcome.classes,
        best_epoch=outcome.best_epoch, resumed_after=outcome.resumed_after, evaluated_epoch=outcome.evaluated_epoch,
        task=pipeline.task, verdict=judge(outcome.history),
        environment={**outcome.environment, **({"distributed": outcome.distributed} if outcome.distributed else {})},
    )
    result = RunResult(run_dir, outcome.status, outcome.message, outcome.test_metrics)
    try:
        write_metrics(run_dir, record)
        result.report = write_report(record, run_dir)
        write_index(run_dir.parent.parent)
    except Exception as exc:  # noqa: BLE001 - keep the traceback in run.log, not on the terminal
        result.status, result.message = "failed", f"writing the report failed: {type(exc).__name__}: {exc}"
        outcome.trace += traceback.format_exc()
    stages["report"] = time.perf_counter() - t
    progress.say(_run_log_tail(record, result, stages, outcome.trace))
    progress.close()
    return result


def _resolved(loaded: Loaded) -> str:
    return archive.resolved_yaml(loaded.pipeline.model_dump(mode="json"), loaded.path, loaded.overrides,
                                 loaded.origin)


def _run_log_tail(record: RunRecord, result: RunResult, stages: dict[str, float], trace: str) -> str:
    """The end of run.log: status, seconds per stage and, for a failed run, the traceback."""
    lines = [f"status: {result.status} {result.message}".rstrip()]
    lines += [f"  {stage:>10}: {seconds:.3f} s" for stage, seconds in stages.items()]
    lines.append(f"  {'total':>10}: {record.duration_s:.3f} s")
    if trace:
        lines += ["", trace.rstrip()]
    return "\n".join(lines)
