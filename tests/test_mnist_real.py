"""Real MNIST, small subsets: the shipped pipelines learn (full runs are benchmarks, not tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT

DATA = Path(os.environ.get("DLPIPE_DATA", ROOT.parent / "shared" / "data"))
needs_mnist = pytest.mark.skipif(not (DATA / "mnist" / "train-images-idx3-ubyte.gz").exists(),
                                 reason="MNIST files not found; set DLPIPE_DATA (CI sets ../shared/data)")


@pytest.fixture
def real_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DLPIPE_DATA", str(DATA))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a missing file must not fall through to ~


@needs_mnist
@pytest.mark.parametrize("pipeline, epochs, floor", [("mnist.yaml", 3, 0.85), ("mnist_cnn.yaml", 3, 0.85)])
def test_shipped_pipeline_learns_on_a_subset(cli, real_data, tmp_path, pipeline, epochs, floor):
    result = cli("run", ROOT / "pipelines" / pipeline, "--out", tmp_path / "out", "-q", "--set", "data.limit=1000",
                 "--set", "data.validation=1000", "--set", f"training.epochs={epochs}")
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "out").glob("*/*/"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= floor  # 1,000 training images, official 10,000-image test set
    assert sum(map(sum, metrics["confusion_matrix"])) == 10_000
    html = (run_dir / "report.html").read_text()
    assert "Misclassified test images" in html and "predicted as" in html


@needs_mnist
def test_real_files_verify_and_load(real_data):
    from dlpipe.language.data import MNISTData
    from dlpipe.data.sources import load_data
    from dlpipe.data.download import locate
    from dlpipe.data.idx import MNIST

    files = locate(MNIST, None, allow_download=False)
    assert all(DATA in p.parents for p in files.values())  # found read-only in DLPIPE_DATA, nothing copied
    data = load_data(MNISTData(type="mnist", download=False), 0)
    assert (len(data.train), len(data.validation), len(data.test)) == (55_000, 5_000, 10_000)
    assert data.test.y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@needs_mnist
def test_mnist_fast_reaches_98_percent_in_one_epoch_and_says_when(cli, real_data, tmp_path):
    """The whole recipe as shipped (60,000 images, one epoch): the accuracy its comments promise."""
    result = cli("run", ROOT / "pipelines" / "mnist_fast.yaml", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads(next(tmp_path.glob("mnist_fast/*/metrics.json")).read_text())
    assert metrics["test"]["accuracy"] >= 0.98 and metrics["epochs_run"] == 1
    assert metrics["targets"][0]["key"] == "val_accuracy" and metrics["targets"][0]["epoch"] == 1
    assert "target: val_accuracy ≥ 0.98: epoch 1" in result.output
