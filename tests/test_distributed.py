"""Data-parallel runs through torchrun (gloo, 2 processes on localhost)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dlpipe.data.sources import load_data
from dlpipe.language.loader import load_pipeline
from dlpipe.model.network import build_model
from dlpipe.engine.evaluate import evaluate

from conftest import ROOT
from test_mnist_real import DATA, needs_mnist

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")


def run(*args, timeout=240) -> subprocess.CompletedProcess:
    env = {**os.environ, "MASTER_PORT": "0"}
    return subprocess.run([sys.executable, "-m", "dlpipe", "run", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def saved_model_metrics(run_dir: Path) -> dict[str, float]:
    """A single-process evaluation of the saved weights on the test split."""
    loaded = load_pipeline(run_dir / "pipeline.yaml")
    pipeline = loaded.pipeline
    data = load_data(pipeline.data, pipeline.seed)
    model, _ = build_model(pipeline.model, data.sample_shape)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True)["state_dict"])
    from dlpipe.engine.optim import build_loss

    test = evaluate(model, data.test, build_loss(pipeline.loss), data.task, pipeline.scalar_metrics)
    return {"loss": test.pop("loss"), **test}


def check_distributed_run(result: subprocess.CompletedProcess) -> Path:
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["distributed"] == {"world_size": 2, "backend": "gloo", "weights_identical_across_ranks": True}
    assert metrics["test"] == pytest.approx(saved_model_metrics(run_dir), rel=1e-6, abs=1e-9)
    assert "2 processes (gloo)" in (run_dir / "run.log").read_text()
    assert "weights identical across ranks: True" in (run_dir / "report.html").read_text()
    assert len(list(run_dir.parent.iterdir())) == 1  # only rank 0 wrote a run directory
    return run_dir


def test_sine_runs_on_two_processes_and_trains_like_one(tmp_path):
    """The global batch is split across ranks, so the first epoch's loss matches a single process; and two batches
    of 32 accumulated (the ranks' gradients all-reduced once a step) are one batch of 64."""
    double = run(ROOT / "pipelines/sine.yaml", "--nproc", "2", "--out", tmp_path / "two", "-q",
                 "--set", "training.epochs=10", "--set", "training.batch_size=32", "--set", "training.accumulate=2")
    check_distributed_run(double)
    single = run(ROOT / "pipelines/sine.yaml", "--out", tmp_path / "one", "-q", "--set", "training.epochs=10")
    first = [(Path(r.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent / "history.csv")
             .read_text().splitlines()[1].split(",")[1] for r in (single, double)]
    assert float(first[0]) == pytest.approx(float(first[1]), rel=1e-4)


@needs_mnist
def test_mnist_subset_runs_on_two_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("DLPIPE_DATA", str(DATA))
    check_distributed_run(run(ROOT / "pipelines/mnist.yaml", "--nproc", "2", "--out", tmp_path, "-q",
                              "--set", "data.limit=2000", "--set", "data.validation=1000",
                              "--set", "training.epochs=2"))


def descendants(root: int) -> list[int]:
    """Every process below `root` in the process tree (from each process's parent in /proc/PID/stat)."""
    parents = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def worker_pids(root: int, rank: int) -> list[int]:
    """The dlpipe workers with this RANK that our own launcher (process `root`) started; nobody else's."""
    pids = []
    for pid in descendants(root):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RUN_ID=" in b" ".join(env):
            pids.append(pid)
    return pids


def test_worker_search_never_leaves_our_process_tree():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert child.pid in descendants(os.getpid()) and os.getpid() not in descendants(os.getpid())
        assert os.getppid() not in descendants(os.getpid()) and descendants(child.pid) == []
    finally:
        child.communicate(b"")


def test_a_killed_worker_ends_the_run_in_bounded_time(tmp_path):
    env = {**os.environ, "MASTER_PORT": "0"}
    process = subprocess.Popen([sys.executable, "-m", "dlpipe", "run", str(ROOT / "pipelines/sine.yaml"),
                                "--nproc", "2", "--out", str(tmp_path), "--set", "training.epochs=100000"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("sine/*/checkpoint.pt")):  # training is under way on both ranks
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    victims = worker_pids(process.pid, 1)
    assert victims, "rank 1 not found"
    killed = time.monotonic()
    os.kill(victims[0], signal.SIGKILL)
    out, err = process.communicate(timeout=120)
    assert process.returncode != 0 and time.monotonic() - killed < 90
    assert "Traceback" not in out
    metrics = json.loads(next(tmp_path.glob("sine/*/metrics.json")).read_text())
    assert metrics["status"] == "failed"
    assert "another worker of this distributed run failed or was killed" in metrics["message"]
    assert next(tmp_path.glob("sine/*/report.html")).exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_launcher_stops_every_worker_like_one_process(tmp_path, sig):
    env = {**os.environ, "MASTER_PORT": "0"}
    launcher = subprocess.Popen([sys.executable, "-m", "dlpipe", "run", str(ROOT / "pipelines/sine.yaml"),
                                 "--nproc", "2", "--out", str(tmp_path), "-q", "--set", "training.epochs=100000"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # as `setsid dlpipe run ...`: a process group of its own
    deadline = time.monotonic() + 90
    while not list(tmp_path.glob("sine/*/checkpoint.pt")):  # both ranks are training
        assert time.monotonic() < deadline and launcher.poll() is None, launcher.communicate()
        time.sleep(0.1)
    workers = worker_pids(launcher.pid, 0) + worker_pids(launcher.pid, 1)
    assert len(workers) == 2
    if sig == signal.SIGINT:
        os.killpg(launcher.pid, sig)  # Ctrl-C at a terminal: the whole foreground process group
    else:
        launcher.send_signal(sig)  # `kill PID` of the launcher
    out, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, err[-2000:]
    assert "Traceback" not in out + err and "SignalException" not in err
    run_dir = next(tmp_path.glob("sine/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and (run_dir / "report.html").exists()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] >= 1
    gone = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # no worker outlives the launcher
        assert time.monotonic() < gone, "a worker is still running"
        time.sleep(0.1)


def test_balanced_sampling_draws_alike_on_two_processes(tmp_path):
    """Rare classes (issue 36): every rank draws the same balanced order of rows and trains on its share of each
    batch, so two processes train as one does."""
    levers = ("--set", "training.sampling=balanced", "--set", "training.epochs=3",
              "--set", "model.layers.1.rate=0.0")  # (no dropout: its masks are drawn per process)
    double = run(ROOT / "pipelines/default.yaml", "--nproc", "2", "--out", tmp_path / "two", "-q", *levers)
    check_distributed_run(double)
    import dlpipe  # the one-process run in this process: no second interpreter to start

    single = dlpipe.run(ROOT / "pipelines/default.yaml", set=dict(s.split("=") for s in levers[1::2]),
                        out=tmp_path / "one", quiet=True)
    first = (Path(double.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent / "history.csv") \
        .read_text().splitlines()[1].split(",")[1]
    assert single.history["train_loss"][0] == pytest.approx(float(first), rel=1e-4)
