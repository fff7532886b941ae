"""The training engine: checkpoints and exact resume, signals, early stopping, clipping, bf16, run.log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dlpipe.model.checks import check_pipeline
from dlpipe.language.pipeline import EarlyStopping
from dlpipe.language.loader import load_pipeline
from dlpipe.archive.log import Progress
from dlpipe.data.sources import load_data
from dlpipe.engine.evaluate import evaluate
from dlpipe.engine.optim import build_optimizer
from dlpipe.engine.train import fit, improved, steps_per_epoch
from dlpipe.model.network import build_model

from conftest import ROOT, TINY_SINE

# Slow enough per epoch (~0.1 s) to be killed mid-run; dropout and a per-batch schedule make resuming
# exactly only possible if the random generators and the scheduler state are restored too.
RESUMABLE = """\
name: resumable
seed: 7
data: {type: sine, samples: 6000, noise: 0.05}
model:
  layers:
    - {type: linear, units: 64, activation: tanh}
    - {type: dropout, rate: 0.1}
    - {type: linear, units: 64, activation: tanh}
    - {type: linear, units: 1}
optimizer: {type: adam, lr: 1.0e-3}
scheduler: {type: onecycle, max_lr: 5.0e-3}
training: {epochs: 30, batch_size: 16, threads: 1}
"""


def dlpipe(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlpipe", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out: Path, process: subprocess.Popen, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(out.glob("*/*/checkpoint.pt"))
        if found:
            return found[0].parent
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def history_without_time(run_dir: Path) -> list[str]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    return [",".join(line.split(",")[:-1]) for line in lines]  # time is the last column


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> Path:
    """The reference: the same pipeline run straight through."""
    root = tmp_path_factory.mktemp("straight")
    path = root / "resumable.yaml"
    path.write_text(RESUMABLE)
    process = dlpipe("run", path, "--out", root / "out", "-q")
    assert process.wait(timeout=300) == 0, process.communicate()
    return next((root / "out").glob("resumable/*"))


def test_killed_run_resumes_to_exactly_the_same_result(straight_run, tmp_path):
    path = tmp_path / "resumable.yaml"
    path.write_text(RESUMABLE)
    process = dlpipe("run", path, "--out", tmp_path / "out", "-q")
    run_dir = wait_for_checkpoint(tmp_path / "out", process)
    process.send_signal(signal.SIGKILL)  # die mid-run with no chance to clean up
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert metrics(run_dir)["status"] == "running"
    live = (run_dir / "report.html").read_text()  # the last live page: whole, and saying the run was running
    assert '<span class="status running">running</span>' in live and live.rstrip().endswith("</html>")
    done = torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"]
    assert 1 <= done < 30

    resumed = dlpipe("run", "--resume", run_dir, "-q")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert metrics(run_dir)["test"] == metrics(straight_run)["test"]
    assert history_without_time(run_dir) == history_without_time(straight_run)
    assert f"resuming {run_dir}" in (run_dir / "run.log").read_text()
    assert f"resumed after epoch {done}" in (run_dir / "report.html").read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_the_run_can_be_finished(straight_run, tmp_path, sig):
    path = tmp_path / "resumable.yaml"
    path.write_text(RESUMABLE)
    process = dlpipe("run", path, "--out", tmp_path / "out")
    run_dir = wait_for_checkpoint(tmp_path / "out", process)
    sent = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - sent < 10
    assert "stopping after the current batch" in err and "Traceback" not in err
    assert metrics(run_dir)["status"] == "interrupted"
    assert "interrupted" in (run_dir / "report.html").read_text()
    assert (run_dir / "checkpoint.pt").exists()

    resumed = dlpipe("run", "--resume", run_dir, "-q")
    assert resumed.wait(timeout=300) == 0
    assert metrics(run_dir)["test"] == metrics(straight_run)["test"]


def test_resume_refuses_what_it_cannot_continue(cli, straight_run, tmp_path):
    assert "the run is completed" in cli("run", "--resume", straight_run).stderr
    assert "not a run directory" in cli("run", "--resume", tmp_path).stderr
    both = cli("run", ROOT / "pipelines/sine.yaml", "--resume", straight_run)
    assert both.exit_code == 2 and "not both" in both.stderr
    assert cli("run", "--resume", straight_run, "--set", "seed=1").exit_code == 2


@pytest.mark.parametrize("rule, value, best, expected", [
    ({"monitor": "val_loss"}, 0.5, 1.0, True),
    ({"monitor": "val_loss"}, 1.5, 1.0, False),
    ({"monitor": "val_accuracy"}, 0.9, 0.8, True),  # auto: accuracy is better higher
    ({"monitor": "val_loss", "mode": "max"}, 1.5, 1.0, True),
    ({"monitor": "val_loss", "min_delta": 0.1}, 0.95, 1.0, False),
    ({"monitor": "val_loss"}, float("nan"), None, False),
])
def test_improvement_rule(rule, value, best, expected):
    assert improved(EarlyStopping(**rule), value, best) is expected


def test_early_stopping_stops_and_restores_the_best_weights(cli, write_yaml, tmp_path):
    # A large SGD step makes validation loss bounce, so the last epoch is not the best one.
    path = write_yaml(TINY_SINE)
    result = cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=200",
                 "--set", "optimizer={type: sgd, lr: 0.3}",
                 "--set", "training.early_stopping={monitor: val_loss, patience: 5}")
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.glob("tiny/*"))
    m = metrics(run_dir)
    history = [line.split(",") for line in (run_dir / "history.csv").read_text().splitlines()]
    val_losses = [float(row[2]) for row in history[1:]]
    assert m["epochs_run"] < 200 and m["best_epoch"] == val_losses.index(min(val_losses)) + 1
    assert m["epochs_run"] == m["best_epoch"] + 5
    # The saved model is the best epoch's: its validation loss is the best one recorded.
    loaded = load_pipeline(run_dir / "pipeline.yaml")
    model, _ = build_model(loaded.pipeline.model, (1,))
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True)["state_dict"])
    data = load_data(loaded.pipeline.data, loaded.pipeline.seed)
    assert evaluate(model, data.validation, torch.nn.MSELoss(), "regression", [])["loss"] == pytest.approx(
        min(val_losses), rel=1e-5)
    assert "stopped early after epoch" in (run_dir / "report.html").read_text()


def test_gradient_clipping_bounds_each_step(cli, write_yaml, tmp_path):
    # SGD with lr 1 and clip 1e-3: the weights move at most 1e-3 per step, and exactly that while every
    # gradient is longer than 1e-3; one epoch of 140 training samples in batches of 32 is 5 steps.
    path = write_yaml(TINY_SINE)
    result = cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=1",
                 "--set", "optimizer={type: sgd, lr: 1.0}", "--set", "training.clip_grad_norm=1.0e-3")
    assert result.exit_code == 0
    run_dir = next(tmp_path.glob("tiny/*"))
    trained = torch.load(run_dir / "model.pt", weights_only=True)["state_dict"]
    torch.manual_seed(1)  # the seed in TINY_SINE: the same initial weights
    initial, _ = build_model(load_pipeline(run_dir / "pipeline.yaml").pipeline.model, (1,))
    moved = torch.cat([(trained[k] - v).flatten() for k, v in initial.state_dict().items()])
    steps = steps_per_epoch(140, 32)
    assert steps == 5 and 1.0e-3 < moved.norm() <= steps * 1.0e-3 + 1e-6


def test_divergence_stops_within_the_batch(cli, write_yaml, tmp_path):
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "optimizer={type: sgd, lr: 10}",
                 "--set", "data={type: polynomial, coefficients: [0, 0, 0, 0, 0, 50], x_range: [-5, 5]}")
    assert result.exit_code == 1
    assert "in epoch 1, batch" in result.stderr and "try a tenth of it" in result.stderr


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_bf16_runs_the_matrix_products_in_bfloat16_and_trains(write_yaml, precision, dtype):
    pipeline = load_pipeline(write_yaml(TINY_SINE), (f"training.precision={precision}", "training.epochs=20")).pipeline
    data = load_data(pipeline.data, pipeline.seed)
    torch.manual_seed(0)
    model, _ = build_model(pipeline.model, data.sample_shape)
    seen = set()
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):  # what each matrix product returned in a training step
            module.register_forward_hook(lambda m, args, out: seen.add(out.dtype) if torch.is_grad_enabled() else None)
    state, outcome = fit(model, data, loss_fn=torch.nn.MSELoss(), optimizer=build_optimizer(pipeline.optimizer,
                         model.parameters()), training=pipeline.training, metrics=[],
                         generator=torch.Generator().manual_seed(0), progress=Progress(quiet=True))
    assert seen == {dtype}
    assert outcome.status == "completed" and state.history["train_loss"][-1] < 0.5 * state.history["train_loss"][0]


def test_run_log_holds_the_transcript_and_stage_times(cli, write_yaml, tmp_path):
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "training.threads=1")
    assert result.exit_code == 0 and result.stderr == ""  # quiet on the terminal...
    log = (next(tmp_path.glob("tiny/*")) / "run.log").read_text()
    for fragment in ("run directory:", "total parameters", "CPU threads 1 (training.threads)", "epoch 5/5", "status: completed",
                     "load data:", "build:", "train:", "evaluate:", "report:", "total:"):
        assert fragment in log, fragment  # ...but everything is in run.log


def test_explicit_missing_device_is_an_input_error_before_anything_runs(cli, write_yaml, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path / "out", "-q", "--set", "training.device=cuda")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("--set training.device=cuda: training.device: torch sees no cuda device")
    assert not (tmp_path / "out").exists()  # no run directory for a run that cannot start


def test_early_stopping_monitor_must_be_recorded(write_yaml):
    from dlpipe.language.errors import PipelineError

    with pytest.raises(PipelineError, match="'val_acc' is not recorded"):
        check_pipeline(load_pipeline(write_yaml(TINY_SINE), ("training.early_stopping={monitor: val_acc}",)))


def test_a_run_killed_while_writing_its_outputs_resumes_without_training_again(cli, write_yaml, tmp_path,
                                                                              monkeypatch):
    from dlpipe.archive.record import RunRecord

    real_write = RunRecord.write

    def die_at_the_final_status(record):
        if record.status != "running":
            raise SystemExit("killed")  # as a SIGKILL would, after the report and before metrics.json
        real_write(record)

    monkeypatch.setattr(RunRecord, "write", die_at_the_final_status)
    path = write_yaml(TINY_SINE)
    cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=7")
    run_dir = next(tmp_path.glob("tiny/*"))
    assert metrics(run_dir)["status"] == "running" and (run_dir / "report.html").exists()
    history = (run_dir / "history.csv").read_text()
    monkeypatch.setattr(RunRecord, "write", real_write)
    resumed = cli("run", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output
    assert metrics(run_dir)["status"] == "completed" and (run_dir / "history.csv").read_text() == history
    log = (run_dir / "run.log").read_text()
    assert "training had finished; writing the outputs again" in log and log.count("epoch 7/7") == 1
    straight = cli("run", path, "--out", tmp_path / "straight", "-q", "--set", "training.epochs=7")
    assert straight.exit_code == 0 and metrics(next((tmp_path / "straight").glob("tiny/*")))["test"] == \
        metrics(run_dir)["test"]


def test_a_resume_that_fails_before_training_changes_nothing(cli, write_yaml, tmp_path):
    assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q").exit_code == 0
    run_dir = next(tmp_path.glob("tiny/*"))
    data = metrics(run_dir)
    data["status"] = "interrupted"  # as if stopped by Ctrl-C
    (run_dir / "metrics.json").write_text(json.dumps(data))
    before = {name: (run_dir / name).read_bytes() for name in ("metrics.json", "report.html", "history.csv")}
    with open(run_dir / "checkpoint.pt", "r+b") as handle:
        handle.truncate(1000)
    result = cli("run", "--resume", run_dir)
    assert result.exit_code == 2 and "cannot be read" in result.stderr and "Traceback" not in result.output
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    assert "--resume failed before training, nothing was changed" in (run_dir / "run.log").read_text()


class StopInEpoch(Progress):
    """Quiet progress that sets `stop` after batch 2 of epoch `epoch`, as a Ctrl-C would mid-epoch."""

    def __init__(self, stop, epoch: int):
        super().__init__(quiet=True)
        self.stop, self.epoch, self.seen = stop, epoch, 0

    def start_epoch(self, *args) -> None:
        self.seen += 1

    def batch(self, done: int, total: int) -> None:
        if self.seen == self.epoch and done == 2:
            self.stop.set()


def test_an_interrupt_mid_epoch_checkpoints_the_last_completed_epoch_and_resumes_exactly(write_yaml, tmp_path):
    import threading

    from dlpipe.engine.checkpoint import Checkpointer, load_checkpoint, restore
    from dlpipe.engine.schedule import LRSchedule

    pipeline = load_pipeline(write_yaml(TINY_SINE), ("training.epochs=9", "scheduler={type: onecycle}")).pipeline
    data = load_data(pipeline.data, pipeline.seed)

    def parts():
        torch.manual_seed(0)
        model, _ = build_model(pipeline.model, data.sample_shape)
        optimizer = build_optimizer(pipeline.optimizer, model.parameters(), fused=True)
        return model, optimizer, LRSchedule(pipeline.scheduler, optimizer, 9, 5), torch.Generator().manual_seed(0)

    def train(model, optimizer, schedule, generator, progress, state=None, callbacks=(), stop=None):
        return fit(model, data, loss_fn=torch.nn.MSELoss(), optimizer=optimizer, training=pipeline.training,
                   metrics=[], generator=generator, progress=progress, schedule=schedule, state=state,
                   callbacks=callbacks, stop=stop)

    straight, *rest = parts()
    train(straight, *rest, Progress(quiet=True))
    model, optimizer, schedule, generator = parts()
    stop = threading.Event()
    saver = Checkpointer(tmp_path, model, optimizer, schedule, generator, every_s=3600)  # writes epoch 1 only
    _, outcome = train(model, optimizer, schedule, generator, StopInEpoch(stop, 6), callbacks=[saver], stop=stop)
    assert outcome.status == "interrupted" and "epoch 6, batch 3" in outcome.message
    assert load_checkpoint(tmp_path, torch.device("cpu"))["epoch"] == 1 and saver.flush() == 5
    payload = load_checkpoint(tmp_path, torch.device("cpu"))
    model, optimizer, schedule, generator = parts()
    state = restore(payload, model, optimizer, generator)
    schedule.load_state_dict(payload["scheduler"])
    assert state.epoch == 5 and len(state.history["epoch"]) == 5
    train(model, optimizer, schedule, generator, Progress(quiet=True), state=state)
    for a, b in zip(model.parameters(), straight.parameters()):
        assert torch.equal(a, b)  # bit-identical to the run that was never interrupted


def test_an_interrupt_before_the_first_epoch_does_not_advise_resume(write_yaml, tmp_path):
    import threading

    from dlpipe.runner import run

    stop = threading.Event()
    stop.set()
    record = run(load_pipeline(write_yaml(TINY_SINE)), tmp_path, Progress(quiet=True), stop=stop)
    assert record.status == "interrupted" and "nothing to resume" in record.message
    assert "--resume" not in record.message and not (record.path / "checkpoint.pt").exists()


def test_a_run_being_written_cannot_be_resumed_by_a_second_process(cli, tmp_path):
    from dlpipe.archive.files import lock_run_dir, unlock_run_dir
    from dlpipe.engine.checkpoint import resumable

    path = tmp_path / "resumable.yaml"
    path.write_text(RESUMABLE.replace("epochs: 30", "epochs: 100000"))
    process = dlpipe("run", path, "--out", tmp_path / "out", "-q")
    try:
        run_dir = wait_for_checkpoint(tmp_path / "out", process)
        second = cli("run", "--resume", run_dir)
        assert second.exit_code == 2 and f"process {process.pid} is writing this run" in second.stderr
        assert metrics(run_dir)["status"] == "running"  # the first writer's run, untouched
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert resumable(run_dir) is None
    unlock_run_dir(lock_run_dir(run_dir))  # the kernel released the dead writer's lock at once


def interrupted_run(cli, write_yaml, tmp_path) -> Path:
    """A finished tiny run relabelled interrupted, so --resume takes it (its checkpoint is the final one)."""
    assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q").exit_code == 0
    run_dir = next(tmp_path.glob("tiny/*"))
    data = metrics(run_dir)
    data["status"] = "interrupted"
    (run_dir / "metrics.json").write_text(json.dumps(data))
    return run_dir


def test_a_checkpoint_edited_inside_its_tensors_is_refused(cli, write_yaml, tmp_path):
    run_dir = interrupted_run(cli, write_yaml, tmp_path)
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    payload["model"]["0.weight"][0, 0] += 1.0e-6  # loads fine: only the checksum can tell
    torch.save(payload, run_dir / "checkpoint.pt")
    result = cli("run", "--resume", run_dir)
    assert result.exit_code == 2 and "does not match its checksum" in result.stderr
    assert metrics(run_dir)["status"] == "interrupted"


def test_a_resume_refuses_an_edited_pipeline_and_warns_about_another_machine(cli, write_yaml, tmp_path,
                                                                             monkeypatch):
    run_dir = interrupted_run(cli, write_yaml, tmp_path)
    original = (run_dir / "pipeline.yaml").read_text()
    (run_dir / "pipeline.yaml").write_text(original.replace("seed: 1 ", "seed: 2 "))
    edited = cli("run", "--resume", run_dir)
    assert edited.exit_code == 2 and "pipeline.yaml has changed since the run wrote its checkpoint" in edited.stderr
    (run_dir / "pipeline.yaml").write_text(original)
    threads = torch.get_num_threads()
    from dlpipe.engine.threads import Threads

    monkeypatch.setattr("dlpipe.runner.threads_for", lambda *args: Threads(threads + 1, frozenset(range(threads + 1)), 0.0))
    resumed = cli("run", "--resume", run_dir)
    assert resumed.exit_code == 0
    assert f"warning: threads is {threads + 1} here but was {threads} when the run started" in resumed.stderr
