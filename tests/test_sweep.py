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
    assert index.index("Sweeps") < index.index('id="runs"')  # the sweeps first, as the README says
    assert 'trial 1 · optimizer.lr=0.001<' in index  # each trial says what it tried
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


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg2://dlpipe:s3cret@db.example:5432/sweeps", "postgresql+psycopg2://dlpipe:***@db.example:5432/sweeps"),
    ("postgresql://dlpipe@127.0.0.1/sweeps", "postgresql://dlpipe@127.0.0.1/sweeps"),
    ("sqlite:////tmp/x/sweeps.db", "sqlite:////tmp/x/sweeps.db"),
    ("postgresql://db/sweeps?user=a&password=s3cret&sslmode=require", "postgresql://db/sweeps?user=a&password=***&sslmode=require"),
    ("mysql://u:s3cret@h/db?token=abc", "mysql://u:***@h/db?token=***"),
    # The password runs to the last "@" of the authority, whatever it holds.
    ("postgresql://u:pa/ss@db/x", "postgresql://u:***@db/x"),
    ("http://carol:pa@ssW0rd@host", "http://carol:***@host"),
    ("http://u:p@ss:w/o%40rd@h:9/x?y=1", "http://u:***@h:9/x?y=1"),
])
def test_a_storage_password_is_masked_wherever_a_url_is_shown(url, shown):
    from dlpipe.language.secrets import mask

    assert mask(url) == shown and mask(f"dlpipe sweep x.yaml --storage {url} --jobs 2").endswith(f"{shown} --jobs 2")


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


def test_a_grid_beyond_the_limit_is_refused_with_its_size_before_anything_runs(cli, write_yaml, tmp_path):
    values = ",".join(str(i) for i in range(1, 1001))
    done = cli("sweep", write_yaml(TINY_SINE), "--grid", f"model.layers.0.units={values}", "--grid",
               f"training.batch_size={values}", "--out", tmp_path / "out")
    assert done.exit_code == 2 and "the grid has 1,000,000 points; a grid is at most 10,000" in done.stderr
    assert not (tmp_path / "out" / "sweeps.db").exists() and "Traceback" not in done.output


def test_a_sweep_killed_while_queueing_its_grid_gets_the_missing_points_on_resume(write_yaml, tmp_path, monkeypatch):
    """The kill used to come after grid_enqueued was set: --resume then never queued the rest (342 of 1,600)."""
    from dlpipe.sweep.plan import make_plan
    from dlpipe.sweep.search import _point_key, open_study

    grids = ("model.layers.0.units=" + ",".join(str(i) for i in range(1, 41)), "training.batch_size=8,16,32")
    plan, seed = make_plan(write_yaml(TINY_SINE), (), grids, {}, tmp_path, None, None, False)
    real, queued = optuna.Study.enqueue_trial, []

    def killed_after_50(study, params, *args, **kwargs):
        if len(queued) == 50:
            raise KeyboardInterrupt  # the SIGINT that ends the command while it queues
        queued.append(params)
        return real(study, params, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "enqueue_trial", killed_after_50)
    with pytest.raises(KeyboardInterrupt):
        open_study(plan, seed)
    monkeypatch.setattr(optuna.Study, "enqueue_trial", real)
    study = open_study(plan, seed)  # what --resume does
    points = [_point_key(t.system_attrs["fixed_params"]) for t in study.get_trials(deepcopy=False)]
    assert len(points) == 120 and len(set(points)) == 120  # every point, each once
    assert len(open_study(plan, seed).get_trials(deepcopy=False)) == 120  # and again: nothing added twice


def test_a_trial_that_failed_on_a_full_disk_runs_again_and_the_sweep_stops(cli, write_yaml, tmp_path, monkeypatch):
    from dlpipe.sweep import search

    real, calls = search.run, []

    def full_disk_once(*args, **kwargs):
        record = real(*args, **kwargs)
        if not calls:
            record.status, record.message = "failed", "no space left on the device of /x (needed about 0.01 MB)"
        calls.append(record)
        return record

    monkeypatch.setattr(search, "run", full_disk_once)
    path = write_yaml(TINY_SINE)
    first = cli("sweep", path, "--grid", "optimizer.lr=1.0e-3,1.0e-2", "--out", tmp_path)
    assert first.exit_code == 1 and "the disk is full; free some space: trial 0 is queued again" in first.stderr
    resumed = cli("sweep", path, "--grid", "optimizer.lr=1.0e-3,1.0e-2", "--out", tmp_path, "--resume")
    assert resumed.exit_code == 0, resumed.output
    study = study_of(tmp_path)
    assert sorted(t.params["optimizer.lr"] for t in counted(study)) == [1.0e-3, 1.0e-2]  # the full-disk one reran


def test_workers_get_the_storage_from_the_environment_and_a_bad_one_is_one_masked_line(cli, write_yaml, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    url = "postgresql+psycopg2://dlpipe:s3cret@127.0.0.1:9/sweeps"  # nothing listens on port 9
    done = subprocess.run([sys.executable, "-m", "dlpipe", "sweep", str(write_yaml(TINY_SINE)), "--grid",
                           "optimizer.lr=1.0e-3,1.0e-2", "--out", str(tmp_path), "--storage", url, "--jobs", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "s3cret" not in done.stdout + done.stderr
    assert "--storage postgresql+psycopg2://dlpipe:***@127.0.0.1:9/sweeps: cannot open it" in done.stderr


def test_the_command_line_each_run_records_masks_a_storage_password(monkeypatch):
    from dlpipe.archive.environment import environment

    monkeypatch.setattr("sys.argv", ["dlpipe", "sweep", "x.yaml", "--storage", "postgresql://u:s3cret@db/s?token=t0k"])
    command = environment("", (), "cpu")["command"]
    assert "s3cret" not in command and "t0k" not in command and "postgresql://u:***@db/s?token=***" in command


def test_a_file_as_out_a_damaged_database_and_a_broken_pipeline_yaml_are_one_line_each(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    (tmp_path / "afile").write_text("x")
    as_out = cli("sweep", path, "--grid", "optimizer.lr=0.01", "--out", tmp_path / "afile")
    assert as_out.exit_code == 2 and "is a file; expected the folder of the run archive" in as_out.stderr
    assert cli("sweep", path, "--grid", "optimizer.lr=0.01,0.1", "--out", tmp_path / "o").exit_code == 0
    with open(tmp_path / "o" / "sweeps.db", "r+b") as handle:  # partly overwritten
        handle.seek(2000)
        handle.write(b"garbage" * 500)
    damaged = cli("sweep", path, "--grid", "optimizer.lr=0.01,0.1", "--out", tmp_path / "o", "--resume")
    assert damaged.exit_code == 2 and "cannot open it (DatabaseError" in damaged.stderr
    assert len(damaged.stderr.strip().splitlines()) == 1
    first, second = sorted((tmp_path / "o" / "tiny").glob("2*"))[:2]
    (first / "pipeline.yaml").write_text("!!python/object:os.system {}\n")
    compared = cli("compare", first, second, "--out", tmp_path / "o")
    assert compared.exit_code == 2 and "pipeline.yaml: not the pipeline dlpipe wrote there" in compared.stderr
    for done in (as_out, damaged, compared):
        assert "Traceback" not in done.output


def test_the_sweep_verdict_never_names_a_range_and_calls_it_unimportant_in_one_breath():
    from dlpipe.report.sweep import verdict

    # 8 trials: the units decide; the learning rate barely matters, though the best two happen to share a range
    trials = [(64, 0.0046, 0.95), (64, 0.0162, 0.94), (32, 0.001, 0.90), (32, 0.05, 0.90), (16, 0.0005, 0.80),
              (16, 0.1, 0.80), (8, 0.002, 0.70), (8, 0.03, 0.70)]
    rows = [{"number": i, "value": value, "status": "completed", "params": {"model.layers.0.units": units,
                                                                            "optimizer.lr": lr}}
            for i, (units, lr, value) in enumerate(trials)]
    said = verdict(rows, {"model.layers.0.units": 0.93, "optimizer.lr": 0.07},
                   {"model.layers.0.units": "int", "optimizer.lr": "float"}, maximize=True)
    assert said.startswith("model.layers.0.units mattered most") and "optimizer.lr made little difference" in said
    assert said.count("optimizer.lr") == 1, said
    assert "the best 2 trials had model.layers.0.units 64" in said
