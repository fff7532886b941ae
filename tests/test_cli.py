"""The command line: run, validate, schema, python -m, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from dlpipe.language.schema import pipeline_schema

from conftest import PIPELINES, ROOT, TINY_SINE


def test_run_prints_metrics_and_report_path(cli, write_yaml, tmp_path):
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path)
    assert result.exit_code == 0
    assert "test r2" in result.stdout and "status: completed" in result.stdout
    report = result.stdout.strip().splitlines()[-1].removeprefix("report: ")
    assert report.endswith("report.html") and (tmp_path / "tiny").exists()
    assert "epoch 5/5" in result.stderr  # progress goes to stderr, one line per epoch
    assert result.stderr.count("epoch ") == 5


def test_quiet_prints_no_progress(cli, write_yaml, tmp_path):
    result = cli("run", write_yaml(TINY_SINE), "--out", tmp_path, "--quiet")
    assert result.exit_code == 0 and result.stderr == ""


def test_validate_prints_summary_for_every_file(cli):
    result = cli("validate", *PIPELINES)
    assert result.exit_code == 0
    assert result.stdout.count(": ok") == len(PIPELINES) and "total parameters" in result.stdout


def test_validate_reports_each_bad_file_and_exits_2(cli, write_yaml):
    bad = write_yaml("data: {type: sine}\n", "bad.yaml")
    result = cli("validate", ROOT / "pipelines/sine.yaml", bad)
    assert result.exit_code == 2 and "1 of 2 pipeline file(s) invalid" in result.stderr


def test_unwritable_out_is_a_clear_error(cli, write_yaml, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("run", write_yaml(TINY_SINE), "--out", blocker, "-q")
    assert result.exit_code == 2 and "cannot write the run archive" in result.stderr


def test_python_dash_m_works_like_dlpipe(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dlpipe", "validate", str(ROOT / "pipelines/sine.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "dlpipe", "run", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_committed_schema_is_up_to_date():
    committed = json.loads((ROOT / "schemas/pipeline.schema.json").read_text())
    assert committed == pipeline_schema(), "schemas/ is stale: run `dlpipe schema`"


def test_schema_describes_every_field():
    schema = pipeline_schema()
    models = [schema, *schema["$defs"].values()]
    missing = [(m.get("title"), name) for m in models for name, field in m.get("properties", {}).items()
               if "description" not in field]
    assert missing == []


def test_help_and_schema_import_neither_torch_nor_matplotlib(tmp_path):
    code = ("import sys; from click.testing import CliRunner; from dlpipe.cli import main; "
            f"r = CliRunner().invoke(main, ['schema', '-o', '{tmp_path / 's.json'}']); "
            "h = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0 and h.exit_code == 0; "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_process_tuning_is_for_the_dlpipe_command_on_cpu_only(cli, write_yaml, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("dlpipe.engine.speed.tune_allocator", lambda: calls.append("tuned") or True)
    assert cli("run", write_yaml(TINY_SINE), "--out", tmp_path / "a", "-q").exit_code == 0
    assert calls == []  # a test runner (or a notebook) is not the dlpipe command: its malloc stays as it was
    from dlpipe.archive.log import Progress
    from dlpipe.language.loader import load_pipeline
    from dlpipe.runner import run

    loaded = load_pipeline(write_yaml(TINY_SINE), ("training.device=cpu",))
    assert run(loaded, tmp_path / "b", Progress(quiet=True), tune_process=True).status == "completed"
    assert calls == ["tuned"]


def test_the_schema_accepts_every_shipped_pipeline_and_the_shorthand_names():
    jsonschema = pytest.importorskip("jsonschema")  # in [dev]; what editors do with the schema
    schema = pipeline_schema()
    for path in PIPELINES:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    short = {"data": {"type": "sine"}, "loss": "huber", "optimizer": "sgd", "scheduler": "cosine",
             "model": {"layers": ["relu", {"type": "linear", "units": 1}]}, "metrics": ["r2", "mae"]}
    jsonschema.validate(short, schema)
    for wrong in ({"metrics": ["r3"]}, {"model": {"layers": ["linear"]}}, {"scheduler": "step"}):
        with pytest.raises(jsonschema.ValidationError):  # unknown, or a name that needs more keys
            jsonschema.validate({**short, **wrong}, schema)


def _complete(words: str, env_extra=None) -> list[str]:
    """What bash completion offers for `words` (the cursor at its end), through click's own protocol."""
    from click.testing import CliRunner

    from dlpipe.cli import main

    parts = words.split(" ")
    env = {"_DLPIPE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    result = CliRunner().invoke(main, [], prog_name="dlpipe", env=env)
    return [line.split(",", 1)[1] for line in result.output.splitlines() if "," in line]


def test_shell_completion_offers_run_names_and_resumable_run_directories(cli, write_yaml, tmp_path):
    from conftest import TINY_SINE

    out = tmp_path / "out"
    assert cli("run", write_yaml(TINY_SINE), "--out", out, "-q", "--set", "training.epochs=1").exit_code == 0
    ref = next(out.glob("tiny/*")).relative_to(out).as_posix()
    for words in (f"dlpipe runs --out {out} show t", f"dlpipe compare --out {out} t",
                  f"dlpipe predict --out {out} t", f"dlpipe export --out {out} ti"):
        assert _complete(words) == ["tiny", ref], words
    assert _complete(f"dlpipe compare --out {out} tiny/") == [ref]
    assert _complete(f"dlpipe run --out {out} --resume ") == []  # the only run completed: nothing to resume
    metrics = next(out.glob("tiny/*/metrics.json"))
    metrics.write_text(metrics.read_text().replace('"status": "completed"', '"status": "interrupted"'))
    assert _complete(f"dlpipe run --out {out} --resume ") == [str(metrics.parent)]
