"""`dlpipe sweep` across processes: a killed sweep resumes; two workers share one study (own file: another xdist worker)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from conftest import ROOT, TINY_SINE  # noqa: E402
from test_sweep import counted, study_of  # noqa: E402


def sweep_process(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlpipe", "sweep", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_sweep_resumes_without_rerunning_finished_trials(write_yaml, tmp_path):
    path = write_yaml(TINY_SINE.replace("epochs: 5", "epochs: 80"))
    grid = "optimizer.lr=1.0e-3,1.0e-2"
    first = sweep_process(path, "--grid", grid, "--out", tmp_path)
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("tiny/*/checkpoint.pt"))) < 2:  # the second trial has begun
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    resumed = sweep_process(path, "--grid", grid, "--out", tmp_path, "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "1 trial(s) left running by a stopped sweep process will run again" in err
    study = study_of(tmp_path)
    assert sorted(t.params["optimizer.lr"] for t in counted(study)) == [1.0e-3, 1.0e-2]
    [killed] = [t for t in study.trials if t.user_attrs.get("interrupted")]
    ran = [line for line in err.splitlines() if line.startswith("trial ")]
    from dlpipe.report.pages import human

    # the resumed process ran one trial, the killed one's values; the finished one was not run again
    assert len(ran) == 1 and f"optimizer.lr={human(killed.params['optimizer.lr'])}  ->" in ran[0], err


def test_two_worker_processes_share_one_study_and_run_each_grid_point_once(write_yaml, tmp_path):
    """--jobs 2: two worker processes started together on one new SQLite file (both create it at once)."""
    path = write_yaml(TINY_SINE)
    done = subprocess.run([sys.executable, "-m", "dlpipe", "sweep", str(path), "--grid", "optimizer.lr=1.0e-3,1.0e-2",
                           "--grid", "training.batch_size=32,64", "--out", str(tmp_path), "--jobs", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 worker processes" in done.stderr and done.stdout.splitlines()[-1].startswith("sweep: ")
    trials = counted(study_of(tmp_path))
    points = sorted((t.params["optimizer.lr"], t.params["training.batch_size"]) for t in trials)
    assert points == [(1.0e-3, 32), (1.0e-3, 64), (1.0e-2, 32), (1.0e-2, 64)]  # exactly 4, none twice
    page = Path(done.stdout.splitlines()[-1].removeprefix("sweep: ")).read_text()
    assert page.count(">report</a>") == 4
