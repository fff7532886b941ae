"""Hostile inputs with bounded time and memory: what is not a regular file is never read (a FIFO would block,
/dev/zero never ends), standard input is read to a limit, a wide header is checked in linear time, a trailing
comma is a note, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

import dlpipe
from dlpipe.cli import main

from conftest import ROOT


def run_cli(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin)


def test_a_device_or_a_fifo_as_the_pipeline_file_is_one_line_never_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")  # opening it would block until a writer came
    for path, why in (("/dev/zero", "is a character device, not a file"),
                      (tmp_path / "pipe.yaml", "is a FIFO (a named pipe), not a file")):
        done = run_cli("validate", path)
        assert done.exit_code == 2 and f"{path}: {why}; expected a pipeline YAML file" in done.stderr


def test_symbolic_link_loops_and_zero_bytes_in_paths_are_one_line_each(tmp_path):
    """RuntimeError: Symlink loop (the pipeline, data.path, a base) and ValueError: embedded null byte (extends)."""
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    (tmp_path / "x.csv").symlink_to(tmp_path / "y.csv")
    (tmp_path / "y.csv").symlink_to(tmp_path / "x.csv")
    iris = (ROOT / "pipelines" / "iris.yaml").read_text()
    (tmp_path / "data.yaml").write_text(iris.replace("path: data/iris.csv", "path: x.csv"))
    (tmp_path / "base.yaml").write_text("extends: a.yaml\n")
    (tmp_path / "zero.yaml").write_text('extends: "base.yaml\\0x"\n')
    for name, said in (("a.yaml", "a.yaml: cannot be read (Too many levels of symbolic links)"),
                       ("data.yaml", "data.path: " + str(tmp_path / "x.csv") + ": cannot be read (Too many levels"),
                       ("base.yaml", "extends: a.yaml: cannot be read (Too many levels of symbolic links)"),
                       ("zero.yaml", "is no path a file can have (it holds a zero byte)")):
        done = run_cli("validate", tmp_path / name)
        assert done.exit_code == 2 and said in done.stderr and "Traceback" not in done.output, (name, done.output)


def test_a_pipeline_file_is_read_only_up_to_its_limit(tmp_path, monkeypatch):
    from dlpipe.language import yamltext

    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 3_000_000 + "\n")
    read = []
    real = yamltext.read_at_most
    monkeypatch.setattr(yamltext, "read_at_most", lambda path, limit: read.append(limit) or real(path, limit))
    done = run_cli("validate", big)
    assert done.exit_code == 2 and "3000003 bytes; a pipeline file is at most 1000000 bytes" in done.stderr
    assert read == [yamltext.MAX_FILE_BYTES]  # never the whole file


def test_a_fifo_as_a_data_file_or_a_predict_input_is_one_line(tmp_path, write_yaml):
    os.mkfifo(tmp_path / "data.csv")
    path = write_yaml("data: {type: csv, path: data.csv, target: y}\nmodel: {layers: [{type: linear, units: 1}]}\n")
    done = run_cli("validate", path)
    assert done.exit_code == 2 and "data.csv: is a FIFO (a named pipe), not a file; expected a file" in done.stderr
    run = dlpipe.run(ROOT / "pipelines" / "iris.yaml", set={"training.epochs": 2}, out=tmp_path, quiet=True).path
    fed = run_cli("predict", run, tmp_path / "data.csv")
    assert fed.exit_code == 2 and "data.csv: is a FIFO (a named pipe), not a file" in fed.stderr


def test_standard_input_is_read_to_a_limit_not_to_the_end(tmp_path, monkeypatch):
    """`cat /dev/zero | dlpipe predict RUN -` grew until the memory ran out."""
    from dlpipe.trained import tables

    run = dlpipe.run(ROOT / "pipelines" / "iris.yaml", set={"training.epochs": 2}, out=tmp_path, quiet=True).path
    monkeypatch.setattr(tables, "MAX_STDIN", 1000)
    done = run_cli("predict", run, "-", stdin="x" * 5000)
    assert done.exit_code == 2 and "standard input holds more than" in done.stderr
    real = subprocess.run(f"head -c 300000000 /dev/zero | {sys.executable} -m dlpipe predict {run} -", shell=True,
                          capture_output=True, text=True, cwd=ROOT)
    assert real.returncode == 2 and "standard input holds more than 256 MB" in real.stderr


def test_a_header_of_100000_columns_is_checked_in_linear_time(tmp_path):
    from dlpipe.data.table import header

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join(["1"] * 100_000) + "\n")
    assert len(header(path, ",")) == 100_000  # names.count per column took more than 300 s


def test_a_trailing_comma_in_the_header_is_a_note_not_a_traceback(cli, tmp_path, write_yaml):
    rows = ["size,price,"] + [f"{i},{i * 3.5}," for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    path = write_yaml("data: {type: csv, path: t.csv, target: price}\nmodel: {layers: [{type: linear, units: 1}]}\n"
                      "training: {epochs: 2}\n")
    assert cli("validate", path).exit_code == 0
    done = cli("run", path, "--out", tmp_path / "out")
    assert done.exit_code == 0 and "note: the header ends with 1 empty column name(s) (a trailing delimiter" in \
        done.stderr


def test_many_classes_give_a_report_whose_size_does_not_grow_with_their_square(cli, tmp_path, write_yaml):
    """5,000 classes gave a 3.2 GB report.html and a 226 MB metrics.json; 1,000 already 126 MB."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{rng.normal():.3f},{rng.normal():.3f},class{i % 1000}" for i in range(10_000)]
    (tmp_path / "k.csv").write_text("\n".join(rows) + "\n")
    path = write_yaml("data: {type: csv, path: k.csv, target: label}\nmodel: {layers: [{type: linear, units: 1000}]}\n"
                      "training: {epochs: 1, batch_size: 256}\n")
    done = cli("run", path, "--out", tmp_path / "out", "-q")
    assert done.exit_code == 0, done.output
    run = next((tmp_path / "out").glob("*/*/"))
    assert (run / "report.html").stat().st_size < 200_000 and (run / "metrics.json").stat().st_size < 300_000
    assert len((run / "per_class.csv").read_text().splitlines()) == 1001  # every class, beside the report
    assert "The 20 of 1,000 classes with the lowest F1" in (run / "report.html").read_text()
    listed = cli("runs", "--out", tmp_path / "out")
    assert "completed" in listed.stdout  # it no longer vanishes from the archive
    assert (run / "confusions.csv").read_text().splitlines()[0] == "true,predicted,count"
