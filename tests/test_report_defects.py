"""Issue 17's first defects, each checked on the figure's data or the printed text."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from dlpipe.report import fits, plots

from conftest import TINY_SINE


def test_precision_recall_and_f1_share_one_panel():
    history = {"epoch": [1, 2], "val_loss": [1, 0.5], "val_accuracy": [0.5, 0.7], "val_precision": [0.4, 0.6],
               "val_top_3_accuracy": [0.8, 0.9], "val_recall": [0.5, 0.6], "val_f1": [0.45, 0.6]}
    assert plots.metric_panels(history) == [["val_precision", "val_recall", "val_f1"], ["val_top_3_accuracy"]]
    assert plots.metric_curves(history)  # draws


def test_the_dashed_true_function_is_drawn_over_the_prediction():
    grid = np.linspace(-3, 3, 50)
    curve = fits.FitCurve({"train": (grid, np.sin(grid))}, grid, np.sin(grid), np.sin(grid))  # a perfect fit
    lines = {line.get_label(): line for line in fits.fit_figure(curve).axes[0].get_lines()}
    truth, prediction = lines["true function"], lines["model prediction"]
    assert truth.get_zorder() > prediction.get_zorder() and truth.get_linestyle() == "--"
    assert prediction.get_linewidth() > truth.get_linewidth()  # the prediction shows on both sides of the dashes


def test_run_prints_the_status_once_and_the_verdict_at_the_end(cli, write_yaml, tmp_path):
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path)
    assert result.exit_code == 0
    assert (result.stdout + result.stderr).count("status:") == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-3].startswith("verdict: ") and lines[-2].startswith("network: ") and lines[-1].startswith("report: ")
    shown = cli("runs", "--out", tmp_path, "show", "tiny")
    assert "5 epochs on cpu" in shown.stdout
    metrics = next(tmp_path.glob("tiny/*/metrics.json"))
    data = json.loads(metrics.read_text())
    data["test"]["loss"], data["history_note"] = None, "a diverged run stores NaN as null"
    metrics.write_text(json.dumps(data))
    shown = cli("runs", "--out", tmp_path, "show", "tiny")
    assert "  test loss           n/a (not a finite number)" in shown.stdout


def test_numbers_are_formatted_for_people():
    from dlpipe.report.pages import human

    cases = {-8210606135350638005139939058549824421888.0: "-8.211e+39", float("inf"): "inf", float("nan"): "NaN",
             0.98304: "0.983", 0.0001234: "1.234e-04", 123456.0: "1.235e+05", 42: "42", None: "", 0.0: "0"}
    for value, text in cases.items():
        assert human(value) == text, (value, human(value))
    assert max(len(human(v)) for v in cases) <= 10  # no cell can push the index table off the page


def test_compare_shows_yaml_and_warns_when_losses_differ(cli, write_yaml, tmp_path, monkeypatch):
    from conftest import ROOT

    drawn = []
    original = plots.overlay_curves
    monkeypatch.setattr(plots, "overlay_curves", lambda runs: drawn.append([label for label, _ in runs]) or original(runs))
    for path in (write_yaml(TINY_SINE), ROOT / "pipelines" / "iris.yaml"):
        assert cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=2").exit_code == 0
    result = cli("compare", "tiny", "iris", "--out", tmp_path)
    assert result.exit_code == 0
    assert "warning: these runs are not comparable by loss: classification with cross_entropy; regression with mse" \
        in result.stderr
    page = next((tmp_path / "comparisons").glob("*.html")).read_text()
    assert "Learning curves (mse)" in page and "Learning curves (cross_entropy)" in page and "not comparable" in page
    assert "<code>[accuracy, f1]</code>" in page and "<code>true</code>" in page  # YAML, not Python reprs
    assert "[&#39;accuracy&#39;" not in page and "<code>True</code>" not in page
    assert [[label.split(":")[0] for label in plot] for plot in drawn] == [["1"], ["2"]]  # numbered as in the table


def test_a_diverged_history_plots_what_is_finite_and_marks_where_it_broke():
    history = {"epoch": [1, 2, 3], "time": [0.1, 0.2, 0.3], "train_loss": [1.0, 0.5, float("inf")],
               "val_loss": [1.1, 0.6, float("nan")], "val_r2": [0.1, 0.3, float("nan")]}
    assert plots._first_non_finite(history["train_loss"], history["val_loss"]) == 2
    assert np.isnan(plots.finite(history["train_loss"])[2]) and plots.finite([1.0, 2.0]).tolist() == [1.0, 2.0]
    ax = plots.curves_figure(history).axes[0]
    low, high = ax.get_ylim()
    assert 0.4 < low < 0.6 and 1.0 < high < 1.2  # scaled to the finite losses, not -0.04..0.04
    assert "loss NaN or inf (epoch 3)" in [line.get_label() for line in ax.get_lines()]
    assert plots.metric_curves(history)
    at_once = plots.curves_figure({**history, "train_loss": [float("inf")] * 3, "val_loss": [float("nan")] * 3})
    assert "no finite loss to draw: it was NaN or inf from epoch 1" in [t.get_text() for t in at_once.axes[0].texts]
    marked = plots.curves_figure(history, diverged_at=(3, 5, 20)).axes[0]  # the batch, at its share of the epoch
    line = next(line for line in marked.get_lines() if "NaN or inf" in line.get_label())
    assert line.get_label() == "loss NaN or inf (epoch 3, batch 5 of 20)" and line.get_xdata()[0] == 2.25


def test_a_real_diverged_run_reports_the_batch_where_the_loss_broke(cli, write_yaml, tmp_path, monkeypatch):
    drawn = []
    original = plots.curves_figure
    monkeypatch.setattr(plots, "curves_figure", lambda *args: drawn.append(args) or original(*args))
    cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", "--set", "optimizer={type: sgd, lr: 10}",
        "--set", "data.x_range=[-30, 30]")
    metrics = json.loads(next(tmp_path.glob("tiny/*/metrics.json")).read_text())
    assert metrics["status"] == "diverged"
    epoch, batch = map(int, re.search(r"in epoch (\d+), batch (\d+)", metrics["message"]).groups())
    assert drawn[-1][2][:2] == (epoch, batch)  # the report's loss figure marks that batch
    assert "diverged" in next(tmp_path.glob("tiny/*/report.html")).read_text()


def test_the_fit_panel_keeps_the_datas_range_when_the_prediction_runs_away():
    grid = np.linspace(-3, 3, 50)
    curve = fits.FitCurve({"train": (grid, np.sin(grid))}, grid, np.sin(grid), grid * 1e19)
    ax = fits.fit_figure(curve).axes[0]
    low, high = ax.get_ylim()
    assert -1.5 < low < -1.0 and 1.0 < high < 1.5 and "leaves the data's range" in ax.get_title()


def test_the_confusion_matrix_is_legible_and_shows_the_errors():
    matrix = np.array([[95, 3, 2], [1, 97, 2], [0, 10, 90]])
    report = fits.ClassReport(("0", "1", "2"), matrix, [], [], [])
    fig = fits.confusion_figure(report)
    counts, errors = fig.axes[0], fig.axes[1]  # (then the two colour bars)
    texts = [t for ax in (counts, errors) for t in ax.texts]
    assert texts and min(t.get_fontsize() for t in texts) >= 11  # >= 11 px at 1280 px (was 7)
    assert all(label.get_rotation() == 0 for label in counts.get_xticklabels())  # short names: no tilt
    shown = errors.get_images()[0].get_array()
    assert shown.mask[0, 0] and shown.mask[2, 2] and not shown.mask[2, 1]  # the diagonal does not set the scale
    assert errors.get_images()[0].get_clim()[1] == pytest.approx(0.10)  # the worst error is the darkest red
    tilted = fits.confusion_figure(fits.ClassReport(("T-shirt/top", "Trouser", "Pullover"), matrix, [], [], []))
    assert all(label.get_rotation() == 30 for label in tilted.axes[0].get_xticklabels())
