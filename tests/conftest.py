"""Shared helpers: small pipelines written to temporary files, and the CLI runner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))

TINY_SINE = """\
name: tiny
seed: 1
data: {type: sine, samples: 200, noise: 0.0}
model:
  layers:
    - {type: linear, units: 16, activation: tanh}
    - {type: linear, units: 1}
optimizer: {type: adam, lr: 1.0e-2}
training: {epochs: 5, batch_size: 32}
"""


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write YAML text (dedented) to a file in tmp_path and return its path."""

    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli():
    """Invoke the click CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from dlpipe.cli import main

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke
