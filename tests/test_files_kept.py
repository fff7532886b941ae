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
    assert leftovers == [] and not (moved / "evaluations").exists()  # not even an empty evaluations/


def test_special_files_are_never_written_even_with_force(cli, run, tmp_path):
    """Run against a real path, `--force` replaced the machine's /dev/null; here only inside a temporary folder."""
    import os
    import stat

    fifo, device = tmp_path / "f", tmp_path / "dev"
    os.mkfifo(fifo)
    os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 7))  # a /dev/full, made here (the tests run as root)
    predicted = cli("predict", run, "--x", "0.5", "-o", fifo, "--force")
    assert predicted.exit_code == 2 and "is a FIFO (named pipe); dlpipe writes only regular files" in predicted.stderr
    exported = cli("export", run, "--format", "torchscript", "-o", device, "--force")
    assert exported.exit_code == 2 and "is a device; dlpipe writes only regular files" in exported.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat(device).st_mode)
    link = tmp_path / "link"
    link.symlink_to(device)  # through a link: what it points at is what would be written
    assert cli("predict", run, "--x", "0.5", "-o", link, "--force").exit_code == 2
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_a_copied_or_renamed_run_keeps_the_guard(cli, run, tmp_path):
    best = tmp_path / "best"
    shutil.copytree(run, best)
    before = (best / "model.pt").read_bytes()
    exported = cli("export", best, "--format", "torchscript", "-o", best / "model.pt", "--force")
    assert exported.exit_code == 2 and f"is inside the run directory {best}" in exported.stderr
    predicted = cli("predict", best, "--x", "0.5", "-o", best / "metrics.json", "--force")
    assert predicted.exit_code == 2 and "is inside the run directory" in predicted.stderr
    assert (best / "model.pt").read_bytes() == before and cli("runs", "show", best).exit_code == 0


def test_an_export_whose_description_cannot_be_written_leaves_no_model_behind(cli, run, monkeypatch):
    import errno

    from dlpipe.trained import export as exporting

    real, calls = exporting.write_new, []

    def second_fails(path, content, replace=False):
        calls.append(path)
        if len(calls) == 2:  # preprocessing.json, on a disk that just filled
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, content, replace)

    monkeypatch.setattr(exporting, "write_new", second_fails)
    shutil.rmtree(run / "exports", ignore_errors=True)
    done = cli("export", run, "--format", "torchscript")
    assert done.exit_code == 1 and "nothing was left half-written" in done.stderr
    assert not (run / "exports" / "model.torchscript.pt").exists()
    monkeypatch.setattr(exporting, "write_new", real)
    again = cli("export", run, "--format", "torchscript")  # no --force needed: nothing was left
    assert again.exit_code == 0, again.output


def test_a_disk_full_before_the_first_checkpoint_says_to_run_again_not_to_resume(cli, write_yaml, small_disk):
    fill(small_disk, 40_000)  # room for pipeline.yaml, metrics.json and run.log; not for a checkpoint
    done = cli("run", write_yaml(TINY_SINE), "--out", small_disk / "o", "-q")
    assert done.exit_code == 1 and "no checkpoint could be written either, so there is nothing to resume" in \
        done.stderr and "then `dlpipe run --resume`" not in done.stderr
    run = next((small_disk / "o").glob("tiny/*"))
    resumed = cli("run", "--resume", run, "-q")
    assert resumed.exit_code == 2 and "on a full disk: its run.log says): run the pipeline again" in resumed.stderr
