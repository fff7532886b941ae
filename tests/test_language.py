"""Warnings, the validate summary, `dlpipe init`, and where each archived value came from."""

from __future__ import annotations

import pytest

from dlpipe.model.checks import check_pipeline
from dlpipe.data.sources import read_pipeline
from dlpipe.language.loader import load_pipeline

from conftest import ROOT, TINY_SINE


@pytest.mark.parametrize("override, fragment", [
    ("model.layers.1.activation=relu", "warning: model.layers.1: relu outputs only values in [0, inf] but the "
                                       "targets span [-1, 1]"),
    ("model.layers.1.activation=sigmoid", "sigmoid outputs only values in [0, 1]"),
    ("optimizer.lr=0.5", "warning: optimizer.lr: 0.5 is far outside the usual range for adam (1e-05 to 0.003): "
                         "training will likely diverge"),
    ("optimizer.lr=1.0e-9", "training will barely move"),
])
def test_pitfall_warnings_do_not_stop_the_run(cli, write_yaml, override, fragment):
    result = cli("validate", write_yaml(TINY_SINE), "--set", override)
    assert result.exit_code == 0
    assert fragment in result.stderr


def test_no_warnings_for_the_shipped_pipelines():
    for path in sorted((ROOT / "pipelines").glob("*.yaml")):
        assert check_pipeline(read_pipeline(path)).warnings == "", path


def test_tanh_output_for_a_sine_in_range_is_fine(write_yaml):
    loaded = load_pipeline(write_yaml(TINY_SINE), ("model.layers.1.activation=tanh",))
    assert check_pipeline(loaded).warnings == ""


def test_validate_summary_names_the_yaml_line_of_each_layer(cli):
    result = cli("validate", ROOT / "pipelines/mnist_cnn.yaml")
    rows = [line.split() for line in result.stdout.splitlines() if line[:1].isdigit()]
    text = (ROOT / "pipelines/mnist_cnn.yaml").read_text().splitlines()
    assert len(rows) == 8
    for row in rows:
        assert "type:" in text[int(row[1]) - 1]  # the line column points at the layer's own line
    assert "conv2d" in text[int(rows[0][1]) - 1] and "(N, 32, 28, 28)" in " ".join(rows[0])


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_init_writes_a_commented_pipeline_that_validates(cli, tmp_path, kind):
    path = tmp_path / "new" / f"{kind}.yaml"
    result = cli("init", kind, path)
    assert result.exit_code == 0 and path.exists()
    text = path.read_text()
    assert text.count("#") > 10  # commented for a newcomer
    checked = check_pipeline(load_pipeline(path))
    assert checked.summary.total_params > 0 and checked.warnings == ""
    again = cli("init", kind, path)
    assert again.exit_code == 2 and "already exists" in again.stderr and path.read_text() == text


def test_archived_pipeline_says_where_each_value_came_from(cli, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE.replace("optimizer: {type: adam, lr: 1.0e-2}", "optimizer: adam"))
    result = cli("run", path, "--out", tmp_path, "-q", "--set", "training.epochs=1")
    assert result.exit_code == 0
    archived = next(tmp_path.glob("tiny/*/pipeline.yaml"))
    lines = {line.split(":")[0].strip(): line for line in archived.read_text().splitlines() if "#" in line}
    assert lines["seed"].endswith("# line 2")
    assert lines["epochs"].endswith("# --set training.epochs=1")
    assert lines["batch_size"].endswith("# line 9")
    assert lines["shuffle"].endswith("# default")
    assert lines["lr"].endswith("# default") and "type: adam" in archived.read_text()
    reloaded = load_pipeline(archived).pipeline
    assert reloaded == load_pipeline(path, ("training.epochs=1",)).pipeline
