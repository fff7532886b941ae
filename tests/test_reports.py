"""Reports that teach: verdicts, the run index, `dlpipe runs`, `dlpipe compare`, the environment, a real browser."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dlpipe.report.verdict import judge

from conftest import ROOT, TOY_CLASSIFIER, TINY_SINE


def history(train, val):
    return {"train_loss": list(train), "val_loss": list(val)}


ADVICE = {"good": "levelled off", "diverging": "lower the learning rate", "plateau": "raise the learning rate",
          "overfitting": "regularise", "noisy": "schedule that decays it", "still improving": "train for more epochs",
          "generalisation gap": "memorising the training set"}
# pipelines/mnist.yaml as it ran here (seed 42): training loss down to 0.014, validation still falling a little at
# the end; not a gap to act on: 30 epochs instead of 10 gave the same accuracy and a 45 % higher validation loss
# (tests/fixtures/curves/mnist, benchmarks/verdicts.py)
MNIST_TRAIN = [0.5776, 0.1929, 0.1408, 0.1098, 0.0855, 0.0621, 0.0429, 0.0262, 0.0183, 0.0141]
MNIST_VAL = [0.2511, 0.1476, 0.1227, 0.099, 0.0962, 0.0829, 0.0734, 0.0706, 0.0676, 0.0683]
EPOCHS = np.arange(1, 41)
SMOOTH = np.exp(-EPOCHS / 4) + 0.05  # falls fast, then levels off


@pytest.mark.parametrize("name, hist, kind", [
    ("steady fall", history(SMOOTH, SMOOTH * 1.1), "good"),
    ("nan", history([1.0, 0.5, float("nan")], [1.0, 0.6, float("nan")]), "diverging"),
    ("rising", history([1.0, 0.5, 0.7, 2.0, 9.0], [1.0, 0.5, 0.8, 3.0, 12.0]), "diverging"),
    ("flat", history(np.full(40, 0.7) - EPOCHS * 1e-4, np.full(40, 0.75)), "plateau"),
    ("overfit", history(SMOOTH, np.concatenate([SMOOTH[:15] * 1.1, SMOOTH[14] * 1.1 + 0.004 * np.arange(1, 26)])),
     "overfitting"),
    ("jumpy", history(SMOOTH, SMOOTH * (1 + 0.5 * (EPOCHS % 2))), "noisy"),
    ("not converged", history(np.linspace(1.0, 0.2, 40), np.linspace(1.1, 0.25, 40)), "still improving"),
    ("memorising", history(np.exp(-EPOCHS / 4) * 0.5 + 0.005, np.exp(-EPOCHS / 4) * 0.5 + 0.1), "generalisation gap"),
    ("a constant gap", history(SMOOTH, SMOOTH * 3.5), "good"),  # 3.5x from the start: not a widening gap
    ("the MNIST MLP", history(MNIST_TRAIN, MNIST_VAL), "good"),
])
def test_verdict_on_synthetic_histories(name, hist, kind):
    verdict = judge(hist)
    assert verdict.kind == kind, (name, verdict)
    assert ADVICE[kind] in verdict.advice  # the advice that fits the diagnosis, not just any text


def test_the_generalisation_gap_names_the_epoch_the_validation_loss_went_flat():
    verdict = judge(history(np.exp(-EPOCHS / 4) * 0.5 + 0.005, np.exp(-EPOCHS / 4) * 0.5 + 0.1))
    assert verdict.epoch == 19 and "flat since epoch 19" in verdict.advice and "19.9x below it" in verdict.advice


def test_overfitting_names_the_epoch_it_starts():
    val = np.concatenate([SMOOTH[:15] * 1.1, SMOOTH[14] * 1.1 + 0.004 * np.arange(1, 26)])
    assert judge(history(SMOOTH, val)).epoch == 15


def run_dir_of(cli, path, out, *sets):
    result = cli("run", path, "--out", out, "-q", *[a for s in sets for a in ("--set", s)])
    return result, Path(result.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent


@pytest.mark.parametrize("sets, kind", [
    (["optimizer={type: sgd, lr: 10}", "data.x_range=[-30, 30]"], "diverging"),
    (["optimizer.lr=1.0e-7", "training.epochs=50"], "plateau"),
    (["training.epochs=60", "scheduler={type: cosine}"], "good"),
])
def test_real_sine_runs_get_the_right_verdict(cli, tmp_path, sets, kind):
    result, run_dir = run_dir_of(cli, ROOT / "pipelines/sine.yaml", tmp_path, *sets)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["verdict"]["kind"] == kind, metrics["verdict"]
    assert f"Learning curves: {kind}</b>" in (run_dir / "report.html").read_text()


def test_index_lists_every_run_and_links_its_report(cli, write_yaml, tmp_path):
    path, out = write_yaml(TINY_SINE), tmp_path / "out"
    for seed in (1, 2):
        run_dir_of(cli, path, out, f"seed={seed}")
    index = (out / "index.html").read_text()
    links = [line.split('href="')[1].split('"')[0] for line in index.splitlines() if 'href="' in line]
    assert len(links) == 2 and all((out / link).is_file() for link in links)
    assert "r2" in index and "addEventListener" in index and "http" not in index
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "tiny"]  # no temporary files left


def test_runs_lists_filters_and_shows(cli, write_yaml, tmp_path):
    run_dir_of(cli, write_yaml(TINY_SINE), tmp_path)
    run_dir_of(cli, write_yaml(TINY_SINE.replace("name: tiny", "name: other"), "other.yaml"), tmp_path)
    listing = cli("runs", "--out", tmp_path)
    assert listing.exit_code == 0 and "tiny/" in listing.stdout and "other/" in listing.stdout
    only = cli("runs", "--out", tmp_path, "--name", "other")
    assert "other/" in only.stdout and "tiny/" not in only.stdout
    shown = cli("runs", "--out", tmp_path, "show", "tiny")
    assert shown.exit_code == 0 and "test r2" in shown.stdout and "report.html" in shown.stdout
    assert cli("runs", "--out", tmp_path, "show", "nope").exit_code == 2
    assert cli("runs", "--out", tmp_path / "empty").exit_code == 2


def test_compare_overlays_runs_and_highlights_the_best(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    _, first = run_dir_of(cli, path, tmp_path)
    _, second = run_dir_of(cli, path, tmp_path, "optimizer.lr=3.0e-2", "training.epochs=20")
    result = cli("compare", first, second, "--out", tmp_path)
    assert result.exit_code == 0
    html = Path(result.stdout.split("comparison: ")[1].strip()).read_text()
    assert first.name in html and second.name in html
    assert "Loss by epoch (solid: validation, dashed: train)" in html and "<svg" in html
    assert "<code>optimizer.lr</code>" in html and "<code>training.epochs</code>" in html
    better = 0 if json.loads((first / "metrics.json").read_text())["test"]["r2"] > \
        json.loads((second / "metrics.json").read_text())["test"]["r2"] else 1
    r2_row = html.split("<td>r2</td>")[1].split("</tr>")[0]
    assert r2_row.split("<td")[better + 1].startswith(' class="num best"')
    assert cli("compare", first, "--out", tmp_path).exit_code == 2


def test_environment_is_recorded(cli, toy_mnist, write_yaml, tmp_path):
    folder, _ = toy_mnist
    path = write_yaml(TOY_CLASSIFIER.format(root=folder))
    _, run_dir = run_dir_of(cli, path, tmp_path / "out", "training.epochs=1")
    env = json.loads((run_dir / "metrics.json").read_text())["environment"]
    for key in ("dlpipe", "python", "torch", "numpy", "platform", "cpu", "threads", "device", "command"):
        assert env[key] not in ("", None), key
    assert env["pipeline_sha256"] == hashlib.sha256(path.read_text().encode()).hexdigest()
    assert len(env["data_files"]) == 4
    for file, digest in env["data_files"].items():
        assert hashlib.sha256(Path(file).read_bytes()).hexdigest() == digest
    assert env["pipeline_sha256"] in (run_dir / "report.html").read_text()
