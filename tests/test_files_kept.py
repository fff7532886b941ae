"""No file destroyed: export and predict -o never overwrite without --force, never write into a run directory,
leave nothing half-written on a full disk, and remove only what they made; evaluate on a full disk leaves no
empty evaluation folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import dlpipe

from conftest import TINY_SINE, fill


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kept")
    (out / "tiny.yaml").write_text(TINY_SINE)
    return dlpipe.run(out / "tiny.yaml", out=out, quiet=True).path


def test_export_never_overwrites_the_runs_own_model(cli, run):
    before = (run / "model.pt").read_bytes()
    done = cli("export", run, "--format", "torchscript", "-o", run / "model.pt")
    assert done.exit_code == 2 and "is inside the run directory" in done.stderr and "Traceback" not in done.output
    forced = cli("export", run, "--format", "torchscript", "-o", run / "model.pt", "--force")
    assert forced.exit_code == 2 and "is inside the run directory" in forced.stderr  # not even with --force
    assert (run / "model.pt").read_bytes() == before
    assert cli("predict", run, "--x", "0.5").exit_code == 0  # the run still answers


def test_export_never_replaces_a_users_file_without_force_nor_their_preprocessing_json(cli, run, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "model.torchscript.pt").write_bytes(b"precious")
    (project / "preprocessing.json").write_text('{"mine": true}')
    refused = cli("export", run, "--format", "torchscript", "-o", project / "model.torchscript.pt")
    assert refused.exit_code == 2 and "already exists; pass --force to replace it" in refused.stderr
    assert (project / "model.torchscript.pt").read_bytes() == b"precious"
    forced = cli("export", run, "--format", "torchscript", "-o", project / "model.torchscript.pt", "--force")
    assert forced.exit_code == 0, forced.output
    assert (project / "model.torchscript.pt").read_bytes() != b"precious"
    assert json.loads((project / "preprocessing.json").read_text()) == {"mine": True}  # untouched
    described = json.loads((project / "model.torchscript.pt.preprocessing.json").read_text())
    assert described["export"]["files"] == {"torchscript": "model.torchscript.pt"}
    assert sorted(p.name for p in project.iterdir()) == ["model.torchscript.pt", "model.torchscript.pt.preprocessing.json",
                                                         "preprocessing.json"]  # no temporary file left


def test_a_failed_export_removes_nothing_it_did_not_make(cli, run, tmp_path, monkeypatch):
    """The repro: a precious model.onnx, then an onnx export with the onnx packages missing."""
    precious = tmp_path / "model.onnx"
    precious.write_bytes(b"precious")
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    done = cli("export", run, "--format", "onnx", "-o", precious, "--force")
    assert done.exit_code == 2 and "needs the onnx, onnxscript, onnxruntime package(s)" in done.stderr
    assert precious.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_predict_output_is_never_overwritten_without_force(cli, run, tmp_path):
    target = tmp_path / "pred.csv"
    target.write_text("mine\n")
    refused = cli("predict", run, "--x", "0.5", "-o", target)
    assert refused.exit_code == 2 and "already exists; pass --force" in refused.stderr
    assert target.read_text() == "mine\n"
    assert cli("predict", run, "--x", "0.5", "-o", target, "--force").exit_code == 0
    assert target.read_text().startswith("x,")
    inside = cli("predict", run, "--x", "0.5", "-o", run / "history.csv", "--force")
    assert inside.exit_code == 2 and "is inside the run directory" in inside.stderr


def test_a_full_disk_leaves_no_half_written_file_and_one_line(cli, run, small_disk):
    """torchscript's own writer aborted the interpreter (exit 134) and left a 0-byte file; predict -o left one;
    evaluate left an empty evaluations/<stamp>/ and a traceback."""
    moved = small_disk / "runs" / run.parent.name / run.name
    shutil.copytree(run, moved, ignore=shutil.ignore_patterns("checkpoint.pt", "evaluations", "exports"))
    fill(small_disk, 4_000)
    exported = cli("export", moved, "--format", "torchscript", "-o", small_disk / "m.pt")
    assert exported.exit_code == 1 and "no space left on the device" in exported.stderr
    predicted = cli("predict", moved, "--x", *["0.5"] * 2000, "-o", small_disk / "p.csv")
    assert predicted.exit_code == 1 and "no space left on the device" in predicted.stderr
    evaluated = cli("evaluate", moved)
    assert evaluated.exit_code == 1 and "no space left" in evaluated.stderr.lower()
    for done in (exported, predicted, evaluated):
        assert "Traceback" not in done.output
    leftovers = [p.name for p in small_disk.rglob("*") if p.name.endswith(".tmp") or p.name in ("m.pt", "p.csv")]
    assert leftovers == [] and not list(moved.glob("evaluations/*"))
