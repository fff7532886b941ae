"""The pages in a real browser at 1280 px and 420 px: no sideways scrolling, legible figures, names on one line.

Headless Chromium will not make a window narrower than 500 px, so every page is laid out in
an iframe of the width under test (its own viewport: the page's media queries apply). One
Chromium process loads all of them; the outer page's load handler measures each one and
writes the figures into the DOM that --dump-dom prints. DLPIPE_SHOTS=DIR also keeps a
screenshot of each page at each width there, for a person to look at.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dlpipe.archive.layers import read_layers
from dlpipe.archive.record import RunRecord
from dlpipe.report import fits
from dlpipe.report.live import render_live

from conftest import ROOT, TINY_SINE, TOY_CLASSIFIER

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTHS = (1280, 420)
MEASURE = """
<script>
window.addEventListener("load", () => {
  const results = {};
  for (const frame of document.querySelectorAll("iframe")) {
    const doc = frame.contentDocument, view = frame.contentWindow;
    const fonts = [...doc.body.querySelectorAll("*")].filter(e => [...e.childNodes].some(
      n => n.nodeType === 3 && n.textContent.trim())).map(e => parseFloat(view.getComputedStyle(e).fontSize));
    results[frame.id] = {
      scroll: doc.documentElement.scrollWidth, width: view.innerWidth, smallest_font: Math.min(...fonts),
      images: [...doc.images].map(i => [i.naturalWidth, i.getBoundingClientRect().width, i.alt]),
      svg_fonts: [...doc.querySelectorAll("svg[role=img]")].map(svg => Math.min(...[...svg.querySelectorAll("text")]
        .map(t => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width *
             parseFloat(view.getComputedStyle(t).fontSize)))).filter(size => size > 0 && size < Infinity),
      wrapped_links: [...doc.querySelectorAll("td a")].filter(a => a.getClientRects().length > 1 ||
        a.getBoundingClientRect().height > 1.6 * parseFloat(view.getComputedStyle(a).lineHeight || 20)).length,
    };
  }
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(results);
  document.body.appendChild(out);
});
</script>"""


def _frames(pages: dict[str, Path]) -> str:
    frames = "".join(f'<iframe id="{name}@{width}" style="width:{width}px;height:3000px;border:0" '
                     f'srcdoc="{html.escape(path.read_text(encoding="utf-8"), quote=True)}"></iframe>'
                     for name, path in pages.items() for width in WIDTHS)
    return f"<!DOCTYPE html><html><body style='margin:0'>{frames}{MEASURE}</body></html>"


def _chromium(tmp_path: Path, *args: str, window: str = "1300,1000") -> str:
    """Chromium's stdout; a message on the pages' JavaScript console (an error in a script) fails the test."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--enable-logging=stderr", "--v=0",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={window}", *args],
                          capture_output=True, text=True, timeout=180)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    return done.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory, request):
    """Every kind of page: an MNIST-format report, a diverged sine report, an init_demo report, the index, a compare
    page, a live page, a sweep page, an evaluation page, the group pages of --repeat and --folds, a report whose
    charts matplotlib drew, and an lr-find page."""
    from click.testing import CliRunner
    from dlpipe.cli import main

    tmp = tmp_path_factory.mktemp("pages")
    toy = request.getfixturevalue("toy_mnist_module")
    out, runner = tmp / "out", CliRunner()

    def run(path, *sets):
        result = runner.invoke(main, ["run", str(path), "--out", str(out), "-q",
                                      *[a for s in sets for a in ("--set", s)]])
        return Path(result.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent

    (tmp / "toy.yaml").write_text(TOY_CLASSIFIER.format(root=toy))
    (tmp / "sine.yaml").write_text(TINY_SINE)
    mnist = run(tmp / "toy.yaml", "training.epochs=3")
    diverged = run(tmp / "sine.yaml", "optimizer={type: sgd, lr: 10}", "data.x_range=[-30, 30]")
    long = tmp / ("a_folder_name_with_nothing_to_break_a_line_at" * 2)  # its path is in the report's header
    long.mkdir()
    shutil.copy(ROOT / "pipelines/init_demo.yaml", long / "init_demo.yaml")
    demo = run(long / "init_demo.yaml", "training.epochs=4", "model.init.weights=normal", "model.init.std=1.0")
    compared = runner.invoke(main, ["compare", "toy", "tiny", "init_demo", "--out", str(out)])
    compare = Path(re.search(r"(\S+\.html)", compared.stdout).group(1))
    swept = runner.invoke(main, ["sweep", str(tmp / "sine.yaml"), "--grid", "optimizer.lr=1.0e-3,1.0e-2",
                                 "--grid", "training.batch_size=32,64", "--out", str(out)])
    sweep = Path(swept.stdout.strip().splitlines()[-1].removeprefix("sweep: "))
    grouped = runner.invoke(main, ["run", str(tmp / "sine.yaml"), "--repeat", "2", "--out", str(out), "-q"])
    group = Path(grouped.stdout.strip().splitlines()[-1].removeprefix("group: "))
    folded = runner.invoke(main, ["run", str(tmp / "sine.yaml"), "--folds", "3", "--out", str(out), "-q"])
    folds = Path(folded.stdout.strip().splitlines()[-1].removeprefix("group: "))
    drawn = run(ROOT / "pipelines/iris.yaml", "training.epochs=8", "report.charts=matplotlib")
    found = runner.invoke(main, ["lr-find", str(tmp / "sine.yaml"), "--out", str(out), "-q"])
    lr_find = Path(found.stdout.strip().splitlines()[-1].removeprefix("page: "))
    evaluated = runner.invoke(main, ["evaluate", str(mnist)])
    evaluation = Path(evaluated.stdout.strip().splitlines()[-1].removeprefix("report: "))
    record = RunRecord.read(mnist)  # the live page of that run as it stood after two of its epochs
    live = tmp / "live.html"
    live.write_text(render_live(record, {k: v[:2] for k, v in record.history.items()}, read_layers(mnist), 3, 0.2))
    return {"mnist": mnist / "report.html", "diverged": diverged / "report.html", "init_demo": demo / "report.html",
            "index": out / "index.html", "compare": compare, "live": live, "sweep": sweep, "evaluation": evaluation,
            "group": group, "folds": folds, "matplotlib": drawn / "report.html", "lr_find": lr_find}


def test_every_page_draws_in_svg_and_the_compare_legend_says_which_run_diverged(pages):
    from dlpipe.report.overlay import overlay_curves

    broken = {"epoch": [1], "time": [0.1], "train_loss": [float("inf")], "val_loss": [float("nan")]}
    fine = {"epoch": [1, 2], "time": [0.1, 0.2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}
    assert "1: sgd (diverged: no finite loss to draw)" in overlay_curves([("1: sgd", broken), ("2: adam", fine)])[0]
    for name in ("compare", "sweep", "group", "evaluation"):
        text = pages[name].read_text()
        assert "data:image/png" not in text or name == "evaluation", name  # (charts are inline SVG now)
    assert "trials by val_loss" in pages["sweep"].read_text() and "(best)" in pages["sweep"].read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's chromium)")
def test_every_page_fits_a_phone_and_a_desktop(pages, tmp_path):
    outer = tmp_path / "all.html"
    outer.write_text(_frames(pages), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", outer.as_uri())
    measured = json.loads(html.unescape(re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S).group(1)))
    assert len(measured) == len(pages) * len(WIDTHS)
    for key, page in measured.items():
        width = int(key.split("@")[1])
        assert page["width"] == width, key
        assert page["scroll"] <= width, f"{key}: the page is {page['scroll']} px wide in a {width} px window"
        assert page["smallest_font"] >= 11, f"{key}: text at {page['smallest_font']} px"
        assert page["wrapped_links"] == 0, f"{key}: a run name wraps over several lines"
        assert all(size >= 10.95 for size in page["svg_fonts"]), f"{key}: chart text at {page['svg_fonts']} px"
        for natural, shown, alt in page["images"]:
            assert natural > 0, f"{key}: image {alt!r} did not decode"
            assert shown <= width, f"{key}: image {alt!r} is wider than the window"
            if width == 1280:  # desktop: figures at full size, never shrunk
                assert shown >= min(natural, 1130) - 1, f"{key}: {alt!r} shown at {shown} of {natural} px"
    assert len(measured["init_demo@420"]["svg_fonts"]) >= 5 + 2 + 2 + 1  # network, losses, r2 and lr, fit: on a phone
    assert len(measured["mnist@420"]["svg_fonts"]) >= 4 + 2  # learning curves and the confusion matrices
    assert measured["live@420"]["images"] == []  # the live page draws inline SVG: nothing to decode
    if os.environ.get("DLPIPE_SHOTS"):  # for a person to look at: each page at each width
        folder = Path(os.environ["DLPIPE_SHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in pages.items():
            for width in WIDTHS:
                one = tmp_path / f"{name}-{width}.html"
                one.write_text(f'<body style="margin:0"><iframe style="width:{width}px;height:6000px;border:0" '
                               f'srcdoc="{html.escape(path.read_text(encoding="utf-8"), quote=True)}"></iframe>')
                _chromium(tmp_path, f"--screenshot={folder / f'{name}-{width}.png'}", one.as_uri(),
                          window=f"{max(width, 500)},6000")


def _smallest_text(svg_text: str) -> float:
    """The smallest font size (px at the chart's full width) of any text in an SVG chart."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg_text)
    inherited = float(root.get("font-size"))
    return min(float(t.get("font-size", inherited)) for t in root.iter("text"))


def test_chart_text_is_at_least_11_px_on_a_phone():
    """Every report chart is inline SVG whose text stays >= 11 px when the chart is 381 px wide (a 420 px phone)."""
    import numpy as np

    from dlpipe.report import charts, classes

    history = {"epoch": [1, 2, 3], "time": [0.1, 0.2, 0.3], "train_loss": [1, 0.5, 0.3], "val_loss": [1, 0.6, 0.5],
               "train_accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.7], "val_f1": [0.4, 0.5, 0.6],
               "lr": [0.1, 0.05, 0.01]}
    matrix = np.random.default_rng(0).integers(0, 1200, (10, 10))
    report = fits.ClassReport(tuple("0123456789"), matrix, [], [], [])
    grid = np.linspace(-1, 1, 20)
    drawn = [*charts.learning_curves(history), *charts.lr_chart(history), *charts.metric_charts(history),
             *classes.confusion_heatmaps(report), *fits.regression_fit(fits.FitCurve({"train": (grid, grid)}, grid,
                                                                                     grid, grid)),
             *fits.predicted_vs_true(fits.Predictions(grid, grid * 0.9))]
    assert len(drawn) == 4 + 1 + 1 + 2 + 1 + 2
    for chart in drawn:
        width = float(chart.split('viewBox="0 0 ', 1)[1].split()[0])
        assert _smallest_text(chart) * 381 / width >= 10.95, (chart[:120], width)
