"""training.accumulate: N batches of B summed into one step are one batch of N x B (the same weights, the same
schedule), and the report says the effective batch and batch norm's caveat."""

from __future__ import annotations

import json

import pytest

import dlpipe

SINE = """\
name: acc
seed: 5
data: {type: sine, samples: 400, noise: 0.05, split: {train: 0.8, validation: 0.1, test: 0.1}}
model:
  layers:
    - {type: linear, units: 16, activation: tanh}
    - {type: linear, units: 1}
optimizer: {type: adam, lr: 1.0e-2}
scheduler: cosine
training: {epochs: 3, batch_size: 64, shuffle: true}
"""


def test_four_batches_of_16_accumulated_train_as_one_batch_of_64(tmp_path, write_yaml):
    whole = dlpipe.run(write_yaml(SINE), out=tmp_path / "a", quiet=True)
    parts = dlpipe.run(write_yaml(SINE), set={"training.batch_size": 16, "training.accumulate": 4},
                       out=tmp_path / "b", quiet=True)
    for key in ("train_loss", "val_loss", "lr"):  # 320 rows: 5 steps of 64 or 5 x 4 batches of 16 an epoch
        assert parts.history[key] == pytest.approx(whole.history[key], rel=1e-5, abs=1e-7), key
    assert parts.metrics["test_r2"] == pytest.approx(whole.metrics["test_r2"], abs=1e-5)
    notes = json.loads((parts.path / "metrics.json").read_text())["data"]["notes"]
    assert any("each step sums the gradients of 4 batches of 16, an effective batch of 64" in n for n in notes)
    assert "effective batch of 64" in parts.report_path.read_text()


def test_batch_norm_under_accumulation_is_a_stated_caveat(tmp_path, write_yaml):
    spec = SINE.replace("    - {type: linear, units: 16, activation: tanh}\n",
                        "    - {type: linear, units: 16}\n    - {type: batchnorm}\n")
    done = dlpipe.run(write_yaml(spec), set={"training.batch_size": 16, "training.accumulate": 4,
                                             "training.epochs": 1}, out=tmp_path, quiet=True)
    notes = json.loads((done.path / "metrics.json").read_text())["data"]["notes"]
    assert any("batch norm normalizes each batch of 16, not the 64" in n for n in notes), notes
