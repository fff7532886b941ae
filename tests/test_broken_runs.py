"""A catalogue of damaged trained runs: each damage to a copy of a real iris run must give its one line (exit 2)
from predict, evaluate and export, and never a traceback or a hint to load with weights_only=False."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
import torch

import dlpipe

from conftest import ROOT


@pytest.fixture(scope="module")
def iris(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("iris")
    return dlpipe.run(ROOT / "pipelines" / "iris.yaml", set={"training.epochs": 2}, out=out, quiet=True).path


class Evil:
    def __reduce__(self):
        return (print, ("owned",))


def _edit_prep(change):
    def damage(saved: dict) -> dict:
        change(saved["preprocessing"])
        return saved
    return damage


# what is done to model.pt: (the change, the message it must give)
CATALOGUE = {
    "preprocessing from a newer dlpipe": (_edit_prep(lambda p: p.update(tokenizer="bpe")),
                                          "its stored preprocessing has the key(s) 'tokenizer' in it, which this "
                                          "dlpipe does not know (made by a newer dlpipe?"),
    "preprocessing without its kind": (_edit_prep(lambda p: p.pop("kind")),
                                       "its stored preprocessing lacks the key(s) 'kind' in it"),
    "a column with an extra key": (_edit_prep(lambda p: p["columns"][0].update(unit="cm")),
                                   "has the key(s) 'unit' in column 'sepal_length_cm'"),
    "a column too few": (_edit_prep(lambda p: p["columns"].pop()),
                         "its stored preprocessing has 3 column(s) making 3 inputs, but its input shape is (4,)"),
    "a class too few": (_edit_prep(lambda p: p.update(classes=p["classes"][:2])),
                        "the network gives (3,) outputs for 2 classes"),
    "preprocessing of the wrong kind": (_edit_prep(lambda p: p.update(sample_shape="wide")),
                                        "its stored preprocessing has the input shape"),
    "not a dict": (lambda saved: [1, 2, 3], "holds a list, not a dlpipe model"),
    "a pickled object": (lambda saved: {**saved, "extra": Evil()},
                         "holds objects other than tensors and plain values, which dlpipe never loads"),
}


@pytest.mark.parametrize("name", CATALOGUE)
def test_a_damaged_model_pt_is_one_line_in_every_command(cli, iris, tmp_path, name):
    change, message = CATALOGUE[name]
    run = tmp_path / "iris" / iris.name
    shutil.copytree(iris, run, ignore=shutil.ignore_patterns("evaluations", "exports"))
    saved = torch.load(run / "model.pt", weights_only=True)
    damaged = change(saved)
    if name == "a pickled object":
        (run / "model.pt").write_bytes(pickle.dumps(damaged))
    else:
        torch.save(damaged, run / "model.pt")
    for command in (["predict", run, "--x", "1"], ["evaluate", run], ["export", run, "--format", "torchscript"]):
        done = cli(*command)
        assert done.exit_code == 2 and message in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.output and "weights_only=False" not in done.output
        assert "owned" not in done.output  # the pickled payload never ran


def test_evaluating_a_table_run_on_images_says_what_it_takes(cli, iris, toy_mnist):
    folder, _ = toy_mnist
    done = cli("evaluate", iris, "--set", "data.type=mnist", "--set", f"data.root={folder}", "--set", "data.validation=100")
    assert done.exit_code == 2 and "gives classification samples of shape (1, 28, 28); this model takes " \
                                   "classification samples of shape (4,)" in done.stderr
