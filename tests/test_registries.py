"""One table per extension point: every registered name is in the schema, validates, builds, and declares its facts.

And a new metric, optimizer or data source needs one config class and one builder,
nothing else: the last tests register each from here and run a real pipeline with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pytest
import torch
import yaml
from pydantic import Field

from dlpipe.data import sources
from dlpipe.data.dataset import DataInfo, Dataset, split_three
from dlpipe.engine import metrics as metric_builders
from dlpipe.engine import optim as optim_builders
from dlpipe.engine.schedule import SCHEDULE_BUILDERS, LRSchedule
from dlpipe.language import data, layers, metrics, optim
from dlpipe.language.data import DataSource, SplitFractions
from dlpipe.language.metrics import Metric
from dlpipe.language.optim import Optimizer
from dlpipe.language.schema import pipeline_schema
from dlpipe.language.section import names, tags
from dlpipe.model import layers as layer_builders

from conftest import ROOT, TINY_SINE

# The keys a name needs beyond `type:` to be a valid example; a new name with a required key needs a line here.
REQUIRED = {("layers", "linear"): {"units": 4}, ("layers", "conv2d"): {"filters": 2}, ("layers", "reshape"): {"shape": [-1]},
            ("layers", "embedding"): {"dim": 4}, ("layers", "conv1d"): {"filters": 4}, ("layers", "lstm"): {"units": 4},
            ("layers", "gru"): {"units": 4}, ("layers", "transformer"): {"ff": 8},
            ("data", "polynomial"): {"coefficients": [1.0, 2.0]}, ("scheduler", "step"): {"step_size": 2},
            ("scheduler", "multistep"): {"milestones": [1]},
            ("data", "table"): {"path": str(ROOT / "pipelines" / "data" / "iris.csv"), "target": "species"},
            ("data", "csv"): {"path": str(ROOT / "pipelines" / "data" / "iris.csv"), "target": "species"},
            ("data", "arrays"): {"path": str(ROOT / "tests" / "fixtures" / "small.npz")},
            ("data", "image_folder"): {"root": str(ROOT / "tests" / "fixtures" / "images")},
            ("data", "series"): {"path": str(ROOT / "pipelines" / "data" / "elnino.csv"), "column": "temperature",
                                 "window": 12}}
# (language table, builder table) for each extension point
REGISTRIES = {
    "data": (data.DATA_SOURCES, sources.SOURCES),
    "layers": (layers.LAYERS, layer_builders.BUILDERS),
    "loss": (optim.LOSSES, optim_builders.LOSS_BUILDERS),
    "optimizer": (optim.OPTIMIZERS, optim_builders.OPTIMIZER_BUILDERS),
    "scheduler": (optim.SCHEDULERS, SCHEDULE_BUILDERS),
    "metrics": (metrics.METRICS, metric_builders.METRIC_BUILDERS),
}
ENTRIES = [(point, name) for point, (table, _) in REGISTRIES.items() for name in names(table)]
SINE = {"name": "probe", "data": {"type": "sine", "samples": 60}, "training": {"epochs": 2, "batch_size": 16},
        "model": {"layers": [{"type": "linear", "units": 4, "activation": "tanh"}, {"type": "linear", "units": 1}]}}
# Token sequences for the layers of dlpipe/language/sequence.py (tests/fixtures/reviews.csv: 40 made-up reviews)
TEXT = {"name": "probe", "data": {"type": "csv", "path": str(ROOT / "tests" / "fixtures" / "reviews.csv"),
                                  "target": "label", "text": {"columns": ["review"], "as": "sequence", "length": 8}}}
IMAGES = {"name": "probe", "data": {"type": "mnist"}, "model": {"layers": [{"type": "flatten"},
                                                                           {"type": "linear", "units": 10}]}}


def example(point: str, name: str) -> dict:
    return {"type": name, **REQUIRED.get((point, name), {})}


def sequence_layer(name: str) -> bool:
    """A layer over token sequences: it takes (x, mask)."""
    return next(c for c in layers.LAYERS if name in tags(c)).__module__ == "dlpipe.language.sequence"


def pipeline_using(point: str, name: str) -> dict:
    """A small valid pipeline whose `point` section uses `name`."""
    config = example(point, name)
    if point == "data":
        info = sources.SOURCES[next(c for c in data.DATA_SOURCES if name in tags(c))].describe(
            next(c for c in data.DATA_SOURCES if name in tags(c)).model_validate(config))
        return {**SINE, "data": config, "model": {"layers": [{"type": "flatten"},
                                                             {"type": "linear", "units": info.target_size}]}}
    if point == "layers" and sequence_layer(name):
        inner = [] if name in ("embedding", "global_pool") else [config]
        return {**TEXT, "model": {"layers": [{"type": "embedding", "dim": 4}, *inner, {"type": "global_pool"},
                                             {"type": "linear", "units": 2}]}}
    if point == "layers":
        first = [{"type": "flatten"}, config] if name == "linear" else [config]
        return {**IMAGES, "model": {"layers": [*first, {"type": "flatten"}, {"type": "linear", "units": 10}]}}
    if point in ("loss", "metrics"):
        cls = next(c for c in REGISTRIES[point][0] if name in tags(c))
        base = IMAGES if cls.TASK == "classification" else SINE
        return {**base, point: [config] if point == "metrics" else config}
    return {**SINE, point: config}


@pytest.mark.parametrize("point", REGISTRIES)
def test_every_config_class_has_a_builder_and_every_builder_a_class(point):
    table, builders = REGISTRIES[point]
    assert set(builders) == set(table)
    assert len(names(table)) == len(set(names(table))), "a name is registered twice"


@pytest.mark.parametrize("point, name", ENTRIES, ids=[f"{p}:{n}" for p, n in ENTRIES])
def test_every_registered_name_is_in_the_schema_and_validates(cli, tmp_path, point, name):
    assert name in json.dumps(pipeline_schema())
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(pipeline_using(point, name)))
    result = cli("validate", path)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr


@pytest.mark.parametrize("name", names(layers.LAYERS))
def test_every_layer_builds_a_module_that_runs(name):
    cls = next(c for c in layers.LAYERS if name in tags(c))
    config = cls.model_validate(example("layers", name))
    if sequence_layer(name):  # (x, mask) in and out; an embedding takes token ids
        shape = (6,) if name == "embedding" else (6, 4)
        module, out, _ = layer_builders.build_layer(config, shape, 0, layer_builders.Facts(vocabulary=20))
        x = torch.randint(0, 20, (3, 6)) if name == "embedding" else torch.randn(3, *shape)
        assert tuple(module.eval()(x, torch.ones(3, 6, dtype=torch.bool))[0].shape) == (3, *out)
        return
    shape = (4,) if name == "linear" else (2, 6, 6)
    module, out, _ = layer_builders.build_layer(config, shape, 0)
    assert tuple(module.eval()(torch.randn(3, *shape)).shape) == (3, *out)


@pytest.mark.parametrize("name", names(optim.LOSSES) + names(optim.OPTIMIZERS) + names(optim.SCHEDULERS))
def test_every_loss_optimizer_and_schedule_builds(name):
    model = torch.nn.Linear(3, 2)
    for cls in optim.LOSSES:
        if name in tags(cls):
            out = optim_builders.build_loss(cls.model_validate(example("loss", name)))(
                torch.randn(4, 2), torch.tensor([0, 1, 1, 0]) if cls.TASK == "classification" else torch.randn(4, 2))
            assert out.ndim == 0 and torch.isfinite(out)
            assert cls.TASK in ("regression", "classification")
    for cls in optim.OPTIMIZERS:
        if name in tags(cls):
            built = optim_builders.build_optimizer(cls.model_validate(example("optimizer", name)), model.parameters())
            low, high = cls.USUAL_LR  # every optimizer declares where its learning rate usually lies
            assert isinstance(built, torch.optim.Optimizer) and 0 < low < high
    for cls in optim.SCHEDULERS:
        if name in tags(cls):
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            schedule = LRSchedule(cls.model_validate(example("scheduler", name)), opt, epochs=4, steps=3)
            schedule.start_epoch(1)
            for _ in range(3):
                opt.step()
                schedule.after_batch()
            schedule.end_epoch(1, {"val_loss": 1.0})
            assert schedule.inner is not None and 0 < opt.param_groups[0]["lr"] <= 0.1


@pytest.mark.parametrize("name", names(metrics.METRICS))
def test_every_metric_declares_its_task_and_direction_and_computes(name):
    cls = next(c for c in metrics.METRICS if name in tags(c))
    config = cls.model_validate(example("metrics", name))
    assert cls.TASK in ("regression", "classification") and "HIGHER_IS_BETTER" in vars(cls)
    for prefix in ("val_", "train_", "test_", ""):  # one declared direction, read by every watcher and page
        if cls.HIGHER_IS_BETTER is None:
            with pytest.raises(metrics.UnknownDirection):
                metrics.higher_is_better(f"{prefix}{config.key}")
        else:
            assert metrics.higher_is_better(f"{prefix}{config.key}") is cls.HIGHER_IS_BETTER
    if cls.TASK == "classification":
        pred, target = torch.randn(20, 3), torch.arange(20) % 3
    else:
        pred, target = torch.randn(20, 1), torch.randn(20, 1)
    values = metric_builders.compute_metrics(cls.TASK, pred, target, [config])
    if cls.HIGHER_IS_BETTER is None:  # not a number per epoch (the confusion matrix)
        assert values == {} and metric_builders.METRIC_BUILDERS[cls] is None
    else:
        assert set(values) == {config.key} and np.isfinite(values[config.key])


@pytest.mark.parametrize("name", names(data.DATA_SOURCES))
def test_every_data_source_declares_its_task_and_shapes(name):
    cls = next(c for c in data.DATA_SOURCES if name in tags(c))
    info = sources.describe(cls.model_validate(example("data", name)))
    assert cls.TASK in ("regression", "classification", "auto") and info.task in ("regression", "classification")
    assert cls.TASK in ("auto", info.task) and info.target_size >= 1 and all(d >= 1 for d in info.sample_shape)


@pytest.mark.parametrize("key", ["loss", "val_loss", "train_loss", "test_loss"])
def test_every_loss_is_minimised(key):
    assert metrics.higher_is_better(key) is False


@pytest.mark.parametrize("key", ["val_foo", "lr", "time", "epoch", "val_r3"])
def test_a_key_no_metric_declares_has_no_direction(key):
    with pytest.raises(metrics.UnknownDirection, match=f"'{key}': no metric says"):
        metrics.higher_is_better(key)


# --- a new extension, registered from here: one class and one builder each ---------------------


class MaxError(Metric):
    TASK, HIGHER_IS_BETTER = "regression", False
    type: Literal["max_error"] = Field(description="Largest absolute error.")


class Adagrad(Optimizer):
    USUAL_LR: ClassVar[tuple[float, float]] = (1.0e-3, 1.0e-1)
    type: Literal["adagrad"] = Field(description="Adagrad.")
    lr: float = Field(1.0e-2, gt=0, le=10, description="Learning rate.")


class RingData(DataSource):
    TASK = "classification"
    type: Literal["ring"] = Field(description="Points inside or outside the unit circle.")
    samples: int = Field(600, ge=10, description="Points to draw.")


def load_ring(config: RingData, seed: int, progress) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(config.samples, 2)).astype(np.float32)
    y = (np.hypot(x[:, 0], x[:, 1]) < 1.2).astype(np.int64)
    splits = split_three(torch.from_numpy(x), torch.from_numpy(y), SplitFractions(), rng)
    return Dataset(DataInfo("classification", (2,), 2), *splits, classes=("outside", "inside"))


@pytest.fixture
def registered(monkeypatch):
    """The three new classes in their tables, and their builders in theirs: nothing else is touched."""
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, MaxError))
    monkeypatch.setitem(metric_builders.METRIC_BUILDERS, MaxError, lambda view, config: float(view.error.abs().max()))
    monkeypatch.setattr(optim, "OPTIMIZERS", (*optim.OPTIMIZERS, Adagrad))
    monkeypatch.setitem(optim_builders.OPTIMIZER_BUILDERS, Adagrad,
                        lambda config, params, fused: torch.optim.Adagrad(params, lr=config.lr))
    monkeypatch.setattr(data, "DATA_SOURCES", (*data.DATA_SOURCES, RingData))
    monkeypatch.setitem(sources.SOURCES, RingData,
                        sources.Source(lambda config, seed=0: DataInfo("classification", (2,), 2), load_ring))


def run_metrics(cli, path: Path, out: Path, *sets: str) -> dict:
    result = cli("run", path, "--out", out, "-q", *[a for s in sets for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    return json.loads(next(out.glob("*/*/metrics.json")).read_text())


def test_a_new_metric_and_optimizer_need_one_class_and_one_builder(registered, cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE + "metrics: [mse, max_error]\n")
    assert "max_error" in json.dumps(pipeline_schema()) and "adagrad" in json.dumps(pipeline_schema())
    got = run_metrics(cli, path, tmp_path / "a", "optimizer={type: adagrad, lr: 0.05}")
    assert got["test"]["max_error"] >= np.sqrt(got["test"]["mse"]) > 0  # the largest error is at least the RMS
    assert "val_max_error" in (next((tmp_path / "a").glob("*/*/history.csv"))).read_text().splitlines()[0]
    warned = cli("validate", path, "--set", "optimizer={type: adagrad, lr: 5}")
    assert "far outside the usual range for adagrad (0.001 to 0.1)" in warned.stderr
    wrong = cli("validate", path, "--set", "optimizer={type: adagrd}")
    assert wrong.exit_code == 2 and "did you mean 'adagrad'?" in wrong.stderr


def test_a_new_data_source_needs_one_class_and_one_builder(registered, cli, write_yaml, tmp_path):
    path = write_yaml("""\
        name: ring
        seed: 1
        data: {type: ring, samples: 800}
        model:
          layers:
            - {type: linear, units: 16, activation: tanh}
            - {type: linear, units: 2}
        optimizer: {type: adam, lr: 3.0e-2}
        training: {epochs: 40, batch_size: 64}
        """)
    got = run_metrics(cli, path, tmp_path)
    assert got["task"] == "classification" and got["headline"]["name"] == "accuracy"  # defaults from the TASK
    assert got["test"]["accuracy"] > 0.85 and got["classes"] == ["outside", "inside"]
    wrong = cli("validate", path, "--set", "model.layers.1.units=3")
    assert wrong.exit_code == 2 and "the data has 2 classes" in wrong.stderr


def test_compare_marks_the_best_by_each_metrics_direction_and_never_guesses():
    from dlpipe.report.compare import best_marks

    rows = [[0.2, 0.1, 0.3], [0.9, 0.95, 0.8], [1.0, 2.0, 3.0]]
    assert best_marks(rows, ["loss", "accuracy", "val_foo"]) == [1, 1, None]  # loss down, accuracy up, foo: unknown
