"""Property: any text or mutated pipeline gives a valid config or a PipelineError, never another exception."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import yaml

from dlpipe.model.checks import check_pipeline
from dlpipe.language.errors import PipelineError
from dlpipe.data.sources import read_pipeline

from conftest import PIPELINES, ROOT

SOURCES = [p.read_text() for p in PIPELINES]
SCALARS = ["0", "-1", "1.0e-3", "1e-3", "1e400", "nan", ".inf", "-.inf", "true", "null", "~", "''", "x",
           "[]", "{}", "[1, 2, 3]", "{type: relu}", "99999999999999999999", "0x1F", "2001-12-14", "&a 3", "*a",
           "*missing", "!!binary aGk=", "!!python/none", "!!set {a, b}", "[", "{", "'unclosed", "\t", "|\n  x",
           "{type: linear, units: 1000000}", "mnist", "conv2d", "- a", ": :", "? [a]\n: b", "é", "\x07"]


def fuzz_settings(env) -> settings:
    """CI (CI set, as .ci/run does) explores a fixed sequence, so a failure there reproduces; a developer's
    run explores new inputs each time. FUZZ_EXAMPLES raises the count for a long hunt, e.g. 20000 (600 by
    default: the suite's four minutes are shared with every other promise)."""
    in_ci = env.get("CI", "").lower() not in ("", "0", "false", "no")
    return settings(max_examples=int(env.get("FUZZ_EXAMPLES", 600)), deadline=None, derandomize=in_ci,
                    database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


SETTINGS = fuzz_settings(os.environ)


def test_ci_explores_a_fixed_sequence():
    assert fuzz_settings({"CI": "true"}).derandomize and not fuzz_settings({}).derandomize
    assert "export CI=" in (ROOT / ".ci/run").read_text()  # set there too, whoever calls the script


def assert_clean(path: Path) -> None:
    """Loading and checking either succeed or raise PipelineError whose every located line is in the file."""
    try:
        loaded = read_pipeline(path)
        check_pipeline(loaded)
    except PipelineError as exc:
        message, lines = str(exc), len(path.read_bytes().splitlines()) + 1
        assert message.startswith(f"{path}:") and "Traceback" not in message, message
        for found in re.finditer(rf"^{re.escape(str(path))}:(\d+):(\d+): ", message, re.MULTILINE):
            assert 1 <= int(found[1]) <= lines and int(found[2]) >= 1, message


@st.composite
def mutated_pipeline(draw) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "delete", "duplicate", "swap", "key", "indent", "cut"]))
        if op == "value" and ":" in lines[i]:
            key, _, _ = lines[i].partition(":")
            lines[i] = f"{key}: {draw(st.sampled_from(SCALARS))}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "key":
            lines.insert(i, f"{draw(st.sampled_from(['', '  ', '    ']))}{draw(st.text('abcxyz_', min_size=1, max_size=8))}: "
                            f"{draw(st.sampled_from(SCALARS))}")
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "\t", ""])) + lines[i].lstrip()
        elif op == "cut":
            lines = lines[:i] + [lines[i][: draw(st.integers(0, len(lines[i])))]]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "pipeline.yaml"


@SETTINGS
@given(text=mutated_pipeline())
def test_mutated_pipelines_give_a_config_or_a_clean_error(scratch, text):
    scratch.write_text(text, encoding="utf-8")
    assert_clean(scratch)


@SETTINGS
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_give_a_clean_error(scratch, data):
    scratch.write_bytes(data)
    assert_clean(scratch)


def test_deep_nesting_is_a_clean_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert_clean(path)


@st.composite
def valid_pipeline(draw) -> dict:
    """A small pipeline that validates: a synthetic source with its edge values, a little MLP, any optimizer."""
    kind = draw(st.sampled_from(["sine", "polynomial", "linear"]))
    low = draw(st.floats(-1.0e6, 1.0e6 - 1))
    data = {"type": kind, "samples": draw(st.integers(10, 300)), "noise": draw(st.floats(0, 10)),
            "x_range": [low, draw(st.floats(low + 1.0e-3, min(low + 1.0e6, 1.0e6)))]}
    if kind == "polynomial":
        data["coefficients"] = draw(st.lists(st.floats(-100, 100), min_size=1, max_size=4))
    train = draw(st.floats(0.1, 0.8))
    data["split"] = {"train": train, "validation": (1 - train) / 2, "test": (1 - train) / 2}
    hidden = {"type": "linear", "units": draw(st.integers(1, 16)),
              "activation": draw(st.sampled_from([None, "relu", "tanh", "gelu"]))}
    return {"name": "drawn", "seed": draw(st.integers(0, 2**32 - 1)), "data": data,
            "model": {"layers": [hidden, {"type": "linear", "units": 1}]},
            "optimizer": {"type": draw(st.sampled_from(["adam", "sgd", "adamw", "rmsprop"])),
                          "lr": draw(st.floats(1.0e-5, 1.0))},
            "training": {"epochs": 1, "batch_size": draw(st.integers(1, 64)), "threads": 1}}


# Each example is a whole run with its report (~1 s): a few per test run; FUZZ_RUNS=200 for a long hunt.
@settings(SETTINGS, max_examples=int(os.environ.get("FUZZ_RUNS", 8)))
@given(raw=valid_pipeline())
def test_whatever_validates_runs_to_completed_or_diverged(raw, tmp_path_factory):
    from dlpipe.archive.log import Progress
    from dlpipe.runner import run

    folder = tmp_path_factory.mktemp("drawn")
    path = folder / "drawn.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        loaded = read_pipeline(path)
        check_pipeline(loaded)
    except PipelineError:
        return  # a drawn value the language refuses (a split that leaves too few samples): refused cleanly
    record = run(loaded, folder / "out", Progress(quiet=True))
    assert record.status in ("completed", "diverged"), record.message
    assert (record.path / "report.html").is_file() and (record.path / "metrics.json").is_file()


@settings(SETTINGS, max_examples=max(1, SETTINGS.max_examples // 4))
@given(base=mutated_pipeline(), own=mutated_pipeline())
def test_a_mutated_base_under_a_mutated_file_gives_a_clean_error_in_the_file_that_wrote_it(tmp_path_factory, base, own):
    folder = tmp_path_factory.mktemp("extends")
    (folder / "base.yaml").write_text(base, encoding="utf-8")
    child = folder / "child.yaml"
    child.write_text(f"extends: base.yaml\n{own}", encoding="utf-8")
    files = {str(path): len(path.read_bytes().splitlines()) + 1 for path in (child, folder / "base.yaml")}
    try:
        check_pipeline(read_pipeline(child))
    except PipelineError as exc:
        message = str(exc)
        assert message.startswith(tuple(files)) and "Traceback" not in message, message
        for found in re.finditer(r"^(/\S+?\.yaml):(\d+):(\d+): ", message, re.MULTILINE):
            assert found[1] in files and 1 <= int(found[2]) <= files[found[1]] and int(found[3]) >= 1, message
