"""The run archive: a new directory per run, names that cannot escape, files that read back."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from urllib.parse import unquote

import pytest
import torch

from dlpipe.archive.files import create_run_dir, history_csv, sanitize_name, write_atomic
from dlpipe.archive.record import RunRecord
from dlpipe.language.loader import load_pipeline

from conftest import TINY_SINE, fill


def test_two_runs_in_the_same_second_get_two_directories(tmp_path):
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    dirs = {create_run_dir(tmp_path, "same", moment) for _ in range(20)}
    assert len(dirs) == 20
    assert all(d.parent == tmp_path / "same" and d.name.startswith("20260102-030405-") for d in dirs)


def test_two_cli_runs_back_to_back_keep_both(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    for _ in range(2):
        assert cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=1").exit_code == 0
    assert len(list(tmp_path.glob("tiny/*/report.html"))) == 2


@pytest.mark.parametrize("name, expected", [
    ("../../etc", "etc"), ("a/b", "a_b"), ("..", "run"), ("my run <1>", "my_run_1"), ("ok-name_1.2", "ok-name_1.2"),
])
def test_run_names_are_sanitised(name, expected):
    assert sanitize_name(name) == expected


def test_escaping_name_stays_under_the_root(cli, write_yaml, tmp_path):
    out = tmp_path / "out"
    result = cli("run", write_yaml(TINY_SINE), "--out", out, "-q", "--set", "name=../../escape",
                 "--set", "training.epochs=1")
    assert result.exit_code == 0
    reports = list(tmp_path.rglob("report.html"))
    assert len(reports) == 1 and out in reports[0].parents


def test_write_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.txt"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_history_csv_has_one_row_per_epoch():
    text = history_csv({"epoch": [1, 2], "train_loss": [0.5, 0.25]})
    assert text.splitlines() == ["epoch,train_loss", "1,0.5", "2,0.25"]


def test_run_directory_holds_everything_and_reads_back(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    assert cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=2").exit_code == 0
    run_dir = next(tmp_path.glob("tiny/*"))
    assert {p.name for p in run_dir.iterdir()} == {
        "report.html", "charts.json", "pipeline.yaml", "metrics.json", "history.csv", "model.pt", "run.log", "checkpoint.pt", "checkpoint.json",
        "preprocessing.json", "layers.csv"}
    # The resolved pipeline is a valid pipeline with every default filled and the override applied.
    resolved = load_pipeline(run_dir / "pipeline.yaml").pipeline
    original = load_pipeline(path, ("training.epochs=2",)).pipeline
    assert resolved == original
    text = (run_dir / "pipeline.yaml").read_text()
    assert "batch_size: 32" in text and "shuffle: true" in text and "--set training.epochs=2" in text
    # model.pt loads safely and rebuilds the trained model.
    saved = torch.load(run_dir / "model.pt", weights_only=True)
    assert saved["pipeline"]["name"] == "tiny"
    assert set(saved["state_dict"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}  # linear, tanh, linear
    assert len((run_dir / "history.csv").read_text().splitlines()) == 3
    # One record of the run: what the runner wrote is what every reader gets back.
    record = RunRecord.read(run_dir)
    assert record.to_json() == json.loads((run_dir / "metrics.json").read_text())
    assert record.epochs_run == 2 and record.history["epoch"] == [1.0, 2.0] and record.ref.startswith("tiny/")


def test_a_name_collision_draws_new_hex(tmp_path, monkeypatch):
    drawn = iter(["aaaaaa", "aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr("dlpipe.archive.files.secrets.token_hex", lambda n: next(drawn))
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    first = create_run_dir(tmp_path, "same", moment)
    second = create_run_dir(tmp_path, "same", moment)  # "aaaaaa" is taken twice, then a fresh draw
    assert (first.name, second.name) == ("20260102-030405-aaaaaa", "20260102-030405-bbbbbb")
    monkeypatch.setattr("dlpipe.archive.files.secrets.token_hex", lambda n: "aaaaaa")
    with pytest.raises(RuntimeError, match="could not create a new run directory"):
        create_run_dir(tmp_path, "same", moment)
    assert sorted(p.name for p in (tmp_path / "same").iterdir()) == [first.name, second.name]


def test_runs_show_and_the_index_read_the_same_record(cli, write_yaml, tmp_path):
    assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "training.epochs=2").exit_code == 0
    run_dir = next(tmp_path.glob("tiny/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["headline"] = {"name": "r2", "value": 0.123456}  # edited by hand: both readers must show it
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    from dlpipe.report.index import write_index

    assert "0.1235" in write_index(tmp_path).read_text()
    listing = cli("runs", "--out", tmp_path)
    assert "r2 0.1235" in listing.stdout
    shown = cli("runs", "--out", tmp_path, "show", "tiny")
    assert shown.exit_code == 0 and "2 epochs" in shown.stdout and "test r2" in shown.stdout


@pytest.mark.parametrize("name", ["index.html", "INDEX.HTML", "comparisons"])
def test_the_archive_s_own_names_are_reserved(cli, write_yaml, tmp_path, name):
    path = write_yaml(TINY_SINE)
    for _ in range(2):  # the second run would find index.html a directory, or comparisons/ a run
        result = cli("run", path, "--out", tmp_path, "-q", "--set", f"name={name}", "--set", "training.epochs=1")
        assert result.exit_code == 0, result.output
    assert (tmp_path / "index.html").is_file() and (tmp_path / f"{name}-run").is_dir()
    assert cli("compare", name, name + "-run", "--out", tmp_path).exit_code in (0, 2)  # no crash either way


def test_index_links_are_relative_and_percent_encoded(cli, write_yaml, tmp_path):
    assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "training.epochs=1").exit_code == 0
    run_dir = next(tmp_path.glob("tiny/*"))
    hostile = tmp_path / "javascript:alert(document.domain)" / run_dir.name
    hostile.parent.mkdir()
    shutil.copytree(run_dir, hostile)
    from dlpipe.report.index import write_index

    html = write_index(tmp_path).read_text()
    links = re.findall(r'href="([^"]*)"', html)
    assert len(links) == 2 and all(link.startswith("./") and ":" not in link for link in links)
    assert all((tmp_path / unquote(link)).is_file() for link in links)


@pytest.mark.parametrize("content", ['[]', '{"started": 5}', '{"started": "2026-01-01T00:00:00+00:00", '
                                     '"headline": {"name": "r2", "value": "high"}}', '{"status": "completed"', '\xff'])
def test_a_damaged_metrics_json_is_skipped_and_counted_never_fatal(cli, write_yaml, tmp_path, content):
    damaged = tmp_path / "x" / "y"
    damaged.mkdir(parents=True)
    (damaged / "metrics.json").write_bytes(content.encode("latin-1"))
    listing = cli("runs", "--out", tmp_path)
    assert listing.exit_code == 2 and "1 run(s) could not be read" in listing.stderr  # and no run to list
    assert "Traceback" not in listing.output
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output  # the archive's damage is not this run's failure
    index = (tmp_path / "index.html").read_text()
    assert "1 run could not be read" in index and "tiny/" in index
    for args in (["runs", "show", "x/y"], ["compare", "x/y", "tiny"], ["run", "--resume", damaged]):
        bad = cli(*args[:1], "--out", tmp_path, *args[1:]) if args[0] != "run" else cli(*args)
        assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output


def test_a_fifo_named_metrics_json_is_never_opened(cli, write_yaml, tmp_path):
    fifo_dir = tmp_path / "x" / "y"
    fifo_dir.mkdir(parents=True)
    os.mkfifo(fifo_dir / "metrics.json")  # opening it for reading would block until a writer comes
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "training.epochs=1")
    assert result.exit_code == 0 and "not a regular file" in (tmp_path / "index.html").read_text()


def test_a_full_disk_fails_the_run_cleanly_and_resume_finishes_it(cli, write_yaml, small_disk):
    path = write_yaml(TINY_SINE)
    filler = fill(small_disk, 90_000)  # room for the checkpoint and metrics, not for the ~50 kB report (80-110 kB pass)
    result = cli("run", path, "--out", small_disk / "out", "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no space left on the device of" in result.stderr and "report.html" in result.stderr
    run_dir = next((small_disk / "out").glob("tiny/*"))
    status = json.loads((run_dir / "metrics.json").read_text())
    assert status["status"] == "failed" and "no space left" in status["message"]
    assert not (run_dir / "report.html").exists() and not list(run_dir.glob(".*.tmp"))  # nothing half-written
    filler.unlink()
    resumed = cli("run", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"
    assert (run_dir / "report.html").exists()


def test_a_disk_too_full_for_the_run_directory_starts_no_run(cli, write_yaml, small_disk):
    fill(small_disk, 8_000)  # not even room for the run directory's first files
    result = cli("run", write_yaml(TINY_SINE), "--out", small_disk / "out", "-q")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot write the run archive: no space left on the device" in result.stderr
    assert list((small_disk / "out").glob("*/*")) == []  # no directory that is not a run
    assert list((small_disk / "out").rglob(".*.tmp")) == []


def test_a_disk_too_full_for_a_checkpoint_fails_the_run_in_one_clear_line(cli, write_yaml, small_disk):
    # room for pipeline.yaml, index.html and metrics.json (36 KB: 30 KB left metrics.json no room once the index
    # grew by a few hundred bytes), not for the checkpoint and the report
    fill(small_disk, 36_000)
    result = cli("run", write_yaml(TINY_SINE), "--out", small_disk / "out", "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no space left on the device" in result.stderr
    [run_dir] = (small_disk / "out").glob("tiny/*")
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"
    assert list((small_disk / "out").rglob(".*.tmp")) == []  # nothing half-written


def test_a_killed_run_is_listed_as_stopped_with_the_epochs_its_checkpoint_holds(write_yaml, tmp_path):
    """SIGKILL leaves metrics.json saying running; `dlpipe runs` and `runs show` must not say so for ever."""
    import signal
    import sys
    import time

    path = write_yaml(TINY_SINE.replace("epochs: 5", "epochs: 100000"))
    process = subprocess.Popen([sys.executable, "-m", "dlpipe", "run", str(path), "--out", str(tmp_path), "-q"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = None
    deadline = time.monotonic() + 120
    while summary is None or json.loads(summary.read_text())["epoch"] < 2:
        assert process.poll() is None and time.monotonic() < deadline
        summary = next(tmp_path.glob("tiny/*/checkpoint.json"), None)
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    epochs = json.loads(summary.read_text())["epoch"]
    listed = subprocess.run([sys.executable, "-m", "dlpipe", "runs", "--out", str(tmp_path)], capture_output=True,
                            text=True).stdout
    assert f"stopped after epoch {epochs}" in listed and "running" not in listed
    shown = subprocess.run([sys.executable, "-m", "dlpipe", "runs", "--out", str(tmp_path), "show", "tiny"],
                           capture_output=True, text=True).stdout
    assert f"stopped after epoch {epochs}" in shown and f"{epochs} epochs on cpu" in shown


@pytest.fixture(scope="module")
def real_records(tmp_path_factory):
    """Two real metrics.json: a classifier's (classes, scores, confusions) and a sweep trial's (its sweep link)."""
    import dlpipe

    from conftest import ROOT

    out = tmp_path_factory.mktemp("records")
    iris = dlpipe.run(ROOT / "pipelines" / "iris.yaml", set={"training.epochs": 2, "training.stop_at": {
        "val_accuracy": 0.5, "val_loss": 1.0e-6}}, out=out, quiet=True).path
    trial = json.loads((iris / "metrics.json").read_text())
    trial["sweep"] = {"study": "s-1", "trial": 3, "page": "../../sweeps/s-1/sweep.html", "metric": "val_loss",
                      "maximize": False}
    return [json.loads((iris / "metrics.json").read_text()), trial]


def _paths(value, prefix=()):
    """Every key path into a JSON value, to a depth of 3."""
    if len(prefix) >= 3:
        return
    items = value.items() if isinstance(value, dict) else enumerate(value[:2]) if isinstance(value, list) else ()
    for key, inner in items:
        yield prefix + (key,)
        yield from _paths(inner, prefix + (key,))


DAMAGE = [None, 1, -3.5, "x", [], {}, True, ["x"], {"x": 1}]


def test_a_metrics_json_damaged_anywhere_is_skipped_or_shown_never_a_crash(real_records, tmp_path):
    """Property: one field of a real metrics.json replaced by a value of another kind, every field and kind in
    turn: `dlpipe runs`, `runs show`, the index and compare either show the run or say it could not be read."""
    import copy

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dlpipe.archive.runs import list_runs, table
    from dlpipe.report.index import write_index

    from test_fuzz import fuzz_settings

    cases = [(n, path) for n, record in enumerate(real_records) for path in _paths(record)]
    run_dir = tmp_path / "iris" / "20260101-000000-abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / "pipeline.yaml").write_text("name: iris\n")

    @settings(fuzz_settings({**__import__("os").environ, "FUZZ_EXAMPLES": "300"}))
    @given(st.sampled_from(cases), st.sampled_from(DAMAGE))
    def damaged(case, value):
        n, path = case
        record = copy.deepcopy(real_records[n])
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        (run_dir / "metrics.json").write_text(json.dumps(record))
        skipped: list[str] = []
        listed = list_runs(tmp_path, damaged=skipped)
        assert len(listed) + len(skipped) == 1
        table(listed, expand=True)
        write_index(tmp_path)
        from click.testing import CliRunner

        from dlpipe.cli import main

        shown = CliRunner().invoke(main, ["runs", "--out", str(tmp_path), "show", str(run_dir)])
        assert shown.exit_code in (0, 2) and (shown.exception is None or isinstance(shown.exception, SystemExit)), \
            (path, value, shown.output)

    damaged()


def test_a_run_stopped_before_its_first_epoch_ends_has_no_headline_nor_verdict(write_yaml, tmp_path):
    """`dlpipe runs` showed an untrained network's test R^2 as the headline of such a run, and a verdict."""
    import threading

    from click.testing import CliRunner

    from dlpipe.archive.log import Progress
    from dlpipe.cli import main
    from dlpipe.data.sources import read_pipeline
    from dlpipe.runner import run

    from conftest import TINY_SINE

    stop = threading.Event()
    stop.set()  # a Ctrl-C before the first batch: the run ends after it
    record = run(read_pipeline(write_yaml(TINY_SINE)), tmp_path, Progress(quiet=True), stop=stop)
    saved = json.loads((record.path / "metrics.json").read_text())
    assert saved["status"] == "interrupted" and saved["headline"] is None and saved["verdict"] is None
    listed = CliRunner().invoke(main, ["runs", "--out", str(tmp_path)]).output
    assert "interrupted" in listed and "r2" not in listed


def test_history_csv_is_read_column_by_column_with_empty_and_short_rows_as_nan(tmp_path):
    """A dict per row made a 48 MB history.csv take 2.7 GB to compare; columns give the same values."""
    import math

    from dlpipe.archive.record import read_history

    (tmp_path / "history.csv").write_text("epoch,train_loss,val_loss\n1,0.5,0.6\n2,,0.4\n3,0.2\n")
    history = read_history(tmp_path)
    assert history["epoch"] == [1.0, 2.0, 3.0] and history["train_loss"][0] == 0.5
    assert math.isnan(history["train_loss"][1]) and math.isnan(history["val_loss"][2])
