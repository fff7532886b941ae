"""Shared helpers: small pipelines written to temporary files, and the CLI runner."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Each pytest-xdist worker gets its own share of the cores (and its dlpipe runs and subprocesses with it).

    Otherwise two workers each run torch on every core: 4 busy threads on 2 cores, spinning on
    each other (measured: the suite took 250-270 s instead of 2xx s).
    """
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and count > 1 and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= count:
            os.sched_setaffinity(0, cores[int(worker[2:]) % count::count])
    # scikit-learn imported once per test process, as in a notebook that has used it: the trees are then fitted
    # beside every table run, however short (engine/trees.IMPORT_S; a test takes it out to check the budget)
    import importlib.util

    if importlib.util.find_spec("sklearn") is not None:
        import sklearn.ensemble  # noqa: F401


PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))

TINY_SINE = """\
name: tiny
seed: 1
data: {type: sine, samples: 200, noise: 0.0}
model:
  layers:
    - {type: linear, units: 16, activation: tanh}
    - {type: linear, units: 1}
optimizer: {type: adam, lr: 1.0e-2}
training: {epochs: 5, batch_size: 32}
"""


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write YAML text (dedented) to a file in tmp_path and return its path."""

    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli():
    """Invoke the click CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from dlpipe.cli import main

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke


# --- small generated IDX datasets ------------------------------------------------

import gzip  # noqa: E402
import hashlib  # noqa: E402

import numpy as np  # noqa: E402


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x000008<ndim>, big-endian sizes)."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def toy_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 images: class c is a bright 6x6 block at its own place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28))
    for i, c in enumerate(labels):
        r, col = (c // 5) * 12 + 4, (c % 5) * 5 + 1
        images[i, r:r + 6, col:col + 6] = 220
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_toy_idx(folder: Path, n_train: int = 600, n_test: int = 200) -> dict[str, bytes]:
    """Write the four gzipped IDX files into `folder`; return their gz bytes by role."""
    from dlpipe.data.idx import MNIST

    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = toy_images(n_train, 0)
    test_x, test_y = toy_images(n_test, 1)
    arrays = {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}
    written = {}
    for role, array in arrays.items():
        data = gzip.compress(idx_bytes(array), mtime=0)
        (folder / MNIST.files[role].name).write_bytes(data)
        written[role] = data
    return written


@pytest.fixture
def toy_mnist(tmp_path, monkeypatch):
    """A tiny MNIST-format dataset in tmp_path/toy, with MNIST's checksum table pointed at it."""
    from dlpipe.data.idx import MNIST, IdxFile

    folder = tmp_path / "toy"
    written = write_toy_idx(folder)
    for role, data in written.items():
        monkeypatch.setitem(MNIST.files, role, IdxFile(MNIST.files[role].name, hashlib.sha256(data).hexdigest(),
                                                       hashlib.sha256(gzip.decompress(data)).hexdigest()))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DLPIPE_DATA", raising=False)
    return folder, written


TOY_CLASSIFIER = """\
name: toy
seed: 3
data: {{type: mnist, root: {root}, validation: 100}}
model:
  layers:
    - {{type: flatten}}
    - {{type: linear, units: 32, activation: relu}}
    - {{type: linear, units: 10}}
optimizer: {{type: adam, lr: 3.0e-3}}
training: {{epochs: 4, batch_size: 50}}
metrics: [accuracy, {{type: top_k_accuracy, k: 3}}, precision, recall, f1, confusion_matrix]
"""


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never touch the network: any real download attempt fails at once."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr("urllib.request.urlopen", refuse)


# --- a small disk, for what happens when it is full ------------------------------------

import shutil  # noqa: E402
import subprocess  # noqa: E402


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs at tmp_path/disk (needs root, as CI and the dev machine have); skipped where mounting fails."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk, leave_bytes: int) -> Path:
    """A filler file that leaves about `leave_bytes` free on `disk`."""
    free = shutil.disk_usage(disk).free
    filler = disk / "filler"
    filler.write_bytes(bytes(max(0, free - leave_bytes)))
    return filler


@pytest.fixture(scope="module")
def toy_mnist_module(tmp_path_factory):
    """toy_mnist for a module-scoped fixture (monkeypatch is function-scoped)."""
    import gzip
    import hashlib

    from dlpipe.data.idx import MNIST, IdxFile

    folder = tmp_path_factory.mktemp("toy")
    written = write_toy_idx(folder)
    saved = dict(MNIST.files)
    for role, data in written.items():
        MNIST.files[role] = IdxFile(MNIST.files[role].name, hashlib.sha256(data).hexdigest(),
                                    hashlib.sha256(gzip.decompress(data)).hexdigest())
    cache, old = os.environ.get("XDG_CACHE_HOME"), os.environ.pop("DLPIPE_DATA", None)
    os.environ["XDG_CACHE_HOME"] = str(folder / "cache")
    yield folder
    MNIST.files.clear()
    MNIST.files.update(saved)
    for key, value in (("XDG_CACHE_HOME", cache), ("DLPIPE_DATA", old)):
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
