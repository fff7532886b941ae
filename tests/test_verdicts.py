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
    """The advice followed on the corpus (docs/guide/report.md: every case got better or stayed; now
    benchmarks/advice.py): the words must still say that change."""
    names = [f.name for f in CURVES]
    said = {name: judge(*(lambda h, m: (h, tuple(m["usual_lr"])))(*case(CURVES[names.index(name)]))).advice
            for name in ("init_demo", "houses_150", "sine_lr_1", "sine_lr_1e-5", "iris_sgd_1e-4")}
    assert "add a schedule that decays it (scheduler: {type: cosine}) and give it about twice the epochs" in \
        said["init_demo"]
    assert "stop early (training.early_stopping)" in said["houses_150"]
    assert "try a tenth of it" in said["sine_lr_1"] and "10x is a good first try" in said["sine_lr_1e-5"]
    assert all("dlpipe lr-find PIPELINE measures one" in said[name] for name in ("sine_lr_1", "sine_lr_1e-5"))
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


def test_two_last_epochs_above_the_minimum_are_not_overfitting():
    """The diamond-price run of the issue: 20 epochs, the validation loss at its lowest in epoch 18, then up 45 %
    over two epochs while the training loss wobbles: too few epochs to tell a rise from noise."""
    val = [0.30, 0.12, 0.08, 0.06, 0.05, 0.045, 0.041, 0.038, 0.036, 0.034, 0.032, 0.031, 0.030, 0.029, 0.028,
           0.027, 0.026, 0.024, 0.031, 0.035]
    train = [0.40, 0.15, 0.10, 0.08, 0.065, 0.058, 0.052, 0.048, 0.045, 0.043, 0.041, 0.040, 0.039, 0.038, 0.037,
             0.036, 0.0355, 0.0303, 0.0318, 0.0310]
    assert judge({"train_loss": train, "val_loss": val}).kind != "overfitting"
    longer = {"train_loss": train + [0.030 - 0.001 * i for i in range(8)],  # six more epochs of a steady rise
              "val_loss": val + [0.037 + 0.003 * i for i in range(8)]}
    assert judge(longer).kind == "overfitting"


SETTINGS = {"constant": dict(lr=1.0e-2, epochs=20, scheduler=None, kept_best=False),
            "scheduled, early stopping": dict(lr=3.0e-3, epochs=60, scheduler="cosine", kept_best=True)}


@pytest.mark.parametrize("kind", sorted(__import__("dlpipe.report.advice", fromlist=["ADVICE"]).ADVICE))
@pytest.mark.parametrize("run", list(SETTINGS))
def test_every_suggestion_is_a_set_line_a_pipeline_accepts_and_changes_what_the_advice_says(kind, run, tmp_path):
    from dlpipe.language.loader import load_pipeline
    from dlpipe.report.advice import Settings, advise
    from dlpipe.report.verdict import Verdict

    from conftest import TINY_SINE

    settings = Settings(**SETTINGS[run])
    verdict = advise(Verdict(kind, "validation loss has risen 10% since epoch 12: regularise, or stop early "
                                   "(training.early_stopping)"), settings, best_epoch=12)
    if kind in ("overfitting", "generalisation gap") and settings.kept_best:  # never advised twice
        assert verdict.suggest == () and "early stopping kept the weights of its best epoch (epoch 12)" in \
            verdict.advice and "training.early_stopping)" not in verdict.advice
        return
    assert verdict.suggest, kind
    path = tmp_path / "p.yaml"
    path.write_text(TINY_SINE.replace("lr: 1.0e-2", f"lr: {settings.lr}").replace("epochs: 5", f"epochs: "
                                                                                      f"{settings.epochs}"))
    before = load_pipeline(path).pipeline
    after = load_pipeline(path, tuple(verdict.suggest)).pipeline
    changed = {line.split("=", 1)[0] for line in verdict.suggest}
    assert before.model_dump() != after.model_dump() and changed
    if "optimizer.lr" in changed:
        ratio = after.optimizer.lr / before.optimizer.lr
        assert ratio == pytest.approx({"diverging": 0.1, "learning rate too high": 0.1, "plateau": 10,
                                       "learning rate too low": 10, "noisy": 1 / 3}[kind], rel=0.01)
    if "training.epochs" in changed:
        assert after.training.epochs == 2 * before.training.epochs


def test_a_run_prints_its_advice_as_a_line_that_runs(cli, write_yaml, tmp_path):
    from conftest import TINY_SINE

    done = cli("run", write_yaml(TINY_SINE.replace("epochs: 5", "epochs: 2")), "--out", tmp_path / "o")
    first = next(tmp_path.glob("o/tiny/*/metrics.json"))
    record = json.loads(first.read_text())
    assert record["verdict"]["kind"] == "still improving" and record["verdict"]["suggest"] == ["training.epochs=4"]
    line = next(line for line in done.output.splitlines() if line.startswith("try: dlpipe run "))
    assert line.endswith("pipeline.yaml --set training.epochs=4")
    assert "--set training.epochs=4" in (next(tmp_path.glob("o/tiny/*/report.html"))).read_text()
    import shlex

    args = shlex.split(line.removeprefix("try: dlpipe "))
    again = cli(*args, "--out", tmp_path / "o", "-q")
    assert again.exit_code == 0, again.output
    runs = sorted(tmp_path.glob("o/tiny/*/metrics.json"))
    followed = next(path for path in runs if path != first)
    assert len(runs) == 2 and (followed.parent / "history.csv").read_text().count("\n") == 1 + 4
