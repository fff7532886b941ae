"""What the model does: calibration of a classifier's probabilities (report/calibration.py) and the permutation
importance of a table's columns (report/importance.py), on numbers whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from dlpipe.report.calibration import calibration, sentence


def drawn(n: int, shrink: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-class probabilities p, and labels that come true with probability shrink * (p - 0.5) + 0.5."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, n)
    truth = rng.uniform(0.0, 1.0, n) < shrink * (p - 0.5) + 0.5
    return np.stack([1 - p, p], axis=1), truth.astype(int)


def test_a_perfectly_calibrated_classifier_has_an_ece_near_zero_and_is_taken_at_face_value():
    found = calibration(*drawn(20_000, 1.0))
    assert found["ece"] < 0.015 and abs(found["over"]) < 0.01
    assert sum(b["count"] for b in found["bins"]) == 20_000 and len(found["bins"]) == 5  # confidence >= 0.5
    assert "taken at face value" in sentence(found)


def test_an_overconfident_classifier_is_said_to_be_and_by_how_much():
    found = calibration(*drawn(20_000, 0.5))  # right only half as far from a coin flip as it claims
    assert 0.1 < found["ece"] < 0.15 and found["over"] == pytest.approx(found["ece"], abs=0.01)
    assert "overconfident" in sentence(found) and "temperature scaling" in sentence(found)
    assert calibration(*drawn(10, 1.0)) is None  # too few samples to say


def test_the_sentence_weighs_bins_by_their_samples_and_names_the_thin_ones():
    """950 samples at 0.97 that are right as often as that; 12 between 0.55 and 0.8 that are right far more often
    (the case a user saw: a low ECE, and points well above the diagonal); 38 at 0.92."""
    rng = np.random.default_rng(0)
    given = np.concatenate([np.full(950, 0.97), np.linspace(0.55, 0.8, 12), np.full(38, 0.92)])
    right = np.concatenate([np.full(950, 0.97), np.linspace(0.72, 0.85, 12), np.full(38, 0.92)])
    truth = (rng.uniform(size=1000) < right).astype(int)
    found = calibration(np.stack([1 - given, given], axis=1), truth)
    said = sentence(found)
    assert found["ece"] < 0.02 and "face value" in said and "1,000 test samples" in said
    assert "the largest gap of a bin with at least 30 samples: 0.9-1.0" in said and "within its noise" in said
    assert "4 bins between 0.5 and 0.9 hold 12 of the samples, too few to read" in said
    overconfident = sentence(calibration(*drawn(20_000, 0.5)))
    assert "0.9-1.0" in overconfident and "beyond its noise" in overconfident


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """y = 3a - 2b + noise; c is noise the target does not depend on; d is a category that shifts y."""
    from click.testing import CliRunner

    from dlpipe.cli import main

    folder = tmp_path_factory.mktemp("importance")
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 800))
    d = rng.choice(["low", "high"], 800)
    y = 3 * a - 2 * b + np.where(d == "high", 1.5, 0.0) + rng.normal(scale=0.1, size=800)
    rows = "".join(f"{a_:.4f},{b_:.4f},{c_:.4f},{d_},{y_:.4f}\n" for a_, b_, c_, d_, y_ in zip(a, b, c, d, y))
    (folder / "t.csv").write_text("a,b,c,d,y\n" + rows)
    (folder / "t.yaml").write_text(yaml.safe_dump({
        "name": "importance", "seed": 0, "data": {"type": "csv", "path": "t.csv", "target": "y"},
        "model": {"layers": [{"type": "linear", "units": 16, "activation": "relu"}, {"type": "linear", "units": 1}]},
        "loss": "mse", "optimizer": {"type": "adam", "lr": 1.0e-2}, "training": {"epochs": 40},
        "metrics": ["r2"]}))
    result = CliRunner().invoke(main, ["run", str(folder / "t.yaml"), "--out", str(folder / "out"), "-q"])
    assert result.exit_code == 0, result.output
    return next(folder.glob("out/importance/*"))


def test_a_column_the_target_does_not_depend_on_has_importance_near_zero(table_run):
    found = json.loads((table_run / "metrics.json").read_text())["importance"]
    drops = {row["column"]: row["drop"] for row in found["columns"]}
    assert found["metric"] == "r2" and [row["column"] for row in found["columns"]][:2] == ["a", "b"]
    assert drops["a"] > drops["b"] > drops["d"] > 0.05  # by how much each moves y: 3, 2, then 1.5 for half the rows
    assert abs(drops["c"]) < 0.01  # noise: shuffling it changes nothing
    html = (table_run / "report.html").read_text()
    assert "Which columns the model relies on (test)" in html and "Correlated columns share credit" in html
    assert "calibration" not in json.loads((table_run / "metrics.json").read_text())  # (a regression)


def test_a_classifier_run_records_its_calibration(cli, tmp_path):
    from conftest import ROOT

    result = cli("run", ROOT / "pipelines" / "breast_cancer.yaml", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob("breast_cancer/*/metrics.json")).read_text())
    found = record["calibration"]
    assert 0 <= found["ece"] < 0.1 and sum(b["count"] for b in found["bins"]) == found["samples"] == 114
    assert len(record["importance"]["columns"]) == 30  # and each of its 30 columns has an importance
    assert "Reliability (test, ECE" in next(tmp_path.glob("breast_cancer/*/report.html")).read_text()


def test_saliency_is_the_gradient_of_the_chosen_class_and_leaves_the_weights_alone():
    """A linear model over 1x4x4 images that reads only the left half: its map is dark there and white elsewhere."""
    import torch
    from torch import nn

    from dlpipe.report.insights import saliency

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight.view(2, 4, 4)[1, :, :2] = torch.tensor([[1.0, -2.0]] * 4)  # class 1: the left two columns
    model.train()
    maps = saliency(model, torch.randn(3, 1, 4, 4), torch.tensor([1, 1, 0]))
    assert maps[0].shape == (4, 4) and maps[0].dtype == np.uint8
    assert (maps[0][:, 2:] == 255).all() and (maps[0][:, 1] == 0).all() and (maps[0][:, 0] < 255).all()
    assert (maps[2] == 255).all()  # class 0 reads nothing: no pixel moves its score
    assert model.training and model[1].weight.grad is None
