"""Verdicts tested against real learning curves (tests/fixtures/curves, made by benchmarks/verdicts.py): the
shipped pipelines and the settings a learner gets wrong, each with the verdict it should get and why."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dlpipe.archive.layers import read_layers
from dlpipe.report.network import judge_network
from dlpipe.report.verdict import judge

CURVES = sorted((Path(__file__).parent / "fixtures" / "curves").iterdir())


def case(folder: Path) -> tuple[dict, dict]:
    rows = list(csv.DictReader((folder / "history.csv").read_text().splitlines()))
    history = {key: [float(row[key]) for row in rows] for key in rows[0]}
    return history, json.loads((folder / "case.json").read_text())


def test_the_corpus_covers_every_verdict_and_the_shipped_pipelines():
    expected = {case(folder)[1]["expect"] for folder in CURVES}
    assert expected == {"good", "noisy", "overfitting", "learning rate too high", "learning rate too low", "plateau"}
    shipped = {case(folder)[1]["pipeline"] for folder in CURVES if not case(folder)[1]["set"]}
    assert {"sine", "cubic", "linear", "init_demo", "iris", "breast_cancer", "diabetes", "mnist"} <= shipped


@pytest.mark.parametrize("folder", CURVES, ids=[f.name for f in CURVES])
def test_each_real_curve_gets_the_verdict_it_should(folder):
    history, meta = case(folder)
    verdict = judge(history, tuple(meta["usual_lr"]))
    assert verdict.kind == meta["expect"], (meta["why"], verdict)
    if meta["network"]:
        assert judge_network(read_layers(folder)).kind == meta["network"]


def test_still_improving_needs_a_fall_larger_than_the_noise():
    """The house-price run of 50 epochs: its validation loss wobbles around its level since epoch 8, and a wobble
    down at the end said "still improving: train for more epochs"; 150 epochs then ended worse (R^2 0.9226 ->
    0.9171, overfitting). Now: levelled off by epoch 8."""
    history, _ = case(CURVES[[f.name for f in CURVES].index("houses_50")])
    verdict = judge(history, (1.0e-5, 3.0e-3))
    assert verdict.kind == "good" and "levelled off by epoch 8" in verdict.advice
    longer = judge(case(CURVES[[f.name for f in CURVES].index("houses_150")])[0])
    assert longer.kind == "overfitting"


def test_the_network_advice_names_the_cause_that_was_changed():
    """Saturated tanh units: from the init (std 1.0, saturated at epoch 0) the advice is the init; from a learning
    rate of 1.0 (weights grown 100x, not saturated at epoch 0) it is the learning rate, as the curve's verdict."""
    names = [f.name for f in CURVES]
    by_init = judge_network(read_layers(CURVES[names.index("init_demo_std1")]))
    by_lr = judge_network(read_layers(CURVES[names.index("sine_lr_1")]))
    assert "the initialisation causes it; use init: xavier_normal" in by_init.findings[0]
    assert "learning rate" not in by_init.findings[0].split("causes it")[1]
    assert "not before training: the weights grew" in by_lr.findings[0] and "learning rate is too high" in \
        by_lr.findings[0] and "init:" not in by_lr.findings[0]
    history, _ = case(CURVES[names.index("sine_lr_1")])
    assert "learning rate (it peaked at 1) is too high" in judge(history).advice  # the curve says the same


def test_the_advice_of_each_kind_is_the_change_the_benchmark_followed():
    """benchmarks/verdicts.py --advice followed each advice on the corpus (README: every case got better or stayed);
    the words must still say that change."""
    names = [f.name for f in CURVES]
    said = {name: judge(*(lambda h, m: (h, tuple(m["usual_lr"])))(*case(CURVES[names.index(name)]))).advice
            for name in ("init_demo", "houses_150", "sine_lr_1", "sine_lr_1e-5", "iris_sgd_1e-4")}
    assert "add a schedule that decays it (scheduler: {type: cosine}) and give it about twice the epochs" in \
        said["init_demo"]
    assert "stop early (training.early_stopping)" in said["houses_150"]
    assert "try a tenth of it" in said["sine_lr_1"] and "10x is a good first try" in said["sine_lr_1e-5"]
    assert "raise the learning rate" in said["iris_sgd_1e-4"]


def test_a_run_that_reached_its_targets_is_not_told_to_train_longer():
    """The first epoch of the real MNIST curve, as pipelines/mnist_fast.yaml ends: one epoch, target reached."""
    from dlpipe.language.targets import reached
    from dlpipe.report.verdict import with_targets

    history, _ = case(CURVES[[f.name for f in CURVES].index("mnist")])
    first = {key: values[:1] for key, values in history.items()}
    verdict = judge(first)
    assert verdict.kind == "still improving" and verdict.advice.endswith("train for more epochs")
    met = reached({"val_accuracy": first["val_accuracy"][0]}, first)
    assert with_targets(verdict, met).advice == ("too few epochs to judge, and every target (training.stop_at) was "
                                                 "reached: raise a target to train further")
    missed = reached({"val_accuracy": 0.999, "val_loss": 10.0}, first)
    assert with_targets(verdict, missed) == verdict and with_targets(None, met) is None
