"""Rare classes (issue 36, first part): the imbalance said, metrics the majority class cannot win, the baselines
compared on them, and class weights and balanced sampling, on a real imbalanced table (pipelines/default.yaml:
ISLR's credit card default, 3.3 % Yes)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from dlpipe.data.targets import imbalance
from dlpipe.engine.metrics import ClassificationView, average_precision, balanced_accuracy, roc_auc
from dlpipe.language.metrics import headline

from conftest import ROOT

DEFAULT = ROOT / "pipelines" / "default.yaml"


# --- the metrics, on cases worked by hand ---------------------------------------------------------------------------

def test_roc_auc_and_average_precision_on_the_textbook_case():
    scores, positive = torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([False, False, True, True])
    assert roc_auc(scores, positive) == pytest.approx(0.75)  # 3 of the 4 positive-negative pairs ranked right
    assert average_precision(scores, positive) == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each hit
    tied = torch.tensor([0.5, 0.5, 0.5, 0.5])
    assert roc_auc(tied, positive) == pytest.approx(0.5)  # ties count a half
    assert average_precision(tied, positive) == pytest.approx(0.5)  # one threshold: precision 2/4 at recall 1


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    logits = torch.eye(3)[[0, 0, 0, 1, 0, 1]] * 5  # predicts 0, 0, 0, 1, 0, 1
    view = ClassificationView(logits, torch.tensor([0, 0, 0, 1, 1, 1]))  # class 2 absent from this split
    assert balanced_accuracy(view) == pytest.approx((1.0 + 2 / 3) / 2)  # not divided by 3 for the absent class
    majority = ClassificationView(torch.tensor([[5.0, 0.0]] * 30), torch.tensor([0] * 29 + [1]))
    assert balanced_accuracy(majority) == 0.5 and majority.one_vs_rest(roc_auc, rarest=False) == 0.5
    assert majority.one_vs_rest(average_precision, rarest=True) == pytest.approx(1 / 30)  # chance: the share
    assert math.isnan(ClassificationView(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)).one_vs_rest(
        roc_auc, rarest=False))  # one class only: no ranking to measure


@pytest.mark.parametrize("counts, found", [
    ([9667, 333], ("Yes", 0.0333)), ([85, 15], ("Yes", 0.15)), ([50, 50], None), ([70, 30], None),
    ([40, 40, 9], ("c", 0.1011)),
    ([1100] * 9 + [900], None),  # ten digits, 9 % the rarest: an even share, not a rare class (MNIST was flagged)
    ([1100] * 9 + [330], ("j", 0.0323)),  # 3 %: under 0.4 of an even tenth
])
def test_imbalance_is_a_rare_class_under_a_fifth_or_four_times_rarer(counts, found):
    labels = torch.cat([torch.full((n,), i) for i, n in enumerate(counts)]).numpy()
    got = imbalance(labels, ("No", "Yes") if len(counts) == 2 else tuple("abcdefghij"[:len(counts)]))
    assert (got is None) if found is None else (got["minority"], round(got["share"], 4)) == found


def test_the_headline_of_an_imbalanced_run_is_one_the_majority_cannot_win():
    test = {"loss": 0.08, "accuracy": 0.973, "f1": 0.69, "balanced_accuracy": 0.63}
    assert headline("classification", test)["name"] == "accuracy"
    assert headline("classification", test, imbalanced=True)["name"] == "balanced_accuracy"
    assert headline("classification", {"loss": 0.1, "accuracy": 0.9, "f1": 0.6}, True)["name"] == "f1"


# --- on the credit default table -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The shipped pipeline plain, with balanced class weights and with balanced sampling: (record, what the run
    printed, its directory) each."""
    from click.testing import CliRunner

    from dlpipe.cli import main

    out, made = tmp_path_factory.mktemp("rare"), {}
    for name, settings in {"plain": [], "weights": ["loss.class_weights=balanced"],
                           "sampling": ["training.sampling=balanced"]}.items():
        done = CliRunner().invoke(main, ["run", str(DEFAULT), "--out", str(out / name),
                                         *(arg for s in settings for arg in ("--set", s))])
        assert done.exit_code == 0, done.output
        run = next((out / name).glob("*/*/metrics.json")).parent
        made[name] = (json.loads((run / "metrics.json").read_text()), done.output, run)
    return made


def rare(record: dict) -> dict:
    return next(row for row in record["per_class"] if row["name"] == "Yes")


def test_the_imbalance_is_said_and_the_run_judged_on_balanced_accuracy(runs):
    record, said, _ = runs["plain"]
    assert record["data"]["imbalance"]["minority"] == "Yes"
    note = ("imbalanced: 3.3% of the training rows are 'Yes'; always answering 'No' scores accuracy 0.967, so "
            "accuracy says little here")
    assert note in said and note in record["data"]["notes"][0]
    assert f"test 'Yes' (the rare class, 50 rows): precision" in said  # beside the macro figures
    assert record["headline"]["name"] == "balanced_accuracy"
    assert "balanced accuracy" in record["verdict"]["advice"] and "test accuracy" not in record["verdict"]["advice"]
    assert "the classes are imbalanced, and always answering the majority would win on accuracy" in \
        record["verdict"]["advice"]
    assert record["baselines"]["majority"]["balanced_accuracy"] == 0.5 and record["baselines"]["majority"]["auc"] == 0.5


def test_class_weights_and_balanced_sampling_find_the_rare_class(runs):
    plain, weights, sampling = (runs[name][0] for name in ("plain", "weights", "sampling"))
    assert rare(plain)["recall"] < 0.35  # 0.26: the plain network misses most defaulters
    assert rare(weights)["recall"] >= rare(plain)["recall"] + 0.4  # 0.82
    assert rare(sampling)["recall"] >= rare(plain)["recall"] + 0.4  # 0.86
    for record in (weights, sampling):
        assert record["test"]["balanced_accuracy"] >= plain["test"]["balanced_accuracy"] + 0.15
        assert record["verdict"]["kind"] != "worse than a baseline"
        assert rare(record)["precision"] < rare(plain)["precision"]  # what finding them costs
    assert "class weights (balanced) in the training loss: No 0.517, Yes 15.2" in runs["weights"][1]
    assert "balanced sampling: each epoch draws the training rows" in runs["sampling"][1]
    assert any("shift the predicted probabilities" in note for note in weights["data"]["notes"])


def test_a_weight_for_a_class_the_data_lacks_and_balanced_sampling_of_a_regression_are_refused(cli, tmp_path):
    done = cli("validate", DEFAULT, "--set", "loss.class_weights={Maybe: 3.0}")
    assert done.exit_code == 2 and "loss.class_weights.Maybe: no class 'Maybe' in the data (its classes: No, Yes)" \
        in done.stderr, done.output
    negative = cli("validate", DEFAULT, "--set", "loss.class_weights={'Yes': -1.0}")
    assert negative.exit_code == 2 and "every weight is a positive number" in negative.stderr
    unquoted = cli("validate", DEFAULT, "--set", "loss.class_weights={Yes: 6.0}")  # YAML: Yes is true
    assert unquoted.exit_code == 2 and "a class name was read as true or false" in unquoted.stderr
    given = cli("validate", DEFAULT, "--set", "loss.class_weights={'Yes': 6.0}")
    assert given.exit_code == 0, given.output
    regression = cli("validate", ROOT / "pipelines" / "diabetes.yaml", "--set", "training.sampling=balanced")
    assert regression.exit_code == 2 and "training.sampling: balanced sampling draws each class" in regression.stderr


# --- sweeps: the headline as the objective, and no pruning before a trial could be judged ---------------------------

@pytest.mark.parametrize("named, expected", [
    ("metrics: [accuracy, balanced_accuracy, auc]", "val_balanced_accuracy"),
    ("metrics: [f1, accuracy]", "val_accuracy"), ("", "val_accuracy"), ("metrics: [f1]", "val_f1"),
])
def test_a_sweep_optimises_the_headline_metric_unless_told(write_yaml, named, expected):
    from dlpipe.data.sources import read_pipeline

    path = write_yaml(f"""
        name: s
        data: {{type: table, path: {ROOT / "pipelines" / "data" / "iris.csv"}, target: species, task: classification}}
        model: {{layers: [{{type: linear, units: 3}}]}}
        {named}
        sweep: {{parameters: {{optimizer.lr: {{choice: [0.01, 0.1]}}}}}}
        """)
    assert read_pipeline(path).pipeline.sweep.metric == expected


def test_pruning_waits_for_the_third_epoch_or_a_fifth_of_them():
    from dlpipe.sweep.search import pruner, warm_up

    class Always:  # an Optuna trial whose pruner would stop it at once
        def report(self, value, step):
            pass

        def should_prune(self):
            return True

    class State:
        def __init__(self, epoch):
            self.epoch, self.history = epoch, {"val_f1": [0.46] * epoch}

    assert [warm_up(e) for e in (5, 10, 15, 16, 30, 100)] == [3, 3, 3, 4, 6, 20]
    ask = pruner(Always(), "val_f1", prune=True, epochs=30)
    assert [ask(State(epoch)) is None for epoch in range(1, 8)] == [True] * 5 + [False, False]


# --- a decision threshold --------------------------------------------------------------------------------------------

def test_a_threshold_chosen_on_validation_is_saved_and_applied_everywhere(cli, tmp_path, runs):
    import numpy as np

    import dlpipe
    from dlpipe.trained.export import export_run

    done = cli("run", DEFAULT, "--out", tmp_path, "-q", "--set", "threshold=auto")
    assert done.exit_code == 0, done.output
    run = next(tmp_path.glob("default/*/model.pt")).parent
    record, plain = json.loads((run / "metrics.json").read_text()), runs["plain"][0]
    chosen = record["data"]["threshold"]
    assert chosen["class"] == "Yes" and chosen["how"] == "auto" and chosen["metric"] == "balanced_accuracy"
    assert 0.01 <= chosen["value"] < 0.5 and len(chosen["curve"]) == 99
    assert record["test"]["balanced_accuracy"] >= plain["test"]["balanced_accuracy"] + 0.1  # 0.629 -> 0.815
    assert record["test"]["auc"] == pytest.approx(plain["test"]["auc"])  # the probabilities do not change
    saved = json.loads((run / "preprocessing.json").read_text())
    assert (saved["threshold"], saved["positive"]) == (chosen["value"], "Yes")
    assert "Decision threshold (validation)" in (run / "report.html").read_text()
    assert cli("evaluate", run).exit_code == 0  # its own test split, at its threshold: the run's own figures
    evaluated = json.loads(next((run / "evaluations").glob("*/metrics.json")).read_text())["metrics"]
    assert evaluated["balanced_accuracy"] == pytest.approx(record["test"]["balanced_accuracy"], abs=1e-9)
    model = dlpipe.load(run)
    rows = {"student": ["No"] * 4, "balance": [500.0, 1400.0, 1700.0, 2200.0], "income": [40000.0] * 4}
    chance = model.predict_proba(rows)[:, model.classes.index("Yes")]
    assert list(model.predict(rows)) == ["Yes" if p >= chosen["value"] else "No" for p in chance]
    table = tmp_path / "rows.csv"
    table.write_text("student,balance,income\n" + "".join(f"No,{b},40000\n" for b in rows["balance"]))
    predicted = cli("predict", run, table)
    assert [line.split(",")[1] for line in predicted.stdout.splitlines()[1:]] == list(model.predict(rows))
    _, beside, _ = export_run(model, "safetensors", tmp_path / "m.safetensors")
    described = json.loads(beside.read_text())
    assert described["threshold"] == chosen["value"] and "where its probability is at least" in \
        described["export"]["output"]["meaning"]
    assert np.isfinite(chance).all()


def test_a_threshold_is_for_two_classes(cli):
    done = cli("validate", ROOT / "pipelines" / "iris.yaml", "--set", "threshold=auto")
    assert done.exit_code == 2 and "threshold: a decision threshold is for two classes" in done.stderr
    assert "gives 3 classes" in done.stderr
    bad = cli("validate", DEFAULT, "--set", "threshold=1.5")
    assert bad.exit_code == 2 and "threshold" in bad.stderr


def test_the_headline_of_imbalanced_classes_beyond_two_is_macro_f1():
    test = {"loss": 0.3, "accuracy": 0.9, "f1": 0.6, "balanced_accuracy": 0.7}
    assert headline("classification", test, imbalanced=True, classes=3)["name"] == "f1"
    assert headline("classification", test, imbalanced=True, classes=2)["name"] == "balanced_accuracy"


def test_an_exported_classifier_gives_probabilities_and_says_its_threshold(runs, tmp_path):
    import numpy as np

    import dlpipe
    from dlpipe.trained.export import FORMATS, export_run

    model = dlpipe.load(runs["plain"][2])
    path, beside, _ = export_run(model, "onnx", tmp_path / "m.onnx")
    x = np.array([[1.0, 0.0, 1500.0, 30000.0], [0.0, 1.0, 300.0, 20000.0]], dtype=np.float32)
    got = FORMATS["onnx"].run(model, path.read_bytes(), torch.from_numpy(x))
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5) and (got >= 0).all()  # probabilities, not logits
    assert "probabilities, one per class" in json.loads(beside.read_text())["export"]["output"]["meaning"]


def test_a_pipeline_names_its_own_headline(cli, tmp_path, write_yaml):
    from dlpipe.data.sources import read_pipeline

    done = cli("run", DEFAULT, "--out", tmp_path, "-q", "--set", "headline=f1", "--set", "training.epochs=5")
    assert done.exit_code == 0, done.output
    record = json.loads(next(tmp_path.glob("default/*/metrics.json")).read_text())
    assert record["headline"]["name"] == "f1" and "test F1" in record["verdict"]["advice"]
    refused = cli("validate", DEFAULT, "--set", "headline=top5_accuracy")
    assert refused.exit_code == 2 and "headline: 'top5_accuracy' is not one of this pipeline's metrics" in \
        refused.stderr
    path = write_yaml(f"""
        name: s
        data: {{type: table, path: {ROOT / "pipelines" / "data" / "iris.csv"}, target: species, task: classification}}
        model: {{layers: [{{type: linear, units: 3}}]}}
        metrics: [accuracy, f1]
        headline: f1
        sweep: {{parameters: {{optimizer.lr: {{choice: [0.01, 0.1]}}}}}}
        """)
    assert read_pipeline(path).pipeline.sweep.metric == "val_f1"


def test_macro_averages_count_only_the_classes_of_the_split():
    """Issue 37: perfect answers on a split holding two of three classes score 1, as scikit-learn's macro
    average (the class neither held nor predicted is not a 0); a class predicted but never held still counts."""
    from dlpipe.engine.metrics import macro

    perfect = ClassificationView(torch.eye(3)[[0, 0, 1, 1]] * 5, torch.tensor([0, 0, 1, 1]))
    assert [macro(perfect, s) for s in ("precision", "recall", "f1")] == [1.0, 1.0, 1.0]
    wrong = ClassificationView(torch.eye(3)[[0, 2, 1, 1]] * 5, torch.tensor([0, 0, 1, 1]))  # class 2 said once
    assert macro(wrong, "recall") == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert macro(wrong, "precision") == pytest.approx((1.0 + 1.0 + 0.0) / 3)
