"""K-fold cross-validation (`dlpipe run --folds K`, `dlpipe.run(..., folds=K)`): every row tested once, stratified
folds, expanding windows for a series, the group's numbers, `runs` and `compare`, and what is refused."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import dlpipe
from dlpipe.data.series import cuts
from dlpipe.data.sources import load_data, read_pipeline
from dlpipe.data.targets import split_rows
from dlpipe.language.errors import InvalidValue
from dlpipe.language.series import SeriesData
from dlpipe.language.source import SplitFractions

from conftest import ROOT, TINY_SINE

IRIS = ROOT / "pipelines" / "iris.yaml"


@pytest.fixture(scope="module")
def iris_folds(tmp_path_factory):
    from click.testing import CliRunner

    from dlpipe.cli import main

    out = tmp_path_factory.mktemp("folds")
    done = CliRunner().invoke(main, ["run", str(IRIS), "--folds", "5", "--out", str(out), "-q",
                                     "--set", "training.epochs=15"])
    assert done.exit_code == 0, done.output
    return out, done.output


def test_five_folds_on_iris_test_every_row_once_with_each_class_in_each_fold(iris_folds):
    out, said = iris_folds
    group = json.loads(next(out.glob("iris/groups/*/group.json")).read_text())
    assert group["kind"] == "folds" and group["folds"] == 5 and group["completed"] == 5
    assert [run["fold"] for run in group["runs"]] == [1, 2, 3, 4, 5] and {r["seed"] for r in group["runs"]} == {42}
    tested, everything = [], None
    for run in group["runs"]:
        data = load_data(read_pipeline(out / "iris" / run["stamp"] / "pipeline.yaml").pipeline.data, run["seed"])
        scale = [(c.mean, c.std) for c in data.preprocessing.columns]  # each fold standardizes by its own rows

        def rows(samples) -> list[tuple]:  # the raw measurements (cm, one decimal in the file)
            return [tuple(round(v * std + mean, 2) for v, (mean, std) in zip(x, scale))
                    for x in samples.x.numpy().tolist()]

        if everything is None:  # the table's 150 rows, whatever the fold: train + validation + test
            everything = Counter(rows(data.train) + rows(data.validation) + rows(data.test))
        assert len(data.test) == 30 and torch.bincount(data.test.y, minlength=3).tolist() == [10, 10, 10]
        assert torch.bincount(data.validation.y, minlength=3).tolist() == [10, 10, 10]  # carved from the rest
        tested += rows(data.test)
    assert sum(everything.values()) == 150 and Counter(tested) == everything  # each row in exactly one test fold
    accuracies = [float(line.split()[-3]) for line in said.splitlines() if line.startswith("[")]
    assert len(accuracies) == 5
    summed = re.search(r"test accuracy ([\d.]+) ± ([\d.]+)\s+\(mean ± 95 % interval over 5 folds\)", said)
    assert summed and float(summed.group(1)) == pytest.approx(np.mean(accuracies), abs=1e-3)
    assert group["metrics"]["accuracy"]["values"] == pytest.approx(accuracies, abs=1e-6)


def test_the_group_page_and_each_report_say_which_fold(iris_folds):
    out, _ = iris_folds
    folder = next(out.glob("iris/groups/*"))
    page = (folder / "report.html").read_text()
    assert "5-fold cross-validation" in page and "30, 30, 30, 30, 30 test samples" in page
    assert page.count('<th class="num">fold ') == 5
    group = json.loads((folder / "group.json").read_text())
    report = (out / "iris" / group["runs"][1]["stamp"] / "report.html").read_text()
    assert "<dt>fold</dt><dd>2 of 5 (K-fold cross-validation: this run tests on fold 2, 30 samples" in report


def test_runs_shows_the_folds_as_one_row_and_compare_pairs_the_same_folds(iris_folds, cli):
    out, _ = iris_folds
    listed = cli("runs", "--out", out)
    assert listed.exit_code == 0 and re.search(r"iris 5-fold \(\S+\)\s+\S+ \S+\s+folds\s+[\d.]+ s\s+balanced_accuracy|"
                                               r"iris 5-fold \(\S+\)\s+\S+ \S+\s+folds\s+[\d.]+ s\s+accuracy",
                                               listed.stdout), listed.stdout
    assert len(listed.stdout.splitlines()) == 1 + 1 + 2  # header, the group, a blank line and the count
    expanded = cli("runs", "--out", out, "--expand")
    assert sum(line.startswith("  iris/") for line in expanded.stdout.splitlines()) == 5
    other = cli("run", IRIS, "--folds", "5", "--out", out, "-q", "--set", "training.epochs=15",
                "--set", "model.layers.0.units=4")
    assert other.exit_code == 0, other.output
    ids = sorted(p.name for p in out.glob("iris/groups/*"))
    compared = cli("compare", *ids, "--out", out)
    assert compared.exit_code == 0, compared.output
    assert "(5 folds) against" in compared.stdout and "paired t = " in compared.stdout
    assert "over the same 5 folds (df 4)" in compared.stdout


def test_folds_stratify_a_classification_and_cut_a_regression_evenly():
    labels = np.array(["a"] * 13 + ["b"] * 7, dtype=object)
    seen = []
    for fold in (1, 2, 3, 4):
        train, validation, test = split_rows(20, SplitFractions(folds=4, fold=fold), np.random.default_rng(0), "t",
                                             labels=labels)
        assert sorted([*train, *validation, *test]) == list(range(20))
        assert Counter(labels[test])["b"] in (1, 2) and Counter(labels[test])["a"] in (3, 4)  # 7/4 and 13/4
        seen += list(test)
    assert sorted(seen) == list(range(20))
    sizes = [len(split_rows(200, SplitFractions(folds=3, fold=k), np.random.default_rng(1), "t")[2]) for k in (1, 2, 3)]
    assert sizes == [67, 67, 66]


def test_a_series_gets_expanding_windows_in_time_order():
    config = SeriesData(type="series", path="x.csv", column="v", window=3, horizon=2,
                        split=SplitFractions(train=0.6, validation=0.2, test=0.2, folds=4, fold=1))
    tests = []
    for fold in (1, 2, 3, 4):
        one = config.model_copy(update={"split": config.split.model_copy(update={"fold": fold})})
        (train_a, train_b), (val_a, val_b), (test_a, test_b) = cuts(one, 100)
        assert train_a == 0 and train_b + 1 <= val_a and val_b + 1 <= test_a  # gap = horizon - 1 between them
        assert val_b - val_a == round(0.25 * (test_a - 1 - 1))  # validation: a quarter of what came before
        tests.append((test_a, test_b))
    assert tests == [(20, 40), (40, 60), (60, 80), (80, 100)]  # 5 blocks of 20; the first only ever trains


def test_what_cannot_be_cut_into_folds_is_refused_before_anything_runs(cli, tmp_path, write_yaml):
    mnist = cli("run", ROOT / "pipelines" / "mnist.yaml", "--folds", "3", "--out", tmp_path)
    assert mnist.exit_code == 2 and "data.type mnist comes with its own test set" in mnist.stderr
    both = cli("run", IRIS, "--folds", "3", "--repeat", "2", "--out", tmp_path)
    assert both.exit_code == 2 and "--folds with --repeat" in both.stderr
    many = cli("run", IRIS, "--folds", "100", "--out", tmp_path)
    assert many.exit_code == 2 and "150 rows in 100 folds leave 1 test row(s) in a fold" in many.stderr
    assert "use at most 75 folds" in many.stderr and not list(tmp_path.glob("iris/2*"))  # no run was made
    (tmp_path / "s.csv").write_text("x,y,part\n" + "".join(f"{i},{i % 2},{'train' if i < 30 else 'test'}\n"
                                                            for i in range(40)))
    fixed = cli("run", write_yaml("name: s\ndata: {type: table, path: s.csv, target: y, split_column: part}\n"
                                  "model: {layers: [{type: linear, units: 2}]}\n"), "--folds", "3", "--out", tmp_path)
    assert fixed.exit_code == 2 and "split_column 'part' fixes the test rows" in fixed.stderr
    with pytest.raises(InvalidValue, match="fixes the test rows"):
        split_rows(10, SplitFractions(folds=2, fold=1), np.random.default_rng(0), "t", np.array(["train"] * 10), "p")


def test_the_python_api_cross_validates_a_synthetic_function(tmp_path, write_yaml):
    group = dlpipe.run(write_yaml(TINY_SINE), out=tmp_path, quiet=True, folds=3)
    assert [run.status for run in group.runs] == ["completed"] * 3 and group.kind == "folds"
    values = [run.metrics["test_loss"] for run in group.runs]
    assert group.metrics["test_loss"] == pytest.approx(np.mean(values))
    mean, half = group.intervals["test_loss"]
    assert mean == pytest.approx(np.mean(values)) and half > 0 and group.report_path.is_file()
    sizes = [json.loads((run.path / "metrics.json").read_text())["data"]["sizes"]["test"] for run in group.runs]
    assert sizes == [67, 67, 66]  # the 200 samples, each tested once
    assert Path(group.path).parent.name == "groups"


def test_the_guides_python_example_runs(tmp_path, monkeypatch):
    """docs/guide/cross-validation.md's Python block, run as written (from a copy of the repository's pipelines)."""
    import shutil

    guide = (ROOT / "docs/guide/cross-validation.md").read_text()
    block = re.search(r"<!-- tests/test_folds.py runs this block -->\n```python\n(.*?)```", guide, re.S).group(1)
    shutil.copytree(ROOT / "pipelines", tmp_path / "pipelines")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "cross-validation.md", "exec"), namespace)  # noqa: S102 - the docs' own example
    group = namespace["group"]
    assert len(group.runs) == 3 and group.intervals["test_accuracy"][0] > 0.8
    assert (tmp_path / "reports" / "iris" / "groups").is_dir()
