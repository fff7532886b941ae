"""`dlpipe figures` and `report: {charts: matplotlib}`: every chart of real runs of each task drawn by matplotlib
from the run's own files, PDFs that open and render with their fonts, overlays, files never replaced, and a run that
does not ask for matplotlib never imports it (tests/test_layout.py runs one in a fresh process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest

import dlpipe
from dlpipe.report.figures import FiguresError, write_figures

from conftest import ROOT, TINY_SINE, TOY_CLASSIFIER

SERIES = ("name: temps\nseed: 2\ndata: {type: series, path: s.csv, column: temp, time: month, window: 6}\n"
          "model: {layers: [{type: flatten}, {type: linear, units: 8, activation: tanh}, {type: linear, units: 1}]}\n"
          "training: {epochs: 6, batch_size: 16}\n")
TEXT = ("name: msgs\nseed: 1\ndata: {type: table, path: m.csv, target: label, text: {columns: [message]}}\n"
        "model: {layers: [{type: linear, units: 2}]}\noptimizer: {type: adam, lr: 5.0e-2}\n"
        "training: {epochs: 6, batch_size: 16}\n")
# What each task's report draws that the others do not: the figure files that must be there.
EXPECTED = {"regression": ["regression-fit"], "series": ["over-the-test-period", "residuals"],
            "classification": ["confusion-matrix", "per-class", "reliability", "importance"],
            "text": ["confusion-matrix", "per-class"], "images": ["confusion-matrix", "per-class"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, toy_mnist_module):
    folder = tmp_path_factory.mktemp("figures")
    values = np.round(np.sin(np.arange(160) / 5.0) * 3 + 20, 3)
    (folder / "s.csv").write_text("month,temp\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    (folder / "m.csv").write_text("label,message\n" + "".join(
        f"{'spam' if i % 2 else 'ham'},{'win cash prize now' if i % 2 else 'lunch at noon'} {i}\n" for i in range(80)))
    specs = {"regression": TINY_SINE, "series": SERIES, "text": TEXT,
             "images": TOY_CLASSIFIER.format(root=toy_mnist_module)}
    made = {}
    for task, spec in specs.items():
        (folder / f"{task}.yaml").write_text(spec)
        made[task] = dlpipe.run(folder / f"{task}.yaml", set={"training.epochs": 2} if task == "images" else None,
                                out=folder / "out", quiet=True)
    made["classification"] = dlpipe.run(ROOT / "pipelines/iris.yaml", set={"training.epochs": 10, "report.charts":
                                                                          "matplotlib"}, out=folder / "out", quiet=True)
    assert all(run.status == "completed" for run in made.values())
    return made


# Each task's figures in a format and style of their own (one drawing each keeps the suite short): the series in
# ggplot's style, the images in a .mplstyle file's, the text run as PDFs that poppler renders.
DRAWN = {"regression": ("svg", None), "series": ("svg", "ggplot"), "images": ("svg", "file"), "text": ("pdf", None),
         "classification": ("svg", None)}


@pytest.mark.parametrize("task", list(EXPECTED))
def test_every_chart_of_each_tasks_report_is_a_figure(runs, task, tmp_path):
    run, (fmt, style) = runs[task], DRAWN[task]
    if style == "file":
        style = tmp_path / "paper.mplstyle"
        style.write_text("axes.grid: True\nlines.linewidth: 3\n")
    charts = json.loads((run.path / "charts.json").read_text())["charts"]
    written = write_figures([run.path], tmp_path / "out", fmt, str(style) if style else None)
    names = [path.name for path in written]
    assert len(written) == len(charts) + sum(any(k in n for n in names) for k in ("confusion", "per-class",
                                                                                  "importance", "mistakes"))
    for kind in EXPECTED[task]:
        assert any(kind in name for name in names), (kind, names)
    assert any("loss-by-epoch" in name for name in names)
    mistaken = json.loads((run.path / "charts.json").read_text())["mistakes"]  # (an image run with mistakes)
    assert any("mistakes-and-saliency" in name for name in names) == bool(mistaken)
    for path in written:
        if fmt == "svg":  # a whole SVG with something drawn in it
            root = ElementTree.parse(path).getroot()
            assert root.tag.endswith("svg") and len(list(root.iter())) > 20, path
        else:
            assert path.read_bytes().startswith(b"%PDF-")
    if fmt == "pdf" and shutil.which("pdftoppm"):  # (.ci/run installs poppler-utils; elsewhere this part skips)
        for path in [p for p in written if "loss-by-epoch" in p.name or "confusion" in p.name]:
            subprocess.run(["pdftoppm", "-png", "-r", "40", "-singlefile", str(path), str(path.with_suffix(""))],
                           check=True, capture_output=True)
            from PIL import Image

            image = np.asarray(Image.open(path.with_suffix(".png")).convert("L"))
            assert image.shape[1] > 100 and image.min() < 100 < image.max(), path  # drawn: dark ink on white
            fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout.splitlines()[2:]
            assert fonts and all(" yes " in line for line in fonts), fonts  # every font embedded


def test_an_unknown_style_is_refused_with_the_styles_there_are(runs, tmp_path):
    with pytest.raises(FiguresError, match="no such matplotlib style or .mplstyle file .styles: .*ggplot"):
        write_figures([runs["series"].path], tmp_path, "svg", "no-such-style")
    assert not tmp_path.joinpath("x").exists() and not any(tmp_path.iterdir())


def test_several_runs_are_overlaid_and_files_are_never_replaced(runs, cli, tmp_path):
    out = runs["classification"].path.parent.parent
    done = cli("figures", runs["classification"].path, runs["text"].path, "--out", out, "-o", tmp_path, "--format",
               "png")
    assert done.exit_code == 0, done.output
    assert sum("compare-loss-by-epoch" in line for line in done.stdout.splitlines()) == 1
    again = cli("figures", runs["classification"].path, runs["text"].path, "--out", out, "-o", tmp_path)
    assert again.exit_code == 0  # pdf this time: other files
    refused = cli("figures", runs["classification"].path, runs["text"].path, "-o", tmp_path, "--format", "png")
    assert refused.exit_code == 2 and "already exists; pass --force" in refused.stderr
    inside = cli("figures", runs["text"].path, "-o", runs["text"].path / "figs")
    assert inside.exit_code == 2 and "run" in inside.stderr and not (runs["text"].path / "figs").exists()


def test_without_matplotlib_the_message_names_the_extra(runs, cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails, as where it is missing
    done = cli("figures", runs["regression"].path, "-o", tmp_path)
    assert done.exit_code == 2 and "pip install 'dlpipe[plots]'" in done.stderr


def test_a_report_drawn_by_matplotlib_draws_the_report_s_own_charts_and_says_so(runs):
    """iris with report: {charts: matplotlib}: every chart of its page is matplotlib's, and each is a chart of
    charts.json, the one description the built-in SVG draws too (the two cannot disagree)."""
    from dlpipe.report.svg import Chart, render

    run = runs["classification"]
    kept = json.loads((run.path / "charts.json").read_text())
    page = run.report_path.read_text()
    assert kept["drawn_by"] == "matplotlib" and "charts drawn by matplotlib" in page
    assert page.count('viewBox="0 0 388.8 216"') == len(kept["charts"]) >= 8  # matplotlib's 5.4 x 3 in, each
    for chart in map(Chart.from_json, kept["charts"]):
        assert f'aria-label="{chart.title}"' in page and f'aria-label="{chart.title}"' in render(chart)


def test_the_mistakes_are_drawn_beside_their_saliency(tmp_path):
    """An image run's most confident mistakes (kept in charts.json as the report's PNG tiles), drawn as a grid."""
    import base64

    from dlpipe.report import mpl
    from dlpipe.report.classes import png

    rng = np.random.default_rng(0)
    encoded = lambda: base64.b64encode(png(rng.integers(0, 255, (28, 28), dtype=np.uint8))).decode()  # noqa: E731
    found = [{"png": encoded(), "saliency": encoded(), "true": "3", "predicted": "8", "confidence": "97%"}
             for _ in range(5)]
    fig = mpl.tiles(found, "Confident mistakes, and saliency")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 10 and fig.axes[0].get_title() == "3 as 8 97%"  # each image and its map, captioned
    fig.savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 5000
