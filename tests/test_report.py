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
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


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
    alts = re.findall(r'<img alt="([^"]*)"', html)  # one image per panel
    assert [a for a in alts if a.startswith("Learning curves")] == ["Learning curves, panel 1", "Learning curves, panel 2"]
    assert len([a for a in alts if a.startswith("Validation metrics")]) == 4  # mse, rmse, mae, r2
    assert alts.count("Data, true function and model prediction") == 1
    assert html.count('<svg viewBox') == 5  # the network's statistics as inline SVG; no dead-ReLU chart: tanh


def test_linear_report_shows_learned_w_and_b(cli, tmp_path):
    from conftest import ROOT

    result = cli("run", ROOT / "pipelines/linear.yaml", "--out", tmp_path, "-q")
    assert result.exit_code == 0
    html = next(tmp_path.rglob("report.html")).read_text()
    assert "Learned parameters" in html
    assert re.search(r"<td>w</td><td class=\"num\">1\.9\d|<td>w</td><td class=\"num\">2\.0", html)
