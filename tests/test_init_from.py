"""`dlpipe init --from TABLE --target COLUMN`: a pipeline written from the user's table validates and reaches the
shipped tables' targets; free text becomes a text section; a missing --target or a folder is told what to do."""

from __future__ import annotations

import json

import numpy as np

import pytest

from conftest import ROOT

# table, target, test metric, the target its shipped pipeline states
SHIPPED = [("iris.csv", "species", "accuracy", 0.93), ("breast_cancer.csv", "diagnosis", "accuracy", 0.95),
           ("diabetes.csv", "progression", "r2", 0.40), ("houses.csv", "price_cad", "r2", 0.40)]


@pytest.mark.parametrize("table, target, metric, floor", SHIPPED, ids=[s[0] for s in SHIPPED])
def test_a_pipeline_written_from_a_shipped_table_reaches_its_target(cli, tmp_path, table, target, metric, floor):
    written = tmp_path / "from.yaml"
    result = cli("init", "--from", ROOT / "pipelines" / "data" / table, "--target", target, written)
    assert result.exit_code == 0, result.output
    text = written.read_text()
    assert "# Task: target" in text and "numeric: standardized" in text and "early_stopping" in text
    assert cli("validate", written).exit_code == 0
    run = cli("run", written, "--out", tmp_path / "out", "-q")
    assert run.exit_code == 0, run.output
    record = json.loads(next(tmp_path.glob("out/*/*/metrics.json")).read_text())
    assert record["test"][metric] >= floor, record["test"]
    assert cli("init", "--from", ROOT / "pipelines" / "data" / table, "--target", target, written).exit_code == 2


@pytest.mark.parametrize("rows", [30, 150, 999, 5_000, 54_000, 200_000, 10_000_000])
def test_the_patience_written_is_always_below_the_epochs_so_early_stopping_can_fire(rows):
    from dlpipe.cli.fromdata import _sizes, patience

    epochs = _sizes(10, rows)[2]
    assert 3 <= patience(epochs) < epochs and patience(epochs) <= max(3, epochs // 4)


def test_categories_and_free_text_are_read_as_such(cli, tmp_path):
    written = tmp_path / "mail.yaml"
    result = cli("init", "--from", ROOT / "tests" / "broken" / "data" / "mail.csv", "--target", "label", written)
    assert result.exit_code == 0, result.output
    text = written.read_text()
    assert "text: {columns: [body], as: tfidf" in text and "body                     text: read as words" in text
    assert "classification (ham, spam)" in text
    houses = tmp_path / "houses.yaml"
    assert cli("init", "--from", ROOT / "tests" / "fixtures" / "houses.csv", "--target", "price", houses).exit_code == 0
    assert "district                 categorical: one-hot, 5 values" in houses.read_text()
    assert cli("validate", written).exit_code == 0 and cli("validate", houses).exit_code == 0


def test_without_a_target_it_lists_the_columns(cli, tmp_path):
    result = cli("init", "--from", ROOT / "tests" / "fixtures" / "houses.csv")
    assert result.exit_code == 2 and "give --target with one of: size_m2, rooms, district, age_years, price" in \
        result.stderr
    wrong = cli("init", "--from", ROOT / "tests" / "fixtures" / "houses.csv", "--target", "price_eur")
    assert wrong.exit_code == 2 and "did you mean 'price'?" in wrong.stderr and "Traceback" not in wrong.output


def test_an_image_folder_gets_a_small_convolutional_network_that_runs(cli, tmp_path):
    import shutil

    for image in (ROOT / "tests" / "fixtures" / "images").glob("*/*.png"):  # 4 per class, 5 times over
        (tmp_path / "shapes" / image.parent.name).mkdir(parents=True, exist_ok=True)
        for copy in range(5):
            shutil.copy(image, tmp_path / "shapes" / image.parent.name / f"{copy}-{image.name}")
    written = tmp_path / "shapes.yaml"
    result = cli("init", "--from", tmp_path / "shapes", written)
    assert result.exit_code == 0, result.output
    text = written.read_text()
    assert "2 classes (circle, square)" in text and "root: shapes" in text and "type: conv2d" in text
    assert cli("validate", written).exit_code == 0
    run = cli("run", written, "--out", tmp_path / "out", "-q", "--set", "training.epochs=1")
    assert run.exit_code == 0, run.output
    assert cli("init", "--from", tmp_path / "shapes", "--target", "x").exit_code == 2  # the classes are the target


def test_a_long_table_is_read_through_a_sample_of_its_first_rows_and_its_rows_are_counted(cli, tmp_path, monkeypatch):
    from dlpipe.cli import fromdata
    from dlpipe.data.table import count_rows

    source = ROOT / "pipelines" / "data" / "houses.csv"
    assert count_rows(source) == 546
    monkeypatch.setattr(fromdata, "SAMPLE", 200)  # houses.csv has 546 rows: the first 200 decide, all are counted
    read = []
    original = fromdata._read
    monkeypatch.setattr(fromdata, "_read", lambda path, target: read.append(path) or original(path, target))
    written = tmp_path / "houses.yaml"
    assert cli("init", "--from", source, "--target", "price_cad", written).exit_code == 0
    text = written.read_text()
    assert read[0] != source and read[0].suffix == ".parquet" and not read[0].exists()  # a sample, removed after
    assert ": 546 rows, 11 input column(s)." in text.splitlines()[0]  # the whole table's rows size the model
    assert f"path: {source}" in text and "air_conditioning         categorical: one-hot, 2 values" in text
    assert cli("validate", written).exit_code == 0
    bad = tmp_path / "bad.csv"  # a problem in the sample is said of the user's file, not of the deleted sample
    bad.write_text("a,label\n" + "".join(f"{'x' if i == 7 else i},{'yn'[i % 2]}\n" for i in range(300)))
    refused = cli("init", "--from", bad, "--target", "label", tmp_path / "bad.yaml")
    assert refused.exit_code == 2 and f"{bad} (its first 200 rows): column 'a' holds numbers and text" in \
        refused.stderr and ".parquet" not in refused.stderr, refused.stderr


def test_a_column_counting_the_rows_is_left_out_as_row_numbers(cli, tmp_path):
    rng = np.random.default_rng(0)
    x = np.sort(rng.normal(size=300))  # the file sorted by its target: the row number would leak it
    table = tmp_path / "sorted.csv"
    table.write_text("rownames,x,noise,y\n" + "".join(f"{i + 1},{v:.4f},{rng.normal():.4f},{3 * v:.4f}\n"
                                                        for i, v in enumerate(x)))
    written = tmp_path / "sorted.yaml"
    assert cli("init", "--from", table, "--target", "y", written).exit_code == 0
    text = written.read_text()
    assert "rownames                 left out: row numbers (1 to 300, each once)" in text
    assert "features: [x, noise]" in text
