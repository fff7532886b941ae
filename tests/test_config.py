"""The pipeline language: every shipped example validates; defaults, shorthands and strictness."""

from __future__ import annotations

import pydantic
import pytest

from dlpipe.language.data import SineData
from dlpipe.data.sources import read_pipeline
from dlpipe.language.metrics import MAE, MSE, R2, RMSE
from dlpipe.language.optim import Adam, MSELoss
from dlpipe.language.pipeline import Training, pipeline_model
from dlpipe.model.checks import check_pipeline

Pipeline = pipeline_model()

from conftest import PIPELINES

MINIMAL = {"data": {"type": "sine"}, "model": {"layers": [{"type": "linear", "units": 1}]}}


@pytest.mark.parametrize("path", PIPELINES, ids=[p.name for p in PIPELINES])
def test_every_example_pipeline_validates_and_builds(path):
    loaded = read_pipeline(path)
    summary = check_pipeline(loaded).summary
    assert loaded.pipeline.name == path.stem
    assert summary.total_params > 0
    assert path.read_text().startswith("# yaml-language-server: $schema=../schemas/pipeline.schema.json")


def test_only_data_and_layers_are_required():
    pipeline = Pipeline.model_validate(MINIMAL)
    assert isinstance(pipeline.data, SineData)
    assert pipeline.loss == MSELoss(type="mse")
    assert pipeline.optimizer == Adam(type="adam")
    assert pipeline.metrics == [MSE(type="mse"), RMSE(type="rmse"), MAE(type="mae"), R2(type="r2")]
    assert pipeline.training == Training() and pipeline.training.epochs == 10 and pipeline.training.batch_size == 32
    assert pipeline.scheduler is None and pipeline.seed == 0 and pipeline.task == "regression"


def test_shorthands_expand_to_tagged_sections():
    raw = {**MINIMAL, "loss": "huber", "optimizer": "sgd",
           "model": {"layers": [{"type": "linear", "units": 8}, "relu", {"type": "linear", "units": 1}]}}
    pipeline = Pipeline.model_validate(raw)
    assert pipeline.loss.type == "huber" and pipeline.loss.delta == 1.0
    assert pipeline.optimizer.type == "sgd"
    assert pipeline.model.layers[1].type == "relu"


def test_models_are_frozen_and_reject_unknown_keys():
    pipeline = Pipeline.model_validate(MINIMAL)
    with pytest.raises(pydantic.ValidationError):
        pipeline.seed = 3
    with pytest.raises(pydantic.ValidationError, match="extra"):
        Pipeline.model_validate({**MINIMAL, "sede": 3})


@pytest.mark.parametrize("change, fragment", [
    ({"data": {"type": "sine", "split": {"train": 0.8, "validation": 0.3, "test": 0.1}}}, "must be 1"),
    ({"data": {"type": "sine", "x_range": [2, 1]}}, "low < high"),
    ({"optimizer": {"type": "sgd", "nesterov": True}}, "needs momentum > 0"),
    ({"data": {"type": "polynomial", "coefficients": []}}, "at least 1"),
])
def test_cross_field_rules(change, fragment):
    with pytest.raises(pydantic.ValidationError, match=fragment):
        Pipeline.model_validate({**MINIMAL, **change})


def test_config_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, dlpipe.language.pipeline, dlpipe.language.loader; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
