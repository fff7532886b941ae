"""`dlpipe lr-find`: the range test's curve and page, and its suggestion followed: the sine and MNIST reach their
pipelines' targets with it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from dlpipe.engine.lrfind import RangeTest

from conftest import ROOT
from test_mnist_real import DATA, needs_mnist


def lr_find(cli, pipeline: Path, out: Path) -> tuple[str, dict, str]:
    """(the --set line it suggests, lr_find.json, the page)."""
    done = cli("lr-find", pipeline, "--out", out, "-q")
    assert done.exit_code == 0, done.output
    override = re.search(r"^try: dlpipe run \S+ --set (\S+)$", done.stdout, re.M).group(1)
    page = Path(re.search(r"^page: (\S+)$", done.stdout, re.M).group(1))
    return override, json.loads((page.parent / "lr_find.json").read_text()), page.read_text()


def test_the_sine_trains_to_its_target_at_the_suggested_learning_rate(cli, tmp_path):
    override, found, page = lr_find(cli, ROOT / "pipelines/sine.yaml", tmp_path)
    lrs = found["lrs"]
    factors = [b / a for a, b in zip(lrs, lrs[1:])]
    assert lrs[0] == pytest.approx(1.0e-7) and max(factors) == pytest.approx(min(factors), rel=1e-9)  # exponential
    assert "rose to 4x its lowest" in found["stopped"] and len(lrs) < 100  # stopped when it blew up
    lowest = lrs[found["losses"].index(min(found["losses"]))]
    assert found["suggestion"] == pytest.approx(lowest / 10) and override.startswith("optimizer.lr=")
    assert "<svg" in page and "Loss while the learning rate rises" in page and f"--set {override}" in page
    done = cli("run", ROOT / "pipelines/sine.yaml", "--set", override, "--out", tmp_path, "-q")
    assert done.exit_code == 0, done.output
    r2 = float(re.search(r"^test r2\s+(\S+)", done.stdout, re.M).group(1))
    assert r2 >= 0.99  # the shipped sine's own: 0.994


@needs_mnist
def test_mnist_fast_reaches_its_98_percent_target_at_the_suggested_peak(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DLPIPE_DATA", str(DATA))
    override, found, _ = lr_find(cli, ROOT / "pipelines/mnist_fast.yaml", tmp_path)
    assert override.startswith("scheduler.max_lr=")  # onecycle: the suggestion is its peak (a third of the lowest)
    done = cli("run", ROOT / "pipelines/mnist_fast.yaml", "--set", override, "--out", tmp_path, "-q")
    assert done.exit_code == 0, done.output
    assert re.search(r"^target: val_accuracy ≥ 0.98: epoch 1", done.stdout, re.M), done.stdout


def test_no_suggestion_where_the_loss_never_fell():
    flat = RangeTest([1.0e-7 * 1.2 ** i for i in range(50)], [1.0 + 0.01 * i for i in range(50)])
    assert flat.suggestion is None
    falling = RangeTest([1.0e-7 * 1.2 ** i for i in range(50)], [math.exp(-i / 10) for i in range(40)] + [9.0] * 10)
    assert falling.suggestion == pytest.approx(1.0e-7 * 1.2 ** 39 / 10)
