"""The orchestrator: config -> data -> model -> training -> metrics -> archive -> report.

Read `run` top to bottom. Whatever happens after the run directory exists, the
directory ends with a report and a run.log that say what happened.
"""

from __future__ import annotations

import io
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlpipe import archive
from dlpipe.build import build_loss, build_optimizer
from dlpipe.config import LinearData, Pipeline
from dlpipe.data import Dataset, load_data
from dlpipe.loader import Loaded
from dlpipe.model import build_model, check_output
from dlpipe.plots import FitCurve
from dlpipe.progress import Progress
from dlpipe.report import RunRecord, write_report
from dlpipe.train import evaluate, fit, predict

MAX_SCATTER = 2000  # points per split in the regression plot; more only hides the curves
EXIT_CODES = {"completed": 0, "diverged": 1, "failed": 1}


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
    """auto: cuda when available, else cpu; an explicit cuda that is missing is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is cuda but torch sees no CUDA device; use device: auto or cpu")
    return torch.device(name)


def run(loaded: Loaded, out_root: Path, progress: Progress) -> RunResult:
    """Train the pipeline and archive everything under a new run directory."""
    pipeline = loaded.pipeline
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    run_dir = archive.create_run_dir(out_root, pipeline.name, started)
    progress.say(f"run directory: {run_dir}")
    result = RunResult(run_dir, "failed")
    stages: dict[str, float] = {}
    history: dict[str, list[float]] = {}
    summary = fit_curve = None
    learned: list[dict] = []
    device, trace = torch.device("cpu"), ""
    try:
        device = resolve_device(pipeline.training.device)
        torch.manual_seed(pipeline.seed)  # initial weights and dropout masks
        generator = torch.Generator().manual_seed(pipeline.seed)  # batch order

        t = time.perf_counter()
        data = load_data(pipeline.data, pipeline.seed).to(device)
        stages["load data"] = time.perf_counter() - t

        t = time.perf_counter()
        model, summary = build_model(pipeline.model, data.sample_shape)
        check_output(summary, data.target_size)
        model.to(device)
        loss_fn = build_loss(pipeline.loss)
        optimizer = build_optimizer(pipeline.optimizer, model.parameters())
        stages["build"] = time.perf_counter() - t
        progress.say(summary.table())

        t = time.perf_counter()
        fitted = fit(model, data, loss_fn, optimizer, pipeline.training, list(pipeline.metrics), generator, progress)
        history, result.status, result.message = fitted.history, fitted.status, fitted.message
        stages["train"] = time.perf_counter() - t

        t = time.perf_counter()
        test = evaluate(model, data.test, loss_fn, data.task, list(pipeline.metrics))
        result.test_metrics = {"loss": test.pop("loss"), **test}
        learned = learned_parameters(model, pipeline)
        fit_curve = regression_curve(model, data)
        archive.write_atomic(run_dir / "model.pt", _model_bytes(model, pipeline))
        stages["evaluate"] = time.perf_counter() - t
    except Exception as exc:  # noqa: BLE001 - any failure still ends with a report
        result.status, result.message = "failed", f"{type(exc).__name__}: {exc}"
        trace = traceback.format_exc()

    t = time.perf_counter()
    record = RunRecord(
        name=pipeline.name, description=pipeline.description, status=result.status, message=result.message,
        started=started, duration_s=time.perf_counter() - clock, device=str(device), seed=pipeline.seed,
        source=str(loaded.path), resolved_yaml=_resolved(loaded), history=history, loss_name=pipeline.loss.type,
        test_metrics=result.test_metrics, summary=summary, fit_curve=fit_curve, learned=learned,
    )
    _write_artefacts(run_dir, loaded, record)
    result.report = write_report(record, run_dir)
    stages["report"] = time.perf_counter() - t
    archive.write_atomic(run_dir / "run.log", _run_log(record, stages, trace))
    return result


def _resolved(loaded: Loaded) -> str:
    return archive.resolved_yaml(loaded.pipeline.model_dump(mode="json"), loaded.path, loaded.overrides)


def _write_artefacts(run_dir: Path, loaded: Loaded, record: RunRecord) -> None:
    """pipeline.yaml, metrics.json and history.csv beside the report."""
    archive.write_atomic(run_dir / "pipeline.yaml", record.resolved_yaml)
    archive.write_json(run_dir / "metrics.json", {
        "name": record.name, "status": record.status, "message": record.message,
        "started": record.started.isoformat(), "duration_s": record.duration_s, "device": record.device,
        "seed": record.seed, "epochs_run": len(record.history.get("epoch", [])),
        "test": record.test_metrics, "learned": record.learned,
        "final_validation": {k: v[-1] for k, v in record.history.items() if k.startswith("val_") and v},
    })
    if record.history:
        archive.write_atomic(run_dir / "history.csv", archive.history_csv(record.history))


def _run_log(record: RunRecord, stages: dict[str, float], trace: str) -> str:
    """Status, seconds per stage and, for a failed run, the traceback."""
    lines = [f"{record.name}: {record.status} {record.message}".rstrip(), f"started {record.started.isoformat()}"]
    lines += [f"{stage:>10}: {seconds:.3f} s" for stage, seconds in stages.items()]
    if trace:
        lines += ["", trace]
    return "\n".join(lines) + "\n"


def _model_bytes(model: nn.Module, pipeline: Pipeline) -> bytes:
    """state_dict plus resolved config, loadable with torch.load(weights_only=True)."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "pipeline": pipeline.model_dump(mode="json")}, buffer)
    return buffer.getvalue()


def learned_parameters(model: nn.Sequential, pipeline: Pipeline) -> list[dict]:
    """Every parameter of a tiny model by name; for y = w x + b, compared with the true w and b."""
    first = model[0]
    if len(model) == 1 and isinstance(first, nn.Linear) and first.weight.shape == (1, 1):
        values = {"w": first.weight.item(), "b": first.bias.item() if first.bias is not None else 0.0}
        truth = {"w": pipeline.data.w, "b": pipeline.data.b} if isinstance(pipeline.data, LinearData) else {}
        return [_learned(name, value, truth.get(name)) for name, value in values.items()]
    if sum(p.numel() for p in model.parameters()) > 20:
        return []
    return [_learned(f"{name}{list(index)}", float(value), None)
            for name, tensor in model.named_parameters() for index, value in np.ndenumerate(tensor.detach().cpu().numpy())]


def _learned(name: str, value: float, true: float | None) -> dict:
    error = abs(value - true) / abs(true) * 100 if true else None
    return {"name": name, "value": value, "true": true, "error_pct": error}


def regression_curve(model: nn.Module, data: Dataset) -> FitCurve | None:
    """Samples, true function and prediction on a grid, for 1-D regression only."""
    if data.task != "regression" or data.sample_shape != (1,) or data.x_range is None:
        return None
    rng = np.random.default_rng(0)
    points = {}
    for name in ("train", "validation", "test"):
        split = getattr(data, name)
        keep = rng.permutation(len(split))[:MAX_SCATTER]
        points[name] = (split.x[keep, 0].cpu().numpy(), split.y[keep, 0].cpu().numpy())
    grid = np.linspace(*data.x_range, 400, dtype=np.float32)
    device = data.train.x.device
    prediction = predict(model, torch.from_numpy(grid[:, None]).to(device))[:, 0].cpu().numpy()
    truth = data.true_function(grid) if data.true_function else None
    return FitCurve(points, grid, truth, prediction)
