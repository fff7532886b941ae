"""CIFAR-10: the reader on small archives written in the real python-version format, the checksum, the safety."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dlpipe.data import cifar
from dlpipe.data.idx import DataUnavailable, IdxDataset, IdxFile
from dlpipe.data.sources import read_pipeline

from conftest import ROOT


def batch(n: int, seed: int) -> bytes:
    """A batch as the archive holds it: a pickled dict with bytes keys, data (n, 3072) uint8 and a list of labels."""
    rng = np.random.default_rng(seed)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    for i, label in enumerate(labels):  # learnable: the class sets the red level
        data[i, :1024] = label * 25
    return pickle.dumps({b"batch_label": b"training batch", b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, protocol=2)


def write_archive(path: Path, per_batch: int = 40, test: int = 60, extra: dict[str, bytes] | None = None) -> Path:
    members = {f"cifar-10-batches-py/data_batch_{i}": batch(per_batch, i) for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = batch(test, 99)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in
                                                                               cifar.CIFAR10.classes]}, protocol=2)
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


def test_reader_takes_the_real_format(tmp_path):
    arrays = cifar.read_archive(write_archive(tmp_path / "cifar-10-python.tar.gz"))
    assert arrays["train_images"].shape == (200, 3, 32, 32) and arrays["test_images"].shape == (60, 3, 32, 32)
    assert arrays["train_labels"].dtype == np.int64 and arrays["train_labels"].max() <= 9
    first = pickle.loads(batch(40, 1), encoding="bytes")
    assert np.array_equal(arrays["train_images"][0].reshape(-1), first[b"data"][0])  # row-major, channel first


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "owned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    path = write_archive(tmp_path / "evil.tar.gz", extra={"cifar-10-batches-py/data_batch_1": evil})
    with pytest.raises(DataUnavailable, match="is not a CIFAR-10 batch.*not part of the CIFAR-10 format"):
        cifar.read_archive(path)
    assert not marker.exists()  # the payload never ran (the message alone would not prove it)
    pickle.loads(evil)  # the check itself can fail: unpickled plainly, the payload does run
    assert marker.exists()


def test_a_file_that_is_not_the_published_archive_is_not_used(tmp_path):
    path = write_archive(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataUnavailable, match="checksum does not match the published cifar-10-python.tar.gz"):
        cifar.verify(path)


def test_offline_the_message_says_where_to_put_the_archive(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DLPIPE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = cli("run", ROOT / "pipelines" / "cifar10_cnn.yaml", "--set", "data.download=false",
                 "--out", tmp_path / "out")
    assert result.exit_code == 2 and "CIFAR-10: the data files are missing" in result.stderr
    assert f"{tmp_path / 'data' / 'cifar10'}  (has 0 of 1)" in result.stderr and "cifar-10-python.tar.gz" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_source_splits_and_normalizes_each_colour_channel(tmp_path, write_yaml, monkeypatch):
    path = write_archive(tmp_path / "cifar-10-python.tar.gz")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = IdxDataset("CIFAR-10 (test)", "cifar10", {"archive": IdxFile(path.name, digest, digest)}, (),
                      cifar.CIFAR10.classes)
    config = read_pipeline(write_yaml(f"""\
        name: c
        data: {{type: cifar10, root: {tmp_path}, validation: 50, download: false}}
        model: {{layers: [{{type: flatten}}, {{type: linear, units: 10}}]}}
        """)).pipeline.data
    data = cifar.load(config, 0, progress=__import__("dlpipe.archive.log", fromlist=["Progress"]).Progress(quiet=True),
                      spec=spec)
    assert (len(data.train), len(data.validation), len(data.test)) == (150, 50, 60)
    assert data.sample_shape == (3, 32, 32) and data.classes[0] == "airplane" and data.is_image
    assert data.train.x.mean(dim=(0, 2, 3)).abs().max().item() < 1e-4 and len(data.preprocessing.mean) == 3
