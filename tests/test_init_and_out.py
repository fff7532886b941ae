"""`dlpipe init`: its templates and what their comments show (every own-data snippet validates); DLPIPE_OUT as the
archive of every command, and a run looked up in the wrong archive named where it is."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
import yaml
from pydantic import TypeAdapter

from dlpipe.language.data import DATA_SOURCES
from dlpipe.language.section import tagged_union

from conftest import TINY_SINE

SNIPPET = re.compile(r"^\s*#\s+[\w ]+:\s+(\{type: .*?\})(?:\s{2,}.*)?$")


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_every_own_data_snippet_in_a_template_is_a_valid_data_section(kind):
    text = (files("dlpipe.cli") / "templates" / f"init_{kind}.yaml").read_text(encoding="utf-8")
    own = text.split("YOUR OWN DATA")[1].split("\nmodel:")[0]  # the data section's own-data comments
    snippets = [m.group(1) for line in own.splitlines() if (m := SNIPPET.match(line))]
    types = {yaml.safe_load(s)["type"] for s in snippets}
    assert types >= ({"table", "arrays", "series"} if kind == "regression" else {"image_folder", "table", "arrays"})
    source = TypeAdapter(tagged_union(DATA_SOURCES))
    for snippet in snippets:
        source.validate_python(yaml.safe_load(snippet), context={"base_dir": "/tmp"})  # keys, types and values


def test_init_lists_its_templates(cli):
    result = cli("init", "--list")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == ["regression", "classification"]
    assert "image folders" in result.output and "CSV table" in result.output


def test_dlpipe_out_is_the_archive_of_every_command_and_a_wrong_one_says_where_the_run_is(
        cli, write_yaml, tmp_path, monkeypatch):
    archive = tmp_path / "project" / "reports"
    monkeypatch.setenv("DLPIPE_OUT", str(archive))
    assert cli("run", write_yaml(TINY_SINE), "-q").exit_code == 0
    assert list(archive.glob("tiny/*/metrics.json"))  # written where DLPIPE_OUT says
    assert "tiny/" in cli("runs").output
    monkeypatch.delenv("DLPIPE_OUT")
    monkeypatch.chdir(tmp_path)  # the run's archive is one folder down: project/reports
    result = cli("predict", "tiny", "--x", "0.5")
    assert result.exit_code == 2
    assert f"no run 'tiny' under {tmp_path / 'reports'}" in result.stderr
    assert f"a run 'tiny' is under {archive}: give --out {archive}, or set DLPIPE_OUT to it" in result.stderr


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_a_template_with_its_tracking_line_uncommented_is_a_valid_pipeline(kind, tmp_path):
    from dlpipe.language.loader import load_pipeline

    text = (files("dlpipe.cli") / "templates" / f"init_{kind}.yaml").read_text(encoding="utf-8")
    assert "\n# tracking: {" in text
    path = tmp_path / "with_tracking.yaml"
    path.write_text(text.replace("\n# tracking: {", "\ntracking: {"), encoding="utf-8")
    tracking = load_pipeline(path).pipeline.tracking
    assert tracking.mlflow.experiment == "mine" and tracking.tensorboard.dir == str(tmp_path / "tensorboard")
