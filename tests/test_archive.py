"""The run archive: a new directory per run, names that cannot escape, files that read back."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import torch

from dlpipe.archive.files import create_run_dir, history_csv, sanitize_name, write_atomic
from dlpipe.language.loader import load_pipeline

from conftest import TINY_SINE


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
        "report.html", "pipeline.yaml", "metrics.json", "history.csv", "model.pt", "run.log", "checkpoint.pt"}
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
