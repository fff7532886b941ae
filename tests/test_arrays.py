"""NumPy arrays: a .npz or two .npy files, any sample shape, standardized per feature or per channel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlpipe.data.sources import load_data, read_pipeline


def stripes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, 8, 8) colour images: class 1 has a bright red stripe, class 0 a bright blue one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0.0, 0.3, size=(n, 3, 8, 8)) + 5.0
    x[np.arange(n), np.where(y == 1, 0, 2), 3:5, :] += 3.0
    return x.astype(np.float32), y


def test_a_4d_npz_feeds_conv_layers_and_learns(cli, tmp_path, write_yaml):
    x, y = stripes(400)
    np.savez(tmp_path / "stripes.npz", images=x, labels=y)
    path = write_yaml("""\
        name: stripes
        seed: 2
        data: {type: arrays, path: stripes.npz, x: images, y: labels}
        model:
          layers:
            - {type: conv2d, filters: 4, kernel_size: 3, padding: same, activation: relu}
            - {type: flatten}
            - {type: linear, units: 2}
        optimizer: {type: adam, lr: 1.0e-2}
        training: {epochs: 8, batch_size: 32}
        """)
    result = cli("run", path, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    got = json.loads(next((tmp_path / "out").glob("stripes/*/metrics.json")).read_text())
    assert got["task"] == "classification" and got["test"]["accuracy"] >= 0.95
    assert got["data"]["task_reason"] == "target y holds 2 distinct integers in 400 rows: classification " \
                                         "(task: regression to predict it as a number)"
    prep = json.loads(next((tmp_path / "out").glob("stripes/*/preprocessing.json")).read_text())
    assert prep["kind"] == "arrays" and prep["sample_shape"] == [3, 8, 8] and len(prep["mean"]) == 3


def test_two_npy_files_per_feature_standardization_and_target_scale(tmp_path, write_yaml):
    rng = np.random.default_rng(0)
    x = rng.normal([10.0, -3.0], [5.0, 0.1], size=(200, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", 1000.0 * x[:, :1] + 20000.0)
    path = write_yaml("""\
        name: pair
        data: {type: arrays, x: x.npy, y: y.npy}
        model: {layers: [{type: linear, units: 1}]}
        """)
    loaded = read_pipeline(path)
    assert loaded.pipeline.data.task == "regression" and loaded.task_reason.startswith("target y holds numbers")
    data = load_data(loaded.pipeline.data, 0)
    assert data.train.x.mean(0).abs().max().item() < 1e-5 and abs(data.train.x.std(0) - 1).max().item() < 0.01
    assert data.target_scale[1] == pytest.approx(float(np.std(1000.0 * x[:, 0])), rel=0.2)
    assert data.info.sample_shape == (2,) and data.info.target_size == 1


def test_a_too_big_npy_is_refused_from_its_header_before_reading(cli, tmp_path, write_yaml):
    with open(tmp_path / "x.npy", "wb") as handle:  # an 80 GB array, as a sparse file: its size without its disk
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (200_000, 100_000)})
        handle.seek(handle.tell() + 200_000 * 100_000 * 4 - 1)
        handle.write(b"\0")
    np.save(tmp_path / "y.npy", np.zeros(200_000))
    path = write_yaml("""\
        name: huge
        data: {type: arrays, x: x.npy, y: y.npy, task: regression}
        model: {layers: [{type: linear, units: 1}]}
        """)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "x (200000, 100000) (float32) needs about" in result.stderr
    assert "is available" in result.stderr and not (tmp_path / "out").exists()


def test_object_arrays_are_refused_not_unpickled(cli, tmp_path, write_yaml):
    np.savez(tmp_path / "d.npz", x=np.array([{"a": 1}] * 30, dtype=object), y=np.arange(30) % 2)
    path = write_yaml("""\
        name: pickled
        data: {type: arrays, path: d.npz, task: classification}
        model: {layers: [{type: linear, units: 2}]}
        """)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "x holds Python objects (reading them needs pickle, which dlpipe never uses)" \
        in result.stderr, result.stderr
