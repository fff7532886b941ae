"""Property: any text or mutated pipeline gives a valid config or a PipelineError, never another exception."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlpipe.model.checks import check_pipeline
from dlpipe.language.errors import PipelineError
from dlpipe.language.loader import load_pipeline

from conftest import PIPELINES, ROOT

SOURCES = [p.read_text() for p in PIPELINES]
SCALARS = ["0", "-1", "1.0e-3", "1e-3", "1e400", "nan", ".inf", "-.inf", "true", "null", "~", "''", "x",
           "[]", "{}", "[1, 2, 3]", "{type: relu}", "99999999999999999999", "0x1F", "2001-12-14", "&a 3", "*a",
           "*missing", "!!binary aGk=", "!!python/none", "!!set {a, b}", "[", "{", "'unclosed", "\t", "|\n  x",
           "{type: linear, units: 1000000}", "mnist", "conv2d", "- a", ": :", "? [a]\n: b", "é", "\x07"]


def fuzz_settings(env) -> settings:
    """CI (CI set, as .ci/run does) explores a fixed sequence, so a failure there reproduces; a developer's
    run explores new inputs each time. FUZZ_EXAMPLES raises the count for a long hunt, e.g. 20000."""
    in_ci = env.get("CI", "").lower() not in ("", "0", "false", "no")
    return settings(max_examples=int(env.get("FUZZ_EXAMPLES", 1000)), deadline=None, derandomize=in_ci,
                    database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


SETTINGS = fuzz_settings(os.environ)


def test_ci_explores_a_fixed_sequence():
    assert fuzz_settings({"CI": "true"}).derandomize and not fuzz_settings({}).derandomize
    assert "export CI=" in (ROOT / ".ci/run").read_text()  # set there too, whoever calls the script


def assert_clean(path: Path) -> None:
    """Loading and checking either succeed or raise PipelineError whose every located line is in the file."""
    try:
        loaded = load_pipeline(path)
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
