"""`extends:`: pipelines built on base files, with every value, error and archived comment at its own file and line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from dlpipe.language.errors import PipelineError
from dlpipe.language.loader import load_pipeline
from dlpipe.language.schema import pipeline_schema

GRAND = """\
name: grand
description: the shared recipe
data: {type: sine, samples: 200, noise: 0.0}
model:
  layers:
    - {type: linear, units: 16, activation: tanh}
    - {type: linear, units: 1}
optimizer: {type: adam, lr: 1.0e-2, betas: [0.9, 0.99]}
training: {epochs: 5, batch_size: 32, clip_grad_norm: 3.0}
metrics: [mae, r2]
"""

BASE = """\
extends: ../grand.yaml
training:
  epochs: 4
model:
  layers:
    - {type: linear, units: 8, activation: relu}
    - {type: linear, units: 1}
"""

CHILD = """\
extends: bases/base.yaml
seed: 3
training: {batch_size: 16}
optimizer: {type: sgd, lr: 0.05}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def chain(tmp_path) -> Path:
    """grand.yaml <- bases/base.yaml <- child.yaml: two levels, the middle one in another folder."""
    write(tmp_path, "grand.yaml", GRAND)
    write(tmp_path, "bases/base.yaml", BASE)
    return write(tmp_path, "child.yaml", CHILD)


def test_two_levels_merge_mappings_and_replace_lists_scalars_and_a_changed_type(chain):
    loaded = load_pipeline(chain)
    p = loaded.pipeline
    assert (p.training.epochs, p.training.batch_size, p.training.clip_grad_norm) == (4, 16, 3.0)  # merged key by key
    assert [layer.units for layer in p.model.layers] == [8, 1]  # the base's list replaced grand's whole
    assert p.model.layers[0].activation == "relu"
    assert (p.optimizer.type, p.optimizer.lr) == ("sgd", 0.05)  # adam's betas are not carried into sgd
    assert p.description == "the shared recipe" and p.seed == 3 and p.data.samples == 200
    assert p.name == "child"  # a variant is its own run: the name is never inherited
    assert [m.type for m in p.metrics] == ["mae", "r2"]


def test_origins_name_the_file_and_line_of_each_value_and_set_applies_last(chain):
    loaded = load_pipeline(chain, ("training.epochs=2",))
    assert loaded.pipeline.training.epochs == 2
    assert loaded.origin(("training", "epochs")) == "--set training.epochs=2"
    assert loaded.origin(("training", "batch_size")) == f"{chain} line 3"  # with bases, every value names its file
    assert loaded.origin(("training", "clip_grad_norm")) == f"{chain.parent / 'bases/../grand.yaml'} line 9"
    assert loaded.origin(("model", "layers", 0, "units")) == f"{chain.parent / 'bases/base.yaml'} line 6"
    assert loaded.origin(("seed",)) == f"{chain} line 2" and loaded.origin(("name",)) == "from the file name"


def test_a_list_of_bases_applies_in_order_the_later_winning(tmp_path):
    write(tmp_path, "a.yaml", "data: {type: sine, samples: 300}\ntraining: {epochs: 2, batch_size: 8}\n")
    write(tmp_path, "b.yaml", "training: {epochs: 7}\nmodel: {layers: [{type: linear, units: 1}]}\n")
    loaded = load_pipeline(write(tmp_path, "c.yaml", "extends: [a.yaml, b.yaml]\n"))
    t = loaded.pipeline.training
    assert (t.epochs, t.batch_size, loaded.pipeline.data.samples) == (7, 8, 300)
    assert loaded.origin(("training", "epochs")) == f"{tmp_path / 'b.yaml'} line 1"


def error(path: Path, *overrides: str) -> str:
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, overrides)
    return str(info.value)


def test_an_error_in_a_base_points_at_the_base_file_and_line(chain):
    grand = chain.parent / "grand.yaml"
    grand.write_text(GRAND.replace("clip_grad_norm: 3.0", "clip_grad_norm: -3.0"), encoding="utf-8")
    message = error(chain)
    where = f"{chain.parent / 'bases/../grand.yaml'}:9:"
    assert message.startswith(where) and "training.clip_grad_norm" in message
    assert "training: {epochs: 5, batch_size: 32, clip_grad_norm: -3.0}" in message  # the base's own line is shown
    assert message.endswith(f"{chain}: 1 problem; nothing was run")
    broken = chain.parent / "bases/base.yaml"
    broken.write_text("extends: ../grand.yaml\ntraining: [1,\nmodel: {}\n", encoding="utf-8")
    message = error(chain)  # a syntax error in a base: its own file and line, then the way it was reached
    assert message.startswith(f"{chain.parent / 'bases/base.yaml'}:4:1: invalid YAML: a {{...}} or [...] opened on "
                              "line 2 is not closed")
    assert f"(read as a base of {chain}:1)" in message


def test_a_cycle_and_a_missing_file_are_refused_at_the_line_of_extends(tmp_path):
    write(tmp_path, "one.yaml", "data: {type: sine}\nextends: two.yaml\n")
    write(tmp_path, "two.yaml", "training: {epochs: 2}\nextends: [one.yaml]\n")
    message = error(tmp_path / "one.yaml")
    assert message.startswith(f"{tmp_path / 'two.yaml'}:2:11: extends: one.yaml is already being read "
                              "(one.yaml -> two.yaml -> one.yaml): a cycle")
    assert f"(read as a base of {tmp_path / 'one.yaml'}:2)" in message
    assert error(write(tmp_path, "self.yaml", "extends: self.yaml\n")).startswith(
        f"{tmp_path / 'self.yaml'}:1:10: extends: self.yaml is already being read (self.yaml -> self.yaml)")
    write(tmp_path, "fine.yaml", "data: {type: sine}\n")
    message = error(write(tmp_path, "lost.yaml", "seed: 1\nextends: [fine.yaml, nowhere.yaml]\n"))
    assert message.startswith(f"{tmp_path / 'lost.yaml'}:2:22: extends: nowhere.yaml: no such file (looked for "
                              f"{(tmp_path / 'nowhere.yaml').resolve()})")
    for wrong in ("extends: 3\n", "extends: []\n", "extends: {a: b}\n", "extends: [a.yaml, [b.yaml]]\n"):
        assert "extends: expected a file name, or a list of file names" in error(write(tmp_path, "w.yaml", wrong))


def test_a_data_path_in_a_base_is_relative_to_the_base(tmp_path):
    write(tmp_path, "shared/table.csv", "x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(40)))
    write(tmp_path, "shared/base.yaml", """\
        data: {type: csv, path: table.csv, target: y, task: regression}
        model: {layers: [{type: linear, units: 1}]}
        tracking: {tensorboard: {dir: logs}}
        """)
    loaded = load_pipeline(write(tmp_path, "runs/variant.yaml", "extends: ../shared/base.yaml\n"))
    assert loaded.pipeline.data.path == str((tmp_path / "shared/table.csv").resolve())
    assert loaded.pipeline.tracking.tensorboard.dir == str((tmp_path / "shared/logs").resolve())
    here = load_pipeline(write(tmp_path, "runs/own.yaml", "extends: ../shared/base.yaml\ndata: {path: t.csv}\n"))
    assert here.pipeline.data.path == str((tmp_path / "runs/t.csv").resolve())  # written here: relative to here


def test_validate_and_run_read_extends_and_the_archive_names_each_values_file(chain, cli, tmp_path):
    result = cli("validate", chain)
    assert result.exit_code == 0, result.output
    assert f"{chain.parent / 'bases/base.yaml'}:6  linear + relu" in result.output
    out = tmp_path / "reports"
    result = cli("run", chain, "--out", out, "-q", "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    archived = next(out.glob("child/*/pipeline.yaml")).read_text()
    assert "# --set training.epochs=2" in archived and f"# {chain} line 3" in archived
    assert f"# {chain.parent / 'bases/../grand.yaml'} line 9" in archived  # clip_grad_norm, from the grand base
    assert "extends" not in yaml.safe_load(archived)  # resolved: it runs alone
    record = json.loads(next(out.glob("child/*/metrics.json")).read_text())
    assert record["status"] == "completed"


def test_the_schema_allows_extends_and_a_file_that_gives_only_some_sections():
    jsonschema = pytest.importorskip("jsonschema")
    schema = pipeline_schema()
    jsonschema.validate({"extends": "base.yaml", "training": {"epochs": 3}}, schema)
    jsonschema.validate({"extends": ["a.yaml", "b.yaml"]}, schema)
    for wrong in ({"extends": 3}, {"extends": []}, {"training": {"epochs": 3}}):  # no base: data and model needed
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def test_a_base_listed_many_times_at_every_level_is_refused_in_bounded_reads(tmp_path):
    write(tmp_path, "l16.yaml", "data: {type: sine}\n")
    for level in range(15, -1, -1):  # each level lists the next one three times: 3^16 reads if unbounded
        write(tmp_path, f"l{level}.yaml", f"extends: [l{level + 1}.yaml, l{level + 1}.yaml, l{level + 1}.yaml]\n")
    assert "files read for one pipeline; refused" in error(tmp_path / "l0.yaml")


def test_a_problem_the_data_stage_finds_in_a_bases_value_points_at_the_base(tmp_path, cli):
    write(tmp_path, "far/base.yaml", "data: {type: table, path: nothere.csv, target: y}\n"
                                     "model: {layers: [{type: linear, units: 1}]}\n")
    variant = write(tmp_path, "variant.yaml", "extends: far/base.yaml\n")
    result = cli("run", variant, "--out", tmp_path / "out")
    assert result.exit_code == 2 and result.stderr.startswith(
        f"{tmp_path / 'far/base.yaml'}:1:21: data.path: {tmp_path / 'far/nothere.csv'}: no such file"), result.stderr
    assert not (tmp_path / "out").exists()


def test_an_empty_base_is_named_first_and_the_way_to_it_after(tmp_path):
    write(tmp_path, "empty.yaml", "# nothing yet\n")  # found by tests/test_fuzz.py: the way came first
    message = error(write(tmp_path, "child.yaml", "extends: empty.yaml\n"))
    assert message == (f"{tmp_path / 'empty.yaml'}: holds only comments; expected a mapping with data: and model:\n"
                       f"    (read as a base of {tmp_path / 'child.yaml'}:1)")
