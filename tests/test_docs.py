"""The documentation: every YAML snippet in it (and in the README) is a valid pipeline or a valid part of one, the
site builds with `mkdocs build --strict`, and the generated references cover every key and command."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from dlpipe.language.errors import PipelineError
from dlpipe.language.pipeline import pipeline_model
from dlpipe.language.yamltext import compose, construct, duplicate_keys

from conftest import ROOT

PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.S | re.M)
BASE = {"name": "docs", "data": {"type": "sine", "samples": 60}, "loss": "mse", "metrics": ["mae"],
        "model": {"layers": [{"type": "linear", "units": 8, "activation": "tanh"}, {"type": "linear", "units": 1}]}}


def snippets() -> list[tuple[str, str]]:
    """(page:line, text) of every ```yaml block; a block of alternatives separated by --- gives one each."""
    found = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text()):
            line = page.read_text()[:match.start()].count("\n") + 2
            for part in re.split(r"^---$", match.group(1), flags=re.M):
                found.append((f"{page.relative_to(ROOT)}:{line}", part))
                line += part.count("\n") + (1 if part.startswith("\n") else 0)
    return found


def merged(base: dict, part: dict) -> dict:
    """`part` over `base` as `extends` merges: mappings key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in part.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) and \
            value.get("type", out[key].get("type")) == out[key].get("type") else value
    return out


def problems(raw: dict) -> list[str]:
    """What validating `raw` finds, trying both tasks for a source that leaves the task to its data."""
    found = []
    for task in (None, "regression", "classification"):
        data = copy.deepcopy(raw)
        if task is not None:
            if not isinstance(data.get("data"), dict) or "task" in data["data"]:
                continue
            data["data"]["task"] = task
        try:
            pipeline_model().model_validate(data, context={"base_dir": ROOT / "pipelines"})
            return []
        except ValidationError as exc:
            found.append(str(exc).splitlines()[0:3])
    return found


@pytest.mark.parametrize("where, text", snippets(), ids=lambda value: value if ":" in str(value)[:60] and
                         str(value).endswith(tuple("0123456789")) else "")
def test_every_yaml_snippet_is_a_pipeline_or_a_part_of_one(where, text):
    try:
        node = compose(Path(where), text)
    except PipelineError as exc:
        pytest.fail(f"{where}: not YAML: {exc}")
    assert not list(duplicate_keys(node)), f"{where}: a key given twice"
    raw = construct(node, {where: text})
    raw.pop("extends", None)  # its base files are the snippet's own story; what it writes must still be valid
    unknown = set(raw) - set(pipeline_model().model_fields)
    assert not unknown, f"{where}: {sorted(unknown)} are not pipeline keys"
    complete = "data" in raw and "model" in raw
    candidate = raw if complete else merged({k: v for k, v in BASE.items() if not ("data" in raw and k in (
        "loss", "metrics"))}, raw)
    found = problems(candidate)
    assert not found, f"{where}: {found}"


def test_the_docs_hold_snippets_from_every_part_of_the_tutorial():
    found = {where.split(":")[0] for where, _ in snippets()}
    tutorial = {str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "tutorial").glob("*.md") if p.name != "index.md"}
    assert tutorial and tutorial <= found  # each step shows its pipeline, and so is checked


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")  # [dev] installs the docs extra
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "pipeline" / "index.html").read_text()
    assert "optimizer.lr" in reference and "clip_grad_norm" in reference and "tracking.mlflow.uri" in reference
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "dlpipe init" in cli and "--from" in cli and "DLPIPE_OUT" in cli


def test_the_python_example_is_the_same_in_the_readme_and_the_guide():
    marker = "<!-- the README example: tests/test_trained_inputs.py runs this block -->\n```python\n"
    blocks = [(ROOT / name).read_text().split(marker)[1].split("```")[0]
              for name in ("README.md", "docs/guide/trained.md")]
    assert blocks[0] == blocks[1]  # test_trained_inputs runs the README's; the guide must not drift from it
