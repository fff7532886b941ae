"""Inside the network: initialisation schemes, the per-layer probe (checked against plain torch), its verdicts."""

from __future__ import annotations

import math
import typing

import pytest
import torch
from torch import nn

from dlpipe.archive.layers import append_layers, keep_layers, read_layers
from dlpipe.engine.checkpoint import TrainingState
from dlpipe.engine.probe import NetworkProbe
from dlpipe.language.errors import PipelineError
from dlpipe.language.activations import ACTIVATIONS, ActivationName, InitScheme
from dlpipe.language.loader import load_pipeline
from dlpipe.language.pipeline import pipeline_model
from dlpipe.model.init import SCHEMES
from dlpipe.model.layers import ACTIVATION_MODULES
from dlpipe.model.network import build_model
from dlpipe.report.network import judge_network

from conftest import ROOT


def _model(layers: list[dict], init: dict | None = None, shape=(64,), seed: int = 0):
    torch.manual_seed(seed)
    config = pipeline_model().model_validate({"data": {"type": "sine"}, "model": {"layers": layers, "init": init}})
    return build_model(config.model, shape)


def test_every_scheme_of_the_language_has_a_builder_and_back():
    assert set(typing.get_args(InitScheme)) == set(SCHEMES)


WIDE = {"type": "linear", "units": 256}
# (init, activation after the layer, expected weight std for a 256 -> 256 layer)
EXPECTED = [
    ({"weights": "kaiming_normal"}, "relu", math.sqrt(2 / 256)),
    ({"weights": "kaiming_uniform"}, "relu", math.sqrt(2 / 256)),
    ({"weights": "kaiming_normal", "a": 0.2}, "leaky_relu", math.sqrt(2 / (1 + 0.2 ** 2) / 256)),
    ({"weights": "xavier_normal"}, "tanh", 5 / 3 * math.sqrt(2 / 512)),
    ({"weights": "xavier_uniform"}, "sigmoid", math.sqrt(2 / 512)),
    ({"weights": "xavier_normal", "gain": 2.0}, "tanh", 2 * math.sqrt(2 / 512)),
    ({"weights": "orthogonal"}, "relu", math.sqrt(2) / math.sqrt(256)),
    ({"weights": "kaiming_normal"}, "elu", math.sqrt(2 / 256)),  # a separate elu layer: a ReLU's gain
    ({"weights": "xavier_normal"}, "elu", math.sqrt(2) * math.sqrt(2 / 512)),
    ({"weights": "xavier_normal"}, "softmax", math.sqrt(2 / 512)),  # softmax keeps the scale: gain 1
    ({"weights": "xavier_normal"}, "gelu", math.sqrt(2) * math.sqrt(2 / 512)),
    ({"weights": "normal", "std": 1.0}, None, 1.0),
    ({"weights": "normal"}, None, 0.05),
    ({"weights": "uniform", "a": 0.3}, None, 0.3 / math.sqrt(3)),
    ({"weights": "default"}, None, 1 / math.sqrt(256) / math.sqrt(3)),
]


@pytest.mark.parametrize("init, activation, std", EXPECTED, ids=[e[0]["weights"] + str(i) for i, e in enumerate(EXPECTED)])
def test_each_scheme_gives_its_documented_scale_with_the_gain_of_the_activation(init, activation, std):
    layers = [{**WIDE, "init": init}] + ([{"type": activation}] if activation else [])  # the activation as a layer
    model, _ = _model(layers, shape=(256,))
    assert model[0].weight.std().item() == pytest.approx(std, rel=0.05)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_is_declared_once_and_built_as_declared(name):
    """Its torch module exists, its outputs stay in its declared range, its gain name is torch's, and its layer
    (whether an activation: or a separate layer) gives the following probe and init the same activation."""
    facts = ACTIVATIONS[name]
    assert set(ACTIVATION_MODULES) == set(ACTIVATIONS) and name in typing.get_args(ActivationName)
    out = ACTIVATION_MODULES[name]()(torch.linspace(-50, 50, 1001).reshape(7, 143))
    low, high = facts.range
    assert out.min().item() >= low - 1e-6 and out.max().item() <= high + 1e-6
    assert nn.init.calculate_gain(facts.gain, 0.01) > 0
    assert not (facts.dies and facts.saturates) and (facts.saturates <= all(map(math.isfinite, facts.range)))
    _, separate = _model([{"type": "linear", "units": 4}, {"type": name}], shape=(3,))
    _, own = _model([{"type": "linear", "units": 4, "activation": name}], shape=(3,))
    assert [r.activation for r in separate.rows][:1] == [r.activation for r in own.rows] == [name]


def test_zeros_orthogonal_and_the_bias_settings():
    model, _ = _model([{"type": "linear", "units": 8, "init": {"weights": "zeros", "bias": "constant",
                                                                  "bias_value": 0.1}},
                       {"type": "linear", "units": 8, "activation": "tanh",
                        "init": {"weights": "orthogonal", "gain": 1.0, "bias": "zeros"}}], shape=(8,))
    assert torch.count_nonzero(model[0].weight) == 0 and torch.allclose(model[0].bias, torch.full((8,), 0.1))
    w = model[1].weight
    assert torch.allclose(w @ w.T, torch.eye(8), atol=1e-5) and torch.count_nonzero(model[1].bias) == 0


def test_default_is_pytorchs_own_and_model_init_applies_where_a_layer_has_none():
    layers = [{"type": "linear", "units": 32, "activation": "relu"}, {"type": "linear", "units": 4}]
    ours, _ = _model(layers)
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), plain.state_dict().values()))
    mixed, _ = _model([{**layers[0], "init": "zeros"}, layers[1]], init={"weights": "normal", "std": 2.0})
    assert torch.count_nonzero(mixed[0].weight) == 0  # the layer's own init wins
    assert mixed[2].weight.std().item() == pytest.approx(2.0, rel=0.15)  # model.init for the rest


def test_conv2d_takes_an_init_too():
    model, _ = _model([{"type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu",
                        "init": "kaiming_normal"}], shape=(16, 8, 8))
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.05)


def test_a_setting_the_scheme_does_not_use_is_an_error_naming_the_line(write_yaml):
    path = write_yaml("""\
        data: {type: sine}
        model:
          layers:
            - {type: linear, units: 4, activation: tanh, init: {weights: xavier_normal, std: 1.0}}
            - {type: linear, units: 1}
        """)
    with pytest.raises(PipelineError) as error:
        load_pipeline(path)
    text = str(error.value)
    assert ":4" in text and "std is not used by weights: xavier_normal (it applies to normal)" in text


def test_the_probe_matches_plain_torch():
    model, summary = _model([{"type": "linear", "units": 16}, {"type": "relu"},
                             {"type": "linear", "units": 8, "activation": "tanh"}, {"type": "linear", "units": 1}],
                            shape=(4,))
    with torch.no_grad():
        model[0].bias[:5] = -100.0  # five units that can never be positive: dead
    x = torch.randn(300, 4)
    model(x[:32]).sum().backward()  # the "last training batch" leaves its gradient in .grad
    probe = NetworkProbe(model, summary, x, None, epochs=3)
    rows = probe.measure(epoch=2)
    assert [row["layer"] for row in rows] == [0, 2, 3]  # the weighted layers (the relu layer belongs to layer 0)
    first, second = rows[0], rows[1]
    batch = x[:256]
    with torch.no_grad():
        hidden = torch.relu(model[0](batch))
        out2 = torch.tanh(model[2](hidden))
    assert first["dead"] == pytest.approx(5 / 16) and first["saturated"] is None
    assert first["act_mean"] == pytest.approx(hidden.mean().item(), rel=1e-5)
    assert first["act_std"] == pytest.approx(hidden.std(correction=0).item(), rel=1e-5)
    assert second["saturated"] == pytest.approx((out2.abs() > 0.99).float().mean().item()) and second["dead"] is None
    grad = math.sqrt(model[0].weight.grad.norm() ** 2 + model[0].bias.grad.norm() ** 2)
    assert first["grad_norm"] == pytest.approx(grad, rel=1e-5)
    assert first["weight_std"] == pytest.approx(model[0].weight.std(correction=0).item(), rel=1e-5)
    assert model.training  # the mode is given back


def test_the_probe_keeps_to_its_budget_and_always_records_the_first_and_last_epoch(tmp_path):
    model, summary = _model([{"type": "linear", "units": 4, "activation": "tanh"}, {"type": "linear", "units": 1}],
                            shape=(2,))
    probe = NetworkProbe(model, summary, torch.randn(10, 2), tmp_path, epochs=10)
    for epoch in range(1, 11):  # no training time at all: only the first and the last epoch fit the budget
        probe(TrainingState(history={}, epoch=epoch, elapsed=0.0))
    assert sorted({row["epoch"] for row in read_layers(tmp_path)}) == [0, 1, 10]  # 0: before training
    (tmp_path / "b").mkdir()
    generous = NetworkProbe(model, summary, torch.randn(10, 2), tmp_path / "b", epochs=5)
    for epoch in range(1, 6):  # long epochs: every one is recorded
        generous(TrainingState(history={}, epoch=epoch, elapsed=1.0e6))
    assert sorted({row["epoch"] for row in read_layers(tmp_path / "b")}) == [0, 1, 2, 3, 4, 5]


def test_resume_drops_the_rows_recorded_after_the_checkpoint(tmp_path):
    row = {"layer": 0, "kind": "linear", "activation": "", "weight_std": 0.5, "grad_norm": None, "act_mean": 0.0,
           "act_std": 1.0, "dead": None, "saturated": None}
    for epoch in (1, 2, 3):
        append_layers(tmp_path, [{**row, "epoch": epoch}])
    with open(tmp_path / "layers.csv", "a") as handle:
        handle.write("4,0,lin")  # a kill in the middle of a line
    assert [r["epoch"] for r in keep_layers(tmp_path, 2)] == [1, 2]
    assert [r["epoch"] for r in read_layers(tmp_path)] == [1, 2]
    assert math.isnan(read_layers(tmp_path)[0]["grad_norm"])


def _rows(grads, dead=None, saturated=None, activation="relu"):
    return [{"epoch": 5, "layer": i, "kind": "linear", "activation": activation, "weight_std": 0.1,
             "grad_norm": g, "act_mean": 0.0, "act_std": 1.0, "dead": (dead or {}).get(i, 0.0),
             "saturated": (saturated or {}).get(i)} for i, g in enumerate(grads)]


@pytest.mark.parametrize("rows, kind, words", [
    (_rows([0.5, 0.8, 1.0]), "healthy", ""),
    (_rows([1.0e-6, 1.0e-3, 0.1]), "vanishing gradients", "layer 0 (linear)'s gradient is 1e-05 of layer 2 (linear)'s"),
    (_rows([1.0e4, 10.0, 1.0]), "exploding gradients", "1e+04 times"),
    (_rows([0.5, 0.8, 1.0], dead={1: 0.62}), "dead ReLUs", "62% of layer 1 (linear)'s ReLUs are dead"),
    (_rows([0.5, 0.8, 1.0], saturated={0: 0.7, 1: 0.9}, activation="tanh"), "saturated units",
     "tanh units saturated, 70%-90% of layers 0 and 1's outputs"),
])
def test_network_verdicts_on_rows_built_for_them(rows, kind, words):
    verdict = judge_network(rows)
    assert verdict.kind == kind and verdict.epoch == 5
    assert (words in " ".join(verdict.findings)) if words else verdict.findings == ()


def test_init_demo_trains_with_xavier_and_saturates_with_std_one(cli, tmp_path):
    demo = ROOT / "pipelines" / "init_demo.yaml"
    header = demo.read_text()
    assert "--set model.init.weights=normal --set model.init.std=1.0" in header
    short = ("training.epochs=12",)
    results = {}
    for name, extra in (("xavier", ()), ("normal", ("model.init.weights=normal", "model.init.std=1.0"))):
        args = [a for o in short + extra for a in ("--set", o)]
        result = cli("run", demo, "--out", tmp_path / name, "-q", *args)
        assert result.exit_code == 0, result.output
        run_dir = next((tmp_path / name).glob("init_demo/*"))
        results[name] = (result.stdout, run_dir)
    assert "network: healthy" in results["xavier"][0]
    assert "network: saturated units: tanh units saturated" in results["normal"][0]
    report = (results["normal"][1] / "report.html").read_text()
    assert "Inside the network" in report and "Network, epoch 12: saturated units" in report
    loss = {name: float(run_dir.joinpath("history.csv").read_text().splitlines()[-1].split(",")[2])
            for name, (_, run_dir) in results.items()}
    assert loss["normal"] > 5 * loss["xavier"], loss  # the saturated network's curve stalls far higher
