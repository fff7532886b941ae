"""Training really learns: our loop equals a plain torch loop, and the shipped pipelines hit their targets."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dlpipe.archive.log import Progress
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.sources import load_data
from dlpipe.engine import local
from dlpipe.engine.distributed import Ranks, World
from dlpipe.engine.metrics import compute_metrics
from dlpipe.engine.optim import build_loss, build_optimizer
from dlpipe.engine.train import fit
from dlpipe.language.loader import load_pipeline
from dlpipe.language.metrics import MAE, MSE, R2, RMSE, Accuracy
from dlpipe.language.pipeline import Training
from dlpipe.model.network import build_model

from conftest import ROOT, TINY_SINE


def run_metrics(cli, path, out: Path, *args) -> dict:
    result = cli("run", path, "--out", out, "--quiet", *args)
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1].removeprefix("report: "))
    return json.loads((report.parent / "metrics.json").read_text())


def test_regression_metrics_match_hand_computation():
    pred, target = torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([[1.0], [3.0], [3.0]])
    got = compute_metrics("regression", pred, target, [MSE(type="mse"), RMSE(type="rmse"), MAE(type="mae"),
                                                       R2(type="r2")])
    # errors 0, -1, 1: mse 2/3, mae 2/3; target mean 7/3, ss_tot = 16/9 + 4/9 + 4/9 = 8/3
    assert got == pytest.approx({"mse": 2 / 3, "rmse": (2 / 3) ** 0.5, "mae": 2 / 3, "r2": 1 - 2 / (8 / 3)})
    only_r2 = compute_metrics("regression", pred.bfloat16(), target, [R2(type="r2")])
    assert only_r2 == pytest.approx({"r2": 0.25})  # only what is asked


def test_our_loop_equals_a_plain_torch_loop(write_yaml):
    pipeline = load_pipeline(write_yaml(TINY_SINE)).pipeline
    data = load_data(pipeline.data, pipeline.seed)

    torch.manual_seed(pipeline.seed)
    model, _ = build_model(pipeline.model, data.sample_shape)
    optimizer = build_optimizer(pipeline.optimizer, model.parameters(), fused=True)
    ours, _ = fit(model, data, loss_fn=build_loss(pipeline.loss), optimizer=optimizer, training=pipeline.training,
                  metrics=[], generator=torch.Generator().manual_seed(pipeline.seed), progress=Progress(quiet=True))

    torch.manual_seed(pipeline.seed)
    plain = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.Adam(plain.parameters(), lr=1.0e-2, fused=True)
    gen = torch.Generator().manual_seed(pipeline.seed)
    x, y = data.train.x, data.train.y
    losses = []
    for _ in range(5):
        perm, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            loss = nn.functional.mse_loss(plain(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))

    assert ours.history["train_loss"] == pytest.approx(losses, rel=1e-5)
    for a, b in zip(model.parameters(), plain.parameters()):
        assert torch.allclose(a, b)


@pytest.mark.parametrize("per_gather", [1, 2])
@pytest.mark.parametrize("n, batch", [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_batches_take_every_sample_once_in_the_given_order(monkeypatch, n, batch, per_gather):
    monkeypatch.setattr(local, "CHUNK_BYTES", per_gather * batch * 4 * 3)  # batches of 3 floats per gather
    x = torch.arange(n * 3, dtype=torch.float32).reshape(n, 3)
    y = torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    got = list(local.Local().batches(x, y, order, batch))
    assert [len(yb) for _, yb in got] == [min(batch, n - lo) for lo in range(0, n, batch)]
    assert torch.equal(torch.cat([yb for _, yb in got]), order)
    assert torch.equal(torch.cat([xb for xb, _ in got]), x[order])
    unshuffled = list(local.Local().batches(x, y, None, batch))
    assert torch.equal(torch.cat([yb for _, yb in unshuffled]), y)


@pytest.mark.parametrize("shuffle", [True, False])
def test_distributed_ranks_split_every_batch_between_them(shuffle):
    x, y = torch.arange(22.0).reshape(11, 2), torch.arange(11)
    order = torch.randperm(11) if shuffle else None
    ranks = [Ranks(World(rank, 3, "gloo")) for rank in range(3)]
    shares = [list(ranks[rank].batches(x, y, order, 4)) for rank in range(3)]
    expected = order if shuffle else y
    for step, lo in enumerate(range(0, 11, 4)):
        batch = torch.cat([shares[rank][step][1] for rank in range(3)])
        assert sorted(batch.tolist()) == sorted(expected[lo:lo + 4].tolist())
        for rank in range(3):
            xb, yb = shares[rank][step]
            assert torch.equal(xb, x[yb])
    for rank in range(3):  # each rank's train-accuracy targets are its own samples, in its own order
        mine = torch.cat([yb for _, yb in shares[rank]])
        assert torch.equal(ranks[rank].targets(y, order, len(mine), 4), mine)


def test_classification_loop_equals_a_plain_torch_loop():
    """Train loss and train accuracy (dropout on, as Keras counts it) match a hand-written loop."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(300, 6, generator=gen)
    y = x[:, :4].argmax(dim=1)  # learnable: the class is the largest of the first four features
    split = Samples(x[:50], y[:50])
    data = Dataset(DataInfo("classification", (6,), 4), Samples(x[50:], y[50:]), split, split)

    def network():
        torch.manual_seed(7)
        return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 4))

    model = network()
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0e-2)
    ours, _ = fit(model, data, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  training=Training(epochs=3, batch_size=64), metrics=[Accuracy(type="accuracy")],
                  generator=torch.Generator().manual_seed(5), progress=Progress(quiet=True))

    plain = network()
    opt = torch.optim.Adam(plain.parameters(), lr=1.0e-2)
    order_gen = torch.Generator().manual_seed(5)
    xs, ys = data.train.x, data.train.y
    losses, accuracies = [], []
    for _ in range(3):
        plain.train()
        perm, total, hits = torch.randperm(len(xs), generator=order_gen), 0.0, 0
        for i in range(0, len(xs), 64):
            idx = perm[i:i + 64]
            out = plain(xs[idx])
            loss = nn.functional.cross_entropy(out, ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            hits += int((out.argmax(1) == ys[idx]).sum())
        losses.append(total / len(xs))
        accuracies.append(hits / len(xs))
        plain.eval()
        with torch.no_grad():
            plain(split.x)  # dropout draws no random numbers in eval mode: the streams stay aligned

    assert ours.history["train_loss"] == pytest.approx(losses, rel=1e-5)
    assert ours.history["train_accuracy"] == pytest.approx(accuracies)
    assert 0.3 < accuracies[-1] < 1.0  # a real count, neither chance nor trivially perfect


def test_training_on_tiny_data_lowers_the_loss(write_yaml):
    pipeline = load_pipeline(write_yaml(TINY_SINE), ("training.epochs=20",)).pipeline
    data = load_data(pipeline.data, pipeline.seed)
    torch.manual_seed(0)
    model, _ = build_model(pipeline.model, data.sample_shape)
    state, outcome = fit(model, data, loss_fn=nn.MSELoss(),
                         optimizer=build_optimizer(pipeline.optimizer, model.parameters()),
                         training=pipeline.training, metrics=[R2(type="r2")],
                         generator=torch.Generator().manual_seed(0), progress=Progress(quiet=True))
    history = state.history
    assert outcome.status == "completed" and len(history["epoch"]) == 20 and len(history["val_r2"]) == 20
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    assert history["time"] == sorted(history["time"]) and history["lr"] == [1.0e-2] * 20


def test_sine_pipeline_fits(cli, tmp_path):
    assert run_metrics(cli, ROOT / "pipelines/sine.yaml", tmp_path)["test"]["r2"] >= 0.99


def test_cubic_pipeline_fits(cli, tmp_path):
    assert run_metrics(cli, ROOT / "pipelines/cubic.yaml", tmp_path)["test"]["r2"] >= 0.99


def test_linear_pipeline_recovers_w_and_b(cli, tmp_path):
    learned = {p["name"]: p for p in run_metrics(cli, ROOT / "pipelines/linear.yaml", tmp_path)["learned"]}
    assert learned["w"]["value"] == pytest.approx(2.0, rel=0.02)
    assert learned["b"]["value"] == pytest.approx(1.0, rel=0.02)


def test_same_pipeline_and_seed_give_identical_results(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    first, second = (run_metrics(cli, path, tmp_path / name) for name in ("a", "b"))
    assert first["test"] == second["test"]
    histories = [(tmp_path / n).glob("tiny/*/history.csv") for n in ("a", "b")]
    a, b = (np.genfromtxt(next(h), delimiter=",", names=True) for h in histories)
    for column in ("train_loss", "val_loss", "val_r2"):
        assert np.array_equal(a[column], b[column])


def test_different_seed_gives_different_results(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    first = run_metrics(cli, path, tmp_path / "a")
    second = run_metrics(cli, path, tmp_path / "b", "--set", "seed=2")
    assert first["test"] != second["test"]


def test_divergence_stops_the_run_and_still_reports(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    result = cli("run", path, "--out", tmp_path, "-q", "--set", "optimizer={type: sgd, lr: 10}",
                 "--set", "data={type: polynomial, coefficients: [0, 0, 0, 0, 0, 50], x_range: [-5, 5]}")
    assert result.exit_code == 1
    assert "diverged" in result.stderr and "lower the learning rate" in result.stderr
    run_dir = next(tmp_path.glob("tiny/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["epochs_run"] < 5
    assert "diverged" in (run_dir / "report.html").read_text()


@pytest.mark.parametrize("quiet", [["-q"], []])
def test_a_crash_is_marked_failed_with_traceback_in_run_log(cli, write_yaml, tmp_path, monkeypatch, quiet):
    def broken_fit(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr("dlpipe.runner.fit", broken_fit)
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, *quiet)
    assert result.exit_code == 1 and "simulated crash" in result.stderr
    assert "Traceback" not in result.output  # with or without -q: one line on the terminal
    run_dir = next(tmp_path.glob("tiny/*"))
    assert "Traceback" in (run_dir / "run.log").read_text()
    assert "failed" in (run_dir / "report.html").read_text()
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"


def test_fit_takes_its_settings_by_keyword_and_fits_on_a_screen():
    params = inspect.signature(fit).parameters
    assert [name for name, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == ["model", "data"]
    assert all(p.kind is p.KEYWORD_ONLY for name, p in params.items() if name not in ("model", "data"))
    assert len(inspect.getsource(fit).splitlines()) <= 80


def test_r2_of_constant_targets_is_finite():
    target = torch.full((4, 1), 3.0)
    assert compute_metrics("regression", target.clone(), target, [R2(type="r2")]) == {"r2": 1.0}
    assert compute_metrics("regression", target + 1, target, [R2(type="r2")]) == {"r2": 0.0}


def test_a_conv_net_trains_the_same_in_channels_last():
    """use_channels_last (NHWC weights, NHWC batches: faster on CPU) changes the speed, not the numbers."""
    from dlpipe.engine.device import use_channels_last
    from dlpipe.engine.evaluate import channels_last, predict

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(96, 3, 8, 8, generator=gen)
    y = (x[:, 0].mean(dim=(1, 2)) > 0).long()
    split = Samples(x[:32], y[:32])
    data = Dataset(DataInfo("classification", (3, 8, 8), 2), Samples(x[32:], y[32:]), split, split)

    def trained(nhwc: bool):
        torch.manual_seed(7)
        model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3),
                              nn.ReLU(), nn.Flatten(), nn.Linear(32, 2))
        assert use_channels_last(model, torch.device("cpu")) if nhwc else not channels_last(model)
        state, _ = fit(model, data, loss_fn=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters()),
                       training=Training(epochs=2, batch_size=16), metrics=[Accuracy(type="accuracy")],
                       generator=torch.Generator().manual_seed(5), progress=Progress(quiet=True))
        return state.history["train_loss"], predict(model, x[:32]), channels_last(model)

    (plain, plain_out, plain_cl), (nhwc, nhwc_out, nhwc_cl) = trained(False), trained(True)
    assert nhwc_cl and not plain_cl
    assert plain == pytest.approx(nhwc, rel=1e-4) and torch.allclose(plain_out, nhwc_out, atol=1e-4)
    assert not use_channels_last(nn.Sequential(nn.Linear(3, 2)), torch.device("cpu"))  # no convolution: as it was
