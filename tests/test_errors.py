"""Bad input gives a clear message naming file, line and key, exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from dlpipe.language.errors import PipelineError
from dlpipe.language.loader import load_pipeline

from conftest import TINY_SINE


def error_of(path, overrides=()) -> str:
    with pytest.raises(PipelineError) as info:
        load_pipeline(path, tuple(overrides))
    return str(info.value)


@pytest.mark.parametrize("text, line, fragments", [
    ("data: {type: sine}\nmodel:\n  layers:\n    - {type: linear, unitz: 1}\n", 4,
     ["model.layers.0.unitz", "did you mean 'units'", "valid keys: type, units, activation, bias"]),
    ("data: {type: sin}\nmodel: {layers: [{type: linear, units: 1}]}\n", 1,
     ["data", "unknown type 'sin'", "did you mean 'sine'", "valid types: sine, polynomial, linear"]),
    ("data: {type: sine, samples: 5}\nmodel: {layers: [{type: linear, units: 1}]}\n", 1,
     ["data.samples", "out of range (got 5; expected 10 <= samples <= 10000000)"]),
    ("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\noptimizer: {type: adam, lr: fast}\n", 3,
     ["optimizer.lr", "valid number", "got 'fast'"]),
    ("data: {type: sine}\nmodel: {layers: [{type: relux}]}\n", 2, ["model.layers.0", "did you mean 'relu'"]),
    ("data: {type: sine}\nmodel: {layers: []}\n", 2, ["model.layers", "at least 1 item"]),
    ("data: {type: sine}\n", 1, ["model: required key is missing"]),
    ("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\nmetrics: [r3]\n", 3,
     ["metrics.0: unknown type 'r3'; did you mean 'r2'? (valid types: mse, rmse, mae, r2, accuracy, top_k_accuracy"]),
    ("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\nloss: {type: mse}\nloss: {type: l1}\n", 4,
     ["loss: key given twice (first on line 3)"]),
    ("data: {type: sine\nmodel: x\n", 2, ["invalid YAML"]),
])
def test_message_points_at_line_and_key(write_yaml, text, line, fragments):
    path = write_yaml(text)
    message = error_of(path)
    assert f"{path}:{line}:" in message
    for fragment in fragments:
        assert fragment in message


def test_all_problems_are_reported_at_once(write_yaml):
    path = write_yaml("data: {type: sine, noise: -1}\nmodel: {layers: [{type: linear, units: 0}]}\nseed: x\n")
    message = error_of(path)
    assert "data.noise" in message and "model.layers.0.units" in message and "seed" in message
    assert message.rstrip().endswith("3 problems; nothing was run")


def test_message_shows_source_line_with_caret(write_yaml):
    path = write_yaml("data: {type: sine}\nmodel:\n  layers:\n    - {type: linear, units: -4}\n")
    lines = error_of(path).splitlines()
    assert lines[1].strip() == "- {type: linear, units: -4}"
    assert lines[2].index("^") == lines[1].index("units")


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    ("", "the file is empty"),
    ("# only a comment\n", "holds only comments"),
    ("- a\n- b\n", "top level is a list; expected a mapping"),
    (b"\x00\x01binary", "binary file"),
    ("a: !!python/object/apply:os.system ['echo hacked']\n", "the YAML tag !!python/object/apply:os.system is not allowed"),
])
def test_unusable_files_get_one_clear_line(tmp_path, content, fragment):
    path = tmp_path / "p.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert fragment in error_of(path)


def test_directory_is_refused(tmp_path):
    assert "is a directory" in error_of(tmp_path)


def test_alias_bomb_is_refused_quickly(write_yaml):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]")
    path = write_yaml("\n".join(lines) + "\n")
    assert "aliases expand" in error_of(path)


def test_override_changes_a_value(write_yaml):
    path = write_yaml(TINY_SINE)
    loaded = load_pipeline(path, ("optimizer.lr=0.5", "model.layers.0.units=7", "data.noise=0.25"))
    assert loaded.pipeline.optimizer.lr == 0.5
    assert loaded.pipeline.model.layers[0].units == 7
    assert loaded.pipeline.data.noise == 0.25


@pytest.mark.parametrize("override, fragment", [
    ("model.layers.0.unitz=3", "--set model.layers.0.unitz=3: model.layers.0.unitz: unknown key 'unitz'; did you mean 'units'"),
    ("model.layers.9.units=3", "expected an index 0..1"),
    ("optimizer.lr", "expected key.path=value"),
    ("optimizer.lr=-1", "--set optimizer.lr=-1: optimizer.lr: out of range (got -1; expected 0 < lr <= 10)"),
])
def test_bad_override_names_the_override(write_yaml, override, fragment):
    assert fragment in error_of(write_yaml(TINY_SINE), [override])


@pytest.mark.parametrize("command", ["run", "validate"])
def test_cli_exits_2_without_traceback(cli, write_yaml, tmp_path, command):
    path = write_yaml("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\nloss: {type: msee}\n")
    extra = ["--out", tmp_path / "out"] if command == "run" else []
    result = cli(command, path, *extra)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert f"{path}:3:" in result.stderr and "loss" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing was run, nothing archived


def test_shape_mismatch_names_layer_and_line(cli, write_yaml):
    path = write_yaml("data: {type: sine}\nmodel:\n  layers:\n    - {type: linear, units: 8}\n    - {type: linear, units: 3}\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert f"{path}:5:" in result.stderr and "model.layers.1" in result.stderr
    assert "end with {type: linear, units: 1}" in result.stderr


def test_cross_entropy_on_regression_is_explained(cli, write_yaml):
    path = write_yaml("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\nloss: cross_entropy\n")
    result = cli("validate", path)
    assert result.exit_code == 2 and "cross_entropy is for classification" in result.stderr


CLASSIFIER = """\
data: {type: mnist}
model:
  layers:
    - {type: flatten}
    - {type: linear, units: 10}
"""


@pytest.mark.parametrize("extra, line, fragment", [
    ("model:\n  layers:\n    - {type: flatten}\n    - {type: linear, units: 10, activation: softmax}\n", 5,
     "softmax before cross_entropy: the loss applies log-softmax"),
    ("model:\n  layers:\n    - {type: flatten}\n    - {type: linear, units: 10}\n    - {type: softmax}\n", 6,
     "softmax before cross_entropy"),
    ("model:\n  layers:\n    - {type: flatten}\n    - {type: linear, units: 12}\n", 5,
     "the data has 10 classes; end with {type: linear, units: 10}"),
    ("loss: mse\n", 1, "mse is a regression loss, but data source 'mnist' is a classification; use cross_entropy"),
    ("metrics: [accuracy, r2]\n", 1, "r2 does not apply: data source 'mnist' is a classification"),
    ("scheduler: {type: reduce_on_plateau, monitor: val_acc}\n", 1,
     "'val_acc' is not recorded by this pipeline (recorded: train_loss, train_accuracy, val_loss, val_accuracy"),
    ("model:\n  layers:\n    - {type: linear, units: 10}\n", 4, "add {type: flatten} before it"),
])
def test_classification_pitfalls_are_errors_before_any_download(cli, write_yaml, tmp_path, extra, line, fragment):
    text = "data: {type: mnist}\n" + extra if extra.startswith("model:") else extra + CLASSIFIER
    path = write_yaml(text)
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert f"{path}:{line}:" in result.stderr


def test_regression_metric_on_classification_and_accuracy_on_regression(cli, write_yaml):
    path = write_yaml("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\nmetrics: [r2, accuracy]\n")
    result = cli("validate", path)
    assert result.exit_code == 2 and f"{path}:3:" in result.stderr
    assert "metrics.1: accuracy does not apply: data source 'sine' is a regression" in result.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_named_as_such(write_yaml, tmp_path, encoding):
    path = tmp_path / "wide.yaml"
    path.write_bytes("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\n".encode(encoding))
    with pytest.raises(PipelineError, match="is UTF-16 text; save it as UTF-8"):
        load_pipeline(path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 10]) + bytes(range(256)))  # an IDX header: binary, not text
    with pytest.raises(PipelineError, match="looks like a binary file"):
        load_pipeline(binary)


def test_an_alias_bomb_in_a_set_value_is_refused_like_one_in_a_file(write_yaml):
    levels = ["&a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 7)]
    bomb = "metrics=[" + ", ".join(levels) + "]"  # 9^7 items once expanded
    path = write_yaml("data: {type: sine}\nmodel: {layers: [{type: linear, units: 1}]}\n")
    with pytest.raises(PipelineError, match=r"--set metrics=\[.*YAML aliases expand to more than 100000 nodes"):
        load_pipeline(path, (bomb,))


def test_schema_to_an_unwritable_place_is_one_clean_line(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("schema", "-o", blocker / "schema.json")  # a folder that is a file
    assert result.exit_code == 2 and "cannot write the schema" in result.stderr
    assert "Traceback" not in result.output
