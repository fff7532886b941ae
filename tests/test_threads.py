"""The CPU threads a run chooses (engine/threads.py), and training.stop_at's targets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dlpipe.engine import threads as threads_module
from dlpipe.engine.threads import MFLOP_PER_THREAD, Threads, step_mflop
from dlpipe.language.loader import load_pipeline
from dlpipe.language.targets import reached
from dlpipe.model.network import build_model

from conftest import ROOT, TINY_SINE


@pytest.mark.parametrize("name, shape, batch", [("mnist.yaml", (1, 28, 28), 128), ("mnist_cnn.yaml", (1, 28, 28), 64),
                                                ("sine.yaml", (1,), 64)])
def test_work_per_step_is_what_torch_counts(name, shape, batch):
    """step_mflop from the model summary is within 15 % of torch's own count of a forward and backward pass."""
    pipeline = load_pipeline(ROOT / "pipelines" / name).pipeline
    model, summary = build_model(pipeline.model, shape)
    x = torch.randn(batch, *shape, requires_grad=True)  # the first layer's input gradient is counted, as estimated
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    counted = counter.get_total_flops() / 1e6
    assert step_mflop(summary.rows, batch) == pytest.approx(counted, rel=0.15)


class Machine:
    """A fake /proc: the CPU ticks other programs use, advanced by hand, and a clock moved by hand."""

    def __init__(self, monkeypatch, cores: int):
        self.busy, self.mine, self.now, self.others, self.cores = 0, 0, 0.0, 0.0, cores
        monkeypatch.setattr(threads_module, "_busy_ticks", lambda cpus: (self.busy, self.mine))
        monkeypatch.setattr(threads_module.time, "perf_counter", lambda: self.now)
        monkeypatch.setattr(threads_module.time, "sleep", self.wait)
        self.set_to = []
        monkeypatch.setattr(threads_module.torch, "set_num_threads", self.set_to.append)

    def wait(self, seconds: float) -> None:
        """Time passes: other programs use `others` cores, this process its threads fully."""
        self.now += seconds
        self.busy += round(seconds * threads_module.CLOCK * self.others)
        self.mine += round(seconds * threads_module.CLOCK * (self.set_to[-1] if self.set_to else 1))
        self.busy += round(seconds * threads_module.CLOCK * (self.set_to[-1] if self.set_to else 1))


def test_a_small_network_takes_one_thread_and_says_why(monkeypatch):
    machine = Machine(monkeypatch, 8)
    chosen = Threads(None, frozenset(range(8)), MFLOP_PER_THREAD / 2)
    assert chosen.start() == 1 and machine.set_to == [1]
    assert f"MFLOP a step: below {MFLOP_PER_THREAD:g} a second thread costs more than it saves" in chosen.changes[0]
    machine.others = 8
    for _ in range(5):
        machine.wait(2.0)
        chosen.pace()
    assert machine.set_to == [1]  # nothing to follow: one thread whatever the load


def test_a_fixed_count_is_never_changed(monkeypatch):
    machine = Machine(monkeypatch, 4)
    chosen = Threads(3, frozenset(range(4)), 1000.0)
    assert chosen.start() == 3 and chosen.changes == ["3 (training.threads)"]
    machine.others = 4
    machine.wait(2.0)
    chosen.pace()
    assert machine.set_to == [3]


def test_threads_follow_the_load_down_at_once_and_up_after_two_looks(monkeypatch):
    machine = Machine(monkeypatch, 4)
    chosen = Threads(None, frozenset(range(4)), 100 * MFLOP_PER_THREAD)  # work for every core
    machine.others = 1.0
    assert chosen.start() == 3 and "other programs use 1.0 of the 4 cores" in chosen.changes[0]
    machine.others = 3.0
    machine.wait(0.5)
    chosen.pace()  # too soon after the last look: nothing read
    assert machine.set_to == [3]
    machine.wait(0.6)
    chosen.pace()
    assert machine.set_to == [3, 1]  # down at once
    machine.others = 0.0
    machine.wait(1.1)
    chosen.pace()
    assert machine.set_to == [3, 1]  # one quiet look is not enough
    machine.wait(1.1)
    chosen.pace()
    assert machine.set_to == [3, 1, 4] and chosen.changes[-1].startswith("then 4 (other programs use 0.0")


def test_a_short_burst_does_not_flap_the_count(monkeypatch):
    machine = Machine(monkeypatch, 2)
    chosen = Threads(None, frozenset(range(2)), 100 * MFLOP_PER_THREAD)
    assert chosen.start() == 2
    for others in (0.1, 0.2, 0.0, 0.15):  # light load under TAKEN of a core: not taken
        machine.others = others
        machine.wait(1.1)
        chosen.pace()
    assert machine.set_to == [2]


def test_without_proc_the_work_decides(monkeypatch):
    monkeypatch.setattr(threads_module, "_busy_ticks", lambda cpus: None)
    set_to = []
    monkeypatch.setattr(threads_module.torch, "set_num_threads", set_to.append)
    chosen = Threads(None, frozenset(range(4)), 2.5 * MFLOP_PER_THREAD)
    assert chosen.start(look_s=0) == 2 and set_to == [2]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/stat"), reason="Linux only")
def test_a_program_holding_our_core_is_read_as_load_from_proc(monkeypatch):
    """The real /proc: a busy loop pinned to this process's first CPU counts as a taken core there."""
    cpu = min(os.sched_getaffinity(0))
    monkeypatch.setattr(threads_module.torch, "set_num_threads", lambda count: None)
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}}); print('spinning', flush=True)\nwhile True: pass"
    hog = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline() == "spinning\n"
        chosen = Threads(None, frozenset({cpu, 10_000}), 100 * MFLOP_PER_THREAD)  # a second CPU that does not exist
        assert chosen.start(look_s=0.5) == 1
        used = float(re.search(r"other programs use ([\d.]+) of the 2 cores", chosen.changes[0]).group(1))
        assert 0.75 <= used <= 1.05, chosen.changes
    finally:
        hog.kill()
        hog.wait()


def test_the_run_says_what_it_chose_in_the_log_the_record_and_the_report(cli, write_yaml, tmp_path):
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.glob("tiny/*"))
    said = "CPU threads 1 ("
    assert said in (run_dir / "run.log").read_text()
    choice = json.loads((run_dir / "metrics.json").read_text())["environment"]["thread_choice"]
    assert choice and choice[0].startswith("1 (") and "MFLOP a step" in choice[0]
    assert choice[0] in (run_dir / "report.html").read_text()


# training.stop_at

def test_reached_takes_each_metrics_direction_and_never_a_nan():
    history = {"epoch": [1, 2, 3], "time": [0.5, 1.0, 1.5], "val_accuracy": [0.9, 0.97, 0.99],
               "val_loss": [0.3, float("nan"), 0.05]}
    found = {t["key"]: t for t in reached({"val_accuracy": 0.97, "val_loss": 0.1}, history)}
    assert (found["val_accuracy"]["epoch"], found["val_accuracy"]["time"]) == (2, 1.0)  # at the target counts
    assert (found["val_loss"]["epoch"], found["val_loss"]["value"]) == (3, 0.05)  # lower is better, NaN skipped
    missed = reached({"val_accuracy": 0.995}, history)[0]
    assert missed["epoch"] is None and missed["higher"] is True


def _run_with_targets(cli, write_yaml, tmp_path, stop_at: str, epochs: int):
    """A tiny sine run with training.stop_at; its run directory and metrics.json."""
    text = TINY_SINE.replace("training: {", f"training: {{stop_at: {stop_at}, ")
    result = cli("run", write_yaml(text), "--out", tmp_path, "--set", f"training.epochs={epochs}")
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.glob("tiny/*"))
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def test_stop_at_ends_the_run_when_every_target_is_reached_and_the_report_says_when(cli, write_yaml, tmp_path):
    run_dir, record = _run_with_targets(cli, write_yaml, tmp_path, "{val_r2: 0.5, val_loss: 2.0}", 200)
    history = (run_dir / "history.csv").read_text().splitlines()
    epochs = len(history) - 1
    assert record["status"] == "completed" and epochs < 200
    assert record["message"].startswith("reached every target (training.stop_at): val_r2 ≥ 0.5: epoch ")
    r2 = {t["key"]: t for t in record["targets"]}["val_r2"]
    row = dict(zip(history[0].split(","), history[r2["epoch"]].split(",")))
    assert r2["value"] >= 0.5 and float(row["val_r2"]) == pytest.approx(r2["value"])
    assert float(row["time"]) == pytest.approx(r2["time"]) and max(t["epoch"] for t in record["targets"]) == epochs
    before = dict(zip(history[0].split(","), history[r2["epoch"] - 1].split(","))) if r2["epoch"] > 1 else None
    assert before is None or float(before["val_r2"]) < 0.5  # the first epoch that reached it
    assert f"reached in epoch {r2['epoch']}, after" in (run_dir / "report.html").read_text()
    shown = cli("runs", "--out", tmp_path, "show", "tiny")
    assert f"target: val_r2 ≥ 0.5: epoch {r2['epoch']}" in shown.output


def test_a_target_not_reached_runs_every_epoch_and_says_so(cli, write_yaml, tmp_path):
    run_dir, record = _run_with_targets(cli, write_yaml, tmp_path, "{val_loss: 0.0}", 3)
    assert record["targets"][0]["epoch"] is None and len(record["targets"]) == 1
    assert "not reached in 3 epochs" in (run_dir / "report.html").read_text()


@pytest.mark.parametrize("stop_at, message", [
    ("{val_foo: 0.9}", "'val_foo': no metric says whether higher or lower is better"),
    ("{val_loss: .nan}", "val_loss: nan is not a finite number"),
    ("{val_accuracy: 0.9}", "'val_accuracy' is not recorded by this pipeline"),
    ("[val_loss]", "stop_at"),
])
def test_a_bad_target_is_refused_before_training(cli, write_yaml, tmp_path, stop_at, message):
    text = TINY_SINE.replace("training: {", f"training: {{stop_at: {stop_at}, ")
    result = cli("run", write_yaml(text), "--out", tmp_path)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output, result.stderr
    assert not list(tmp_path.glob("tiny/*"))


def test_no_run_takes_more_threads_than_its_share_of_the_cores(monkeypatch):
    """A sweep --jobs worker or a pytest-xdist worker (pinned to its CPUs), and a --nproc rank (its share)."""
    from types import SimpleNamespace

    from dlpipe.engine.device import threads_for
    from dlpipe.language.pipeline import Training

    machine = Machine(monkeypatch, 1)
    pinned = Threads(None, frozenset({5}), 1000 * MFLOP_PER_THREAD)  # work for 100 threads, one CPU to run on
    assert pinned.start() == 1 and machine.set_to == [1]
    monkeypatch.setattr("dlpipe.engine.device.usable_cpus", lambda: frozenset(range(8)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    rank = threads_for(Training(), SimpleNamespace(size=4), torch.device("cpu"), 1000.0)
    assert rank.fixed == 2 and rank.start() == 2  # 8 cores between 4 local ranks, never changed by the load
    assert threads_for(Training(threads=3), None, torch.device("cpu"), 0.1).start() == 3
    assert threads_for(Training(), None, torch.device("cpu"), 0.1).fixed is None  # one process: it decides
