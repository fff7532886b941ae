"""`dlpipe sweep`: grid, random and bayes searches on Optuna whose trials are ordinary runs; one page; resume; sharing."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from conftest import TINY_SINE, TOY_CLASSIFIER  # noqa: E402

LRS = "optimizer.lr=1.0e-4,1.0e-3,1.0e-2,1.0e-1"


def study_of(out: Path, name: str | None = None):
    storage = f"sqlite:///{out / 'sweeps.db'}"
    name = name or optuna.get_all_study_summaries(storage)[-1].study_name
    return optuna.load_study(study_name=name, storage=storage)


def counted(study) -> list:
    return [t for t in study.trials if t.state.is_finished() and not t.user_attrs.get("interrupted")]


def test_a_grid_over_the_learning_rate_finds_a_better_one_and_writes_its_page(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    result = cli("sweep", path, "--grid", LRS, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    study = study_of(tmp_path)
    assert sorted(t.params["optimizer.lr"] for t in counted(study)) == [1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1]
    assert study.best_trial.params["optimizer.lr"] != 1.0e-4  # too small for 5 epochs
    page = Path(result.stdout.strip().splitlines()[-1].removeprefix("sweep: "))
    html = page.read_text()
    assert page.parent.parent.name == "sweeps" and html.count(">report</a>") == 4
    assert "Verdict" in html and "mattered most" in html and "Trials, best first" in html
    for trial in counted(study):  # every trial is an ordinary run whose report links back to the sweep
        report = (tmp_path / trial.user_attrs["run"] / "report.html").read_text()
        assert f"Trial {trial.number} of the sweep" in report
        link = report.split('of the sweep <a href="')[1].split('"')[0]
        assert (tmp_path / trial.user_attrs["run"] / link).resolve() == page.resolve()
    index = (tmp_path / "index.html").read_text()
    assert f'href="./tiny/sweeps/{study.study_name}/sweep.html"' in index and "Sweeps" in index
    listed = cli("runs", "--out", tmp_path).stdout.splitlines()
    assert len(listed) == 4 and listed[1].startswith(f"sweep {study.study_name} (4 trials)")  # one row, and then
    expanded = cli("runs", "--out", tmp_path, "--expand").stdout.splitlines()
    assert len([line for line in expanded if line.startswith("  tiny/")]) == 4  # its trials under it
    best = cli("sweep", path, "--grid", LRS, "--out", tmp_path, "--best")
    assert best.exit_code == 0 and f"lr: {study.best_trial.params['optimizer.lr']}" in best.stdout
    written = tmp_path / "best.yaml"
    written.write_text(best.stdout)
    assert cli("validate", written).exit_code == 0  # ready to use as it is


def test_a_bayes_sweep_with_pruning_prunes_some_trials_and_its_best_beats_the_median(cli, toy_mnist, write_yaml,
                                                                                        tmp_path):
    folder, _ = toy_mnist
    text = TOY_CLASSIFIER.format(root=folder) + """\
sweep:
  metric: val_loss
  method: bayes
  trials: 6
  prune: true
  parameters:
    optimizer.lr: {log_range: [1.0e-5, 3.0e-2]}
    model.layers.1.units: {choice: [4, 32]}
"""
    result = cli("sweep", write_yaml(text), "--out", tmp_path)
    assert result.exit_code == 0, result.output
    study = study_of(tmp_path)
    states = [t.state for t in counted(study)]
    assert len(states) == 6 and states.count(optuna.trial.TrialState.PRUNED) >= 1
    values = sorted(t.value for t in counted(study) if t.value is not None)
    assert len(values) >= 2 and study.best_value < statistics.median(values)  # better than the median trial
    pruned = next(t for t in counted(study) if t.state == optuna.trial.TrialState.PRUNED)
    assert "pruned at epoch" in (tmp_path / pruned.user_attrs["run"] / "report.html").read_text()
    assert "(pruned)" in result.stderr


def test_bad_sweep_flags_are_refused_before_anything_runs(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    for args, message in ((["--grid", "optimizer.lr=0.0,0.1"], "--grid optimizer.lr=0.0,0.1: with optimizer.lr = 0.0"),
                          (["--grid", "optimizer.lr"], "expected key.path=value,value"),
                          (["--grid", "model.layers.0.unitz=3"], "unknown key 'unitz'; did you mean 'units'?"),
                          ([], "nothing to search"),
                          (["--grid", "optimizer.lr=0.1", "--metric", "val_accuracy"], "'val_accuracy' is not recorded")):
        result = cli("sweep", path, *args, "--out", tmp_path / "out")
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert not list((tmp_path / "out").glob("*/*/metrics.json"))  # no trial ran


def test_the_page_never_shows_a_storage_password():
    from dlpipe.sweep.results import _safe

    assert _safe("postgresql+psycopg2://dlpipe:s3cret@db.example:5432/sweeps") == \
        "postgresql+psycopg2://dlpipe:***@db.example:5432/sweeps"
    assert _safe("postgresql://dlpipe@127.0.0.1/sweeps") == "postgresql://dlpipe@127.0.0.1/sweeps"
    assert _safe("sqlite:////tmp/x/sweeps.db") == "sqlite:////tmp/x/sweeps.db"


def test_a_diverged_trial_is_recorded_as_such_and_the_sweep_goes_on(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    result = cli("sweep", path, "--set", "optimizer={type: sgd, lr: 0.01}", "--set", "data.x_range=[-30, 30]",
                 "--grid", "optimizer.lr=10.0,0.01", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    trials = {t.params["optimizer.lr"]: t for t in counted(study_of(tmp_path))}
    assert trials[10.0].state == optuna.trial.TrialState.FAIL and trials[10.0].user_attrs["status"] == "diverged"
    assert trials[0.01].state == optuna.trial.TrialState.COMPLETE  # run after the diverged one
    assert "(diverged)" in result.stderr
    page = Path(result.stdout.splitlines()[-1].removeprefix("sweep: ")).read_text()
    assert "<td title=\"the loss became" in page and ">diverged</td>" in page


def test_grid_flags_are_checked_on_a_table_whose_task_the_data_decides(cli, tmp_path):
    from conftest import ROOT

    result = cli("sweep", ROOT / "pipelines/iris.yaml", "--grid", "optimizer.lr=1.0e-3,0", "--out", tmp_path)
    assert result.exit_code == 2 and "--grid optimizer.lr=1.0e-3,0: with optimizer.lr = 0: optimizer.lr: out of range" \
        in result.stderr and "loss" not in result.stderr  # the task (and so the loss) came from the data


def test_the_sweep_section_is_about_the_file_so_run_overrides_do_not_break_it(cli, tmp_path):
    """`dlpipe run --set scheduler=null` works on a file sweeping scheduler.max_lr; `dlpipe sweep` refuses it."""
    from conftest import ROOT

    mnist = ROOT / "pipelines/mnist.yaml"
    assert cli("validate", mnist, "--set", "scheduler=null").exit_code == 0
    result = cli("sweep", mnist, "--set", "scheduler=null", "--out", tmp_path)
    assert result.exit_code == 2 and "with scheduler.max_lr = 0.0001: scheduler: missing 'type:'" in result.stderr
    assert not list(tmp_path.glob("*/*/metrics.json"))


def _trial(tmp_path, number: int, val_loss: float, test_r2: float, status: str = "completed"):
    from datetime import datetime, timezone

    from dlpipe.archive.record import RunRecord

    run_dir = tmp_path / "tiny" / f"2026010{number}-000000-00000{number}"
    run_dir.mkdir(parents=True)
    record = RunRecord(name="tiny", started=datetime(2026, 1, 1, number, tzinfo=timezone.utc), path=run_dir,
                       status=status, task="regression", test={"loss": 0.1, "r2": test_r2},
                       headline={"name": "r2", "value": test_r2},
                       sweep={"study": "s1", "trial": number, "page": "x", "metric": "val_loss", "maximize": False},
                       history={"epoch": [1], "val_loss": [val_loss]}, evaluated_epoch=1)
    record.write()
    return record


def test_runs_names_the_sweeps_best_by_its_validation_metric_not_the_test_headline(tmp_path):
    """Trial 2 has the lowest validation loss (the sweep's metric); trial 1 the highest test R^2; trial 3, pruned,
    the lowest loss of all at the epoch it stopped. `dlpipe runs` must name trial 2, as the sweep page does."""
    from dlpipe.archive.runs import list_runs, table

    for number, val_loss, test_r2, status in ((1, 0.30, 0.99, "completed"), (2, 0.10, 0.90, "completed"),
                                              (3, 0.01, 0.50, "pruned")):
        _trial(tmp_path, number, val_loss, test_r2, status)
    row = table(list_runs(tmp_path)).splitlines()[1]
    assert "best val_loss 0.1: trial 2 (tiny/20260102-000000-000002)" in row, row


def test_runs_the_sweep_page_and_the_index_name_the_same_best_trial(cli, tmp_path):
    """The issue's sweep (shorter): one choice everywhere, the sweep's metric and its direction."""
    import json

    from conftest import ROOT

    result = cli("sweep", ROOT / "pipelines" / "sine.yaml", "--grid", "optimizer.lr=1.0e-3,1.0e-2,1.0e-1",
                 "--grid", "training.batch_size=32,128", "--set", "training.epochs=15", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    study = study_of(tmp_path)
    best = study.best_trial
    summary = json.loads(next(tmp_path.glob("sine/sweeps/*/sweep.json")).read_text())
    assert summary["best"]["number"] == best.number
    row = cli("runs", "--out", tmp_path).stdout.splitlines()[1]
    assert f"best val_loss {best.value:.4g}: trial {best.number} ({best.user_attrs['run']})" in row, row
    page = Path(result.stdout.splitlines()[-1].removeprefix("sweep: ")).read_text()
    assert f"The best trial's pipeline (trial {best.number})" in page
