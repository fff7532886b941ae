"""The report: self-contained, escaped, and showing what a run did."""

from __future__ import annotations

import re

from conftest import TINY_SINE


def make_report(cli, write_yaml, tmp_path, *sets) -> str:
    args = [a for s in sets for a in ("--set", s)]
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "-q", *args)
    assert result.exit_code == 0, result.output
    return next(tmp_path.rglob("report.html")).read_text()


def test_report_has_no_external_url(cli, write_yaml, tmp_path):
    html = make_report(cli, write_yaml, tmp_path)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)  # base64 may contain "//"
    assert not re.search(r"(https?:)?//[a-z0-9]", text, re.I)
    assert not re.search(r"<(script|link|iframe)\b", html, re.I)
    sources = re.findall(r'src="([^"]*)"', html)  # the charts are inline SVG; images (mistakes) are data: URLs
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert html.count("<svg viewBox") >= 7


def test_yaml_strings_are_escaped(cli, write_yaml, tmp_path):
    html = make_report(cli, write_yaml, tmp_path, "description=<script>alert(1)</script>", "name=<b>x</b>")
    assert "<script>" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_shows_header_metrics_figures_summary_and_yaml(cli, write_yaml, tmp_path):
    html = make_report(cli, write_yaml, tmp_path, "description=A tiny sine")
    for fragment in ("A tiny sine", "completed", "UTC", "cpu", "<h2>Test metrics</h2>", "loss (mse)",
                     "Learning curves", "Data, true function and model prediction", "(N, 16)",
                     "Resolved pipeline", "type: sine"):
        assert fragment in html, fragment
    charts = re.findall(r'<svg viewBox="[^"]*" role="img" aria-label="([^"]*)"', html)  # one inline SVG per chart
    assert charts[:2] == ["Loss by epoch", "Loss by wall time"]
    assert [c for c in charts if c.endswith("(validation)")] == [f"{m} (validation)" for m in ("mse", "rmse", "mae", "r2")]
    assert charts.count("Regression fit") == 1
    assert len([c for c in charts if c.startswith(("weight", "gradient", "activation", "saturated", "dead"))]) == 5
    assert "dead ReLU" not in " ".join(charts)  # tanh: no dead-ReLU chart


def test_linear_report_shows_learned_w_and_b(cli, tmp_path):
    from conftest import ROOT

    result = cli("run", ROOT / "pipelines/linear.yaml", "--out", tmp_path, "-q")
    assert result.exit_code == 0
    html = next(tmp_path.rglob("report.html")).read_text()
    assert "Learned parameters" in html
    assert re.search(r"<td>w</td><td class=\"num\">1\.9\d|<td>w</td><td class=\"num\">2\.0", html)
