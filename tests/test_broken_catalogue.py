"""A catalogue of broken pipelines (tests/broken/): each must fail with its message at its line.

Each file's first line says what it must produce: `# expect: LINE: fragment`
(LINE 0 when the message has no line, as for an alias bomb). A second line
`# only: run` marks a fault that only reading the data finds (validate reads headers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

CATALOGUE = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_text().splitlines()[0]
    line, _, fragment = first.removeprefix("# expect: ").partition(": ")
    return int(line), fragment


def test_every_catalogue_entry_states_a_distinct_message_at_a_line_it_has():
    assert len(CATALOGUE) >= 60
    fragments = []
    for path in CATALOGUE:
        assert path.read_text().startswith("# expect: "), path
        line, fragment = expectation(path)
        assert len(fragment) >= 10 and 0 <= line <= len(path.read_text().splitlines()), path
        fragments.append(fragment)
    assert len(set(fragments)) == len(fragments), "two entries expect the same message"


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("path", CATALOGUE, ids=[p.stem for p in CATALOGUE])
def test_broken_pipeline_gives_its_message(cli, tmp_path, path, command):
    line, fragment = expectation(path)
    if command == "validate" and path.read_text().splitlines()[1].startswith("# only: run"):
        pytest.skip("a fault found only when the data is read")
    result = cli(command, path, *(["--out", tmp_path / "out"] if command == "run" else []))
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was archived
    assert "Traceback" not in result.output
    assert fragment in result.stderr, result.stderr
    if line:
        assert f"{path}:{line}:" in result.stderr, result.stderr
