"""`dlpipe sweep` across processes: a killed sweep resumes; two workers share one study (own file: another xdist worker)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

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
    assert len([t for t in study.trials if t.user_attrs.get("interrupted")]) == 1
    assert "trial   0" not in err  # the finished one was not run again


def test_two_workers_share_one_study_and_run_each_grid_point_once(write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    grid = "optimizer.lr=1.0e-4,1.0e-3,1.0e-2,1.0e-1"
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [sweep_process(path, "--grid", grid, "--out", tmp_path / "out", "--storage", storage,
                             "--study", "shared") for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=storage)
    lrs = [t.params["optimizer.lr"] for t in counted(study)]
    assert sorted(lrs) == [1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1]  # exactly 4, none twice
    page = next((tmp_path / "out").glob("tiny/sweeps/shared/sweep.html")).read_text()
    assert page.count(">report</a>") == 4
