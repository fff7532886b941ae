"""The baselines every run is set against (engine/baselines.py) and the verdict's sentence about them
(report/baselines.py): each one's numbers, their sparse path, and real runs."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.engine import baselines
from dlpipe.language.metrics import MAE, R2, Accuracy
from dlpipe.report.baselines import comparison

from conftest import ROOT


def dataset(x, y, task: str, classes: int = 1, forecast=None, vocabulary=None) -> Dataset:
    n = len(x) * 7 // 10
    train, test = Samples(x[:n], y[:n]), Samples(x[n:], y[n:])
    return Dataset(DataInfo(task, tuple(x.shape[1:]), classes, vocabulary=vocabulary), train, test, test,
                   forecast=forecast)


def made(kind: str, rng: np.random.Generator) -> tuple[Dataset, nn.Module, list]:
    """A small data set of each kind whose best baseline is known: exactly linear, separable, or a lagged series."""
    if kind == "regression":
        x = torch.from_numpy(rng.normal(size=(400, 5)).astype(np.float32))
        return dataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0], [3.0]]) + 0.7, kind), nn.MSELoss(), \
            [R2(type="r2")]
    if kind == "classification":
        x = torch.from_numpy(rng.normal(size=(400, 4)).astype(np.float32))
        return dataset(x, (x[:, 0] - x[:, 1] > 0).long(), kind, 2), nn.CrossEntropyLoss(), [Accuracy(type="accuracy")]
    values = torch.from_numpy(np.sin(np.arange(300) / 3.0).astype(np.float32))
    x = torch.stack([values[i:i + 6] for i in range(293)])[:, :, None]
    data = dataset(x, values[7:300, None], "regression", forecast={"naive": None})
    return data, nn.MSELoss(), [MAE(type="mae")]


@pytest.mark.parametrize("kind", list(baselines.BASELINES))
def test_every_baseline_of_every_kind_fits_and_the_best_one_is_nearly_perfect(kind):
    data, loss, metrics = made(kind, np.random.default_rng(0))
    outcome = baselines.run_baselines(data, loss, metrics)  # (no table: the trees are a baseline of tables)
    assert set(outcome.metrics) == {n for n, b in baselines.BASELINES[kind].items() if not b.extra}
    assert not outcome.notes
    for scored in outcome.metrics.values():
        assert set(scored) == {"loss", metrics[0].key} and all(np.isfinite(v) for v in scored.values())
    best = {"regression": ("linear", "r2", 0.999), "classification": ("logistic", "accuracy", 0.97),
            "series": ("linear", "mae", None)}[kind]
    name, key, floor = best
    if floor is not None:
        assert outcome.metrics[name][key] >= floor
    else:  # a sine is a linear recurrence: autoregression on 6 values forecasts it almost exactly; naive does not
        assert outcome.metrics["linear"]["mae"] < 1.0e-3 < outcome.metrics["naive"]["mae"]


def test_the_trivial_baselines_predict_the_training_mean_and_the_majority_class():
    rng = np.random.default_rng(1)
    data, loss, _ = made("regression", rng)
    model = baselines._mean(data.train.x, data.train.y, 0)
    assert torch.allclose(model(data.test.x[:3]), data.train.y.mean().expand(3, 1))
    y = torch.tensor([0, 2, 2, 1, 2])
    scores = baselines._majority(None, y, 3)(torch.zeros(4, 1))
    assert scores.argmax(dim=1).tolist() == [2] * 4
    assert torch.allclose(scores.softmax(dim=1)[0], torch.tensor([0.2, 0.2, 0.6]))  # the prior: its loss is honest


def test_least_squares_matches_numpy_and_takes_its_dual_form_when_features_outnumber_rows():
    rng = np.random.default_rng(2)
    for rows, features in ((200, 10), (30, 80)):
        x = rng.normal(size=(rows, features)).astype(np.float32)
        y = (x @ rng.normal(size=(features, 1)) + 2.0).astype(np.float32)
        got = baselines._least_squares(torch.from_numpy(x), torch.from_numpy(y), 0)(torch.from_numpy(x)).numpy()
        assert np.allclose(got, y, atol=0.05 * np.abs(y).max())


def test_word_counts_take_the_sparse_path_and_agree_with_the_dense_one():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(((rng.random((300, 500)) < 0.02) * rng.integers(1, 4, (300, 500))).astype(np.float32))
    y = (x[:, :10].sum(dim=1) > x[:, 10:20].sum(dim=1)).long()
    assert baselines._sparse(x) is not None and baselines._sparse(x + 1) is None
    sparse = baselines._logistic(x, y, 2)(x).argmax(dim=1)
    baselines_sparse, baselines.SPARSE = baselines.SPARSE, 0.0  # the dense path on the same data
    try:
        dense = baselines._logistic(x, y, 2)(x).argmax(dim=1)
    finally:
        baselines.SPARSE = baselines_sparse
    assert (sparse == y).float().mean() >= 0.95 and (sparse == dense).float().mean() >= 0.97


def test_token_ids_become_a_bag_of_words_without_the_padding():
    ids = torch.tensor([[5, 5, 3, 0, 0], [0, 0, 0, 0, 0]])
    counts = baselines._features(ids, 7).to_dense()
    assert counts.tolist() == [[0, 0, 0, 1, 0, 2, 0], [0] * 7]


def test_a_wide_text_table_keeps_its_baselines_the_majority_always_and_the_sparse_logistic_fit(monkeypatch):
    # 3,800 messages of 200 token ids over a 20,000-word vocabulary: 76 M cells dense, 0.8 M stored.
    rng = np.random.default_rng(4)
    y = torch.from_numpy(rng.integers(0, 2, 3800))
    ids = torch.from_numpy(rng.integers(1, 20_000, (3800, 200)))
    ids[:, :20] = (1 + y)[:, None]  # one word, said 20 times, tells the class
    loss, metrics = nn.CrossEntropyLoss(), [Accuracy(type="accuracy")]
    outcome = baselines.run_baselines(dataset(ids, y, "classification", 2, vocabulary=20_000), loss, metrics)
    assert set(outcome.metrics) == {"majority", "logistic"}, outcome.notes
    assert outcome.metrics["logistic"]["accuracy"] > 0.9
    wide = torch.from_numpy(rng.normal(size=(3800, 200)).astype(np.float32))  # dense: 760,000 cells ...
    monkeypatch.setattr(baselines, "FIT_CELLS", 500_000)  # ... over the limit (as 20,000 dense columns are)
    outcome = baselines.run_baselines(dataset(wide, y, "classification", 2), loss, metrics)
    assert set(outcome.metrics) == {"majority"} and "logistic regression: not fitted" in outcome.notes[-1]


@pytest.mark.parametrize("test, stands, words", [
    ({"r2": 0.991}, "beats", "the network's test R^2 0.991 beats least squares (0.98) and the training mean (0)"),
    ({"r2": 0.9805}, "as good", "least squares is as good (test R^2 0.98, the network's 0.9805): a deeper network is"),
    ({"r2": 0.90}, "worse", "least squares does better (test R^2 0.98 against the network's 0.9)"),
])
def test_the_sentence_compares_the_network_with_the_best_baseline(test, stands, words):
    said = comparison("regression", test, {"mean": {"r2": 0.0}, "linear": {"r2": 0.98}})
    assert said[0] == stands and said[1].startswith(words), said


def test_an_accuracy_difference_within_the_test_sets_noise_is_as_good():
    scored = {"majority": {"accuracy": 0.84}, "logistic": {"accuracy": 0.9877}}
    assert comparison("classification", {"accuracy": 0.9897}, scored, 487)[0] == "as good"  # one message more
    assert comparison("classification", {"accuracy": 0.9897}, scored, 100_000)[0] == "beats"
    assert comparison("classification", {"accuracy": 0.95}, scored, 487)[0] == "worse"


@pytest.mark.parametrize("name, stands", [("sine", "beats"), ("iris", "as good"), ("spam", "as good")])
def test_shipped_pipelines_record_their_baselines_and_the_verdict_says_where_they_stand(cli, tmp_path, name, stands):
    """sine: a network fits what a line cannot; iris and spam (tf-idf): logistic regression does as well."""
    import os

    if name == "spam" and not (ROOT.parent / "shared" / "data" / "spamassassin").is_dir() and \
            "DLPIPE_DATA" not in os.environ:
        pytest.skip("the SpamAssassin corpus is not on this machine")
    result = cli("run", ROOT / "pipelines" / f"{name}.yaml", "--out", tmp_path, "-q",
                 *(["--set", "training.epochs=60"] if name == "sine" else []))
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob(f"{name}/*/metrics.json")).read_text())
    expected = {"sine": {"mean", "linear"}, "iris": {"majority", "logistic", "trees"},
                "spam": {"majority", "logistic"}}  # (spam's tf-idf inputs are too wide for trees)
    assert set(record["baselines"]) == expected[name]
    advice = record["verdict"]["advice"]
    assert ("beats least squares" in advice) if stands == "beats" else \
        (record["verdict"]["kind"] == "as good as a baseline" and "logistic regression is as good" in advice)
    html = next(tmp_path.glob(f"{name}/*/report.html")).read_text()
    assert "Baselines, fitted on the same training split" in html


def test_on_a_table_the_trees_are_a_baseline_and_the_verdict_names_them_when_they_win(cli, tmp_path, monkeypatch):
    """label = a xor b (signs): no line separates it, a few trees do."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 600))
    (tmp_path / "xor.csv").write_text("a,b,label\n" + "".join(f"{x:.3f},{y:.3f},{'yes' if x * y > 0 else 'no'}\n"
                                                              for x, y in zip(a, b)))
    (tmp_path / "xor.yaml").write_text("""\
name: xor
data: {type: table, path: xor.csv, target: label}
model: {layers: [{type: linear, units: 2}]}
loss: cross_entropy
optimizer: {type: adam, lr: 1.0e-2}
training: {epochs: 5}
metrics: [accuracy]
""")
    assert cli("run", tmp_path / "xor.yaml", "--out", tmp_path / "out", "-q").exit_code == 0
    record = json.loads(next(tmp_path.glob("out/xor/*/metrics.json")).read_text())
    assert record["baselines"]["trees"]["accuracy"] > 0.9 > record["baselines"]["logistic"]["accuracy"] + 0.2
    assert "gradient-boosted trees does better (test accuracy" in record["verdict"]["advice"]
    monkeypatch.delitem(sys.modules, "sklearn.ensemble")  # not imported yet: a 5-epoch run cannot pay for it
    assert cli("run", tmp_path / "xor.yaml", "--out", tmp_path / "quick", "-q").exit_code == 0
    quick = json.loads(next(tmp_path.glob("quick/xor/*/metrics.json")).read_text())
    assert "trees" not in quick["baselines"] and "importing scikit-learn alone takes about 1.3 s" in \
        quick["data"]["baselines"]["notes"][0]
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # scikit-learn not installed
    assert cli("run", tmp_path / "xor.yaml", "--out", tmp_path / "bare", "-q").exit_code == 0
    bare = json.loads(next(tmp_path.glob("bare/xor/*/metrics.json")).read_text())
    assert "trees" not in bare["baselines"] and "gradient-boosted trees: not fitted (pip install 'dlpipe[trees]' " \
        "adds them)" in bare["data"]["baselines"]["notes"]
