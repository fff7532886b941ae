"""A trained run meets bad input, broken runs and the Python API of the README."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dlpipe
from dlpipe.trained.errors import InputError

from conftest import ROOT, TINY_SINE, TOY_CLASSIFIER


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One iris run and one tiny colour-image run, trained once for this module."""
    from PIL import Image

    out = tmp_path_factory.mktemp("runs")
    dlpipe.run(ROOT / "pipelines" / "iris.yaml", set={"training.epochs": 5}, out=out, quiet=True)
    images = out / "pictures"
    rng = np.random.default_rng(0)
    for name, channel in (("blue", 2), ("red", 0)):
        (images / name).mkdir(parents=True)
        for i in range(15):
            pixels = rng.integers(0, 90, size=(8, 8, 3), dtype=np.uint8)
            pixels[:, :, channel] += 150
            Image.fromarray(pixels).save(images / name / f"{i}.png")
    (out / "pictures.yaml").write_text(f"""\
name: pictures
data: {{type: image_folder, root: {images}}}
model: {{layers: [{{type: flatten}}, {{type: linear, units: 2}}]}}
training: {{epochs: 3, batch_size: 8}}
""")
    dlpipe.run(out / "pictures.yaml", out=out, quiet=True)
    return out


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    text = (ROOT / "README.md").read_text()  # the same block is in docs/guide/trained.md (test_docs checks)
    block = text.split("<!-- the README example: tests/test_trained_inputs.py runs this block -->\n```python\n")[1]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").symlink_to(ROOT / "pipelines")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    names: dict = {}
    exec(compile(block.split("```")[0], "README.md", "exec"), names)  # noqa: S102 - our own README's example
    printed = capsys.readouterr().out
    assert printed.startswith("completed ") and "['setosa' 'virginica']" in printed and "unknown key 'sede'" in printed
    result, model, rows = names["result"], names["model"], names["rows"]
    assert result.metrics["test_accuracy"] >= 0.9 and result.history["epoch"][-1] == 50 and result.report_path.is_file()
    assert list(dlpipe.load("iris", out=tmp_path / "reports").predict(rows)) == ["setosa", "virginica"]  # by name
    probabilities = model.predict_proba(rows)
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(1), 1.0)
    assert isinstance(names["net"], torch.nn.Module) and names["pipeline"].name == "iris"
    assert names["prep"].classes == ("setosa", "versicolor", "virginica")
    assert "test_accuracy" in result._repr_html_() and "<svg" in result._repr_html_()
    assert "setosa, versicolor, virginica" in model._repr_html_()


def test_import_dlpipe_imports_no_torch():
    code = "import sys, dlpipe; dlpipe.PipelineError; print('torch' in sys.modules, 'pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("rows, message", [
    ({"sepal_length": [5.1], "sepal_width_cm": [3.5], "petal_length_cm": [1.4], "petal_width_cm": [0.2]},
     "no column 'sepal_length_cm' (did you mean 'sepal_length'?); the model's features: sepal_length_cm, "),
    ({"sepal_length_cm": ["5.1", "tall"], "sepal_width_cm": [3.5, 3], "petal_length_cm": [1.4, 1],
      "petal_width_cm": [0.2, 1]}, "column 'sepal_length_cm': row 2 ('tall') is not a number"),
    ({"sepal_length_cm": [], "sepal_width_cm": [], "petal_length_cm": [], "petal_width_cm": []},
     "no rows: the input is empty"),
    (np.zeros((3, 5)), "an array of shape (3, 5); this model takes rows of its 4 column(s) sepal_length_cm, "
                       "sepal_width_cm, petal_length_cm, petal_width_cm: a DataFrame, a dict of columns"),
])
def test_bad_rows_are_named(runs, rows, message):
    with pytest.raises(InputError, match=re.escape(message)):
        dlpipe.load("iris", out=runs).predict(rows)


def test_images_of_another_size_or_channel_count_are_converted_with_a_note(cli, runs, tmp_path):
    from PIL import Image

    Image.new("RGB", (16, 16), (240, 10, 10)).save(tmp_path / "big.png")
    Image.new("L", (8, 8), 200).save(tmp_path / "grey.png")
    done = cli("predict", "pictures", tmp_path / "big.png", "--out", runs)
    assert done.exit_code == 0 and "converted to the training 3x8x8" in done.stderr
    assert done.stdout.splitlines()[1].startswith(f"{tmp_path / 'big.png'},red,")
    grey = cli("predict", "pictures", tmp_path / "grey.png", "--out", runs)
    assert grey.exit_code == 0 and "1x8x8 converted" in grey.stderr


def test_commands_refuse_bad_input_with_one_line(cli, runs, tmp_path):
    (tmp_path / "few.csv").write_text("sepal_length_cm,sepal_width_cm,petal_length_cm\n5.1,3.5,1.4\n")
    (tmp_path / "alien.csv").write_text("sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,species\n"
                                        "5.1,3.5,1.4,0.2,setosa\n6.0,3.0,4.0,1.0,tulip\n")
    cases = [
        (("predict", "iris", tmp_path / "few.csv"), "no column 'petal_width_cm'"),
        (("predict", "iris", tmp_path / "none.csv"), "none.csv: no such file"),
        (("predict", "irs", tmp_path / "few.csv"), "did you mean iris"),
        (("evaluate", "iris", "--data", tmp_path / "alien.csv"), "alien.csv:3: has the class 'tulip', which the model does "
                                                                 "not know (its classes: setosa, versicolor, virginica)"),
        (("export", "iris", "--format", "keras"), "Invalid value for '--format'"),
    ]
    for args, message in cases:
        result = cli(*args, "--out", runs)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_broken_runs_are_refused(cli, runs, tmp_path, write_yaml):
    run_dir = next(runs.glob("iris/*/model.pt")).parent
    broken = tmp_path / "iris" / "20260101-000000-000000"
    broken.parent.mkdir()
    import shutil

    shutil.copytree(run_dir, broken, ignore=shutil.ignore_patterns("evaluations", "exports"))
    saved = torch.load(broken / "model.pt", weights_only=True)
    saved["state_dict"]["0.weight"] = torch.zeros(3, 3)
    torch.save(saved, broken / "model.pt")
    result = cli("predict", broken, "--x", "1", "--out", tmp_path)
    assert result.exit_code == 2 and "the weights do not fit the network its pipeline describes" in result.stderr
    saved["pipeline"]["model"]["layers"][0]["units"] = 0
    torch.save(saved, broken / "model.pt")
    result = cli("evaluate", broken, "--out", tmp_path)
    assert result.exit_code == 2 and "its stored pipeline no longer validates" in result.stderr
    (broken / "model.pt").unlink()
    result = cli("export", broken, "--format", "onnx", "--out", tmp_path)
    assert result.exit_code == 2 and "no model.pt; the run ended before its first epoch finished" in result.stderr


def test_one_dimensional_regressions_take_numbers(cli, tmp_path, write_yaml):
    path = write_yaml(TINY_SINE.replace("epochs: 5", "epochs: 60"))
    dlpipe.run(path, out=tmp_path, quiet=True)
    done = cli("predict", "tiny", "--x", "0.0", "1.5707", "--out", tmp_path)
    assert done.exit_code == 0, done.output
    values = [float(line.split(",")[1]) for line in done.stdout.splitlines()[1:]]
    assert abs(values[0]) < 0.3 and abs(values[1] - 1.0) < 0.3  # sin 0 and sin pi/2
    json_out = cli("predict", "tiny", "--x", "0.5", "-o", tmp_path / "p.json", "--out", tmp_path)
    assert json_out.exit_code == 0 and json.loads((tmp_path / "p.json").read_text())[0]["x"] == 0.5


def test_evaluating_on_another_data_set_warns_that_the_classes_differ(cli, toy_mnist, tmp_path, write_yaml,
                                                                     monkeypatch):
    from dlpipe.data.idx import FASHION_MNIST

    folder, written = toy_mnist
    for role, data in written.items():  # the same toy files stand in for Fashion-MNIST's
        monkeypatch.setitem(FASHION_MNIST.files, role, MNIST_FILE(role, data))
    path = write_yaml(TOY_CLASSIFIER.format(root=folder))
    trained = cli("run", path, "--out", tmp_path / "out", "-q")
    assert trained.exit_code == 0, trained.output
    run_dir = next((tmp_path / "out").glob("*/*/model.pt")).parent
    done = cli("evaluate", run_dir, "--set", "data.type=fashion_mnist", "--set", f"data.root={folder}")
    assert done.exit_code == 0, done.output
    assert "warning: the classes differ: the model knows 0, 1, 2" in done.stderr and "T-shirt/top" in done.stderr
    own = json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"]
    assert f"accuracy       {own:.6g}" in done.stdout  # the same images: the same accuracy
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        ["charts.json", "checkpoint.json", "checkpoint.pt", "evaluations", "history.csv", "layers.csv", "metrics.json", "model.pt", "pipeline.yaml",
         "preprocessing.json", "report.html", "run.log"])


def MNIST_FILE(role: str, data: bytes):
    import gzip
    import hashlib

    from dlpipe.data.idx import MNIST, IdxFile

    return IdxFile(MNIST.files[role].name, hashlib.sha256(data).hexdigest(),
                   hashlib.sha256(gzip.decompress(data)).hexdigest())


def test_in_a_notebook_the_epoch_lines_overwrite_each_other(tmp_path):
    import io

    from dlpipe.trained.api import InlineProgress

    stream = io.StringIO()
    progress = InlineProgress(stream=stream)
    progress.attach(tmp_path / "run.log")
    for epoch in (1, 2, 3):
        progress.end_epoch(epoch, 3, {"train_loss": 0.5 / epoch, "time": 0.1 * epoch})
    progress.say("status: completed")
    progress.close()
    shown = stream.getvalue()
    assert shown.count("\r") == 3 and shown.count("\n") == 2 and shown.endswith("status: completed\n")
    assert (tmp_path / "run.log").read_text().count("epoch ") == 3  # run.log keeps every epoch


def test_standard_input_folders_and_globs(runs, tmp_path):
    from click.testing import CliRunner

    from dlpipe.cli import main

    rows = "petal_width_cm,sepal_length_cm,sepal_width_cm,petal_length_cm,id\n0.2,5.1,3.5,1.4,a7\n"
    done = CliRunner().invoke(main, ["predict", "iris", "-", "--out", str(runs)], input=rows)
    assert done.exit_code == 0 and done.stdout.splitlines()[1].startswith("2,a7,setosa,"), done.output
    folder = next(runs.glob("pictures/*/")).parent.parent / "pictures"
    by_folder = CliRunner().invoke(main, ["predict", "pictures", str(folder / "red"), "--out", str(runs)])
    by_glob = CliRunner().invoke(main, ["predict", "pictures", str(folder / "red" / "1*.png"), "--out", str(runs)])
    assert by_folder.exit_code == 0 and len(by_folder.stdout.splitlines()) == 16  # header + 15 images
    assert by_glob.exit_code == 0 and len(by_glob.stdout.splitlines()) == 7  # 1.png, 10..14.png


def test_an_export_that_does_not_match_is_removed(runs, monkeypatch):
    from dlpipe.trained import export

    model = dlpipe.load("iris", out=runs)
    real = export._load_and_run
    monkeypatch.setattr(export, "_load_and_run", lambda *args: real(*args) * 1.001)  # a subtly wrong runtime
    target = runs / "wrong.pt"
    with pytest.raises(export.ExportError, match=r"differ from the run's by up to 0.001 .*nothing was written"):
        export.export_run(model, "torchscript", target)
    assert not target.exists()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(export.ExportError, match=r"pip install 'dlpipe\[export\]'  \(in a checkout: pip install -e"):
        export.export_run(model, "onnx", runs / "m.onnx")


def test_evaluate_names_a_bad_data_setting(cli, runs):
    result = cli("evaluate", "iris", "--set", "data.fo=1", "--out", runs)
    assert result.exit_code == 2 and "--set data.fo=1: data.fo: Extra inputs are not permitted (keys of data.type " \
                                     "table: categorical, dates, delimiter," in result.stderr, result.stderr
