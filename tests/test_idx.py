"""MNIST-format data: reading IDX, checksums, search order, downloads (mocked), splits."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import numpy as np
import pytest

from dlpipe.archive.log import Progress
from dlpipe.data.download import fetch, locate
from dlpipe.data.idx import FASHION_MNIST, MNIST, DataUnavailable, read_arrays, read_idx, search_dirs, verified_bytes
from dlpipe.data.sources import load_data
from dlpipe.language.data import MNISTData

from conftest import ROOT, TOY_CLASSIFIER, idx_bytes


def test_read_idx_round_trips_and_checks_the_header():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(idx_bytes(array), 3, "x"), array)
    with pytest.raises(DataUnavailable, match="magic number 00000801; expected 00000803"):
        read_idx(idx_bytes(np.zeros(5, np.uint8)), 3, "labels-as-images")
    with pytest.raises(DataUnavailable, match=r"header says \(2, 3, 4\) but holds 23 bytes"):
        read_idx(idx_bytes(array)[:-1], 3, "truncated")


def test_search_order(tmp_path):
    env = {"DLPIPE_DATA": "/data", "XDG_CACHE_HOME": "/xdg"}
    assert [str(p) for p in search_dirs(FASHION_MNIST, "/mine", env)] == [
        "/mine", "/data/fashion-mnist", "/xdg/dlpipe/fashion-mnist", "/usr/share/datasets/fashion-mnist"]
    home = search_dirs(MNIST, None, {})
    assert len(home) == 1 and home[0].parts[-3:] == (".cache", "dlpipe", "mnist")


def test_verification_accepts_same_content_in_any_compression(toy_mnist):
    folder, written = toy_mnist
    f = MNIST.files["train_labels"]
    path = folder / f.name
    raw = gzip.decompress(written["train_labels"])
    assert verified_bytes(path, f) == raw  # the published .gz
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=123))
    assert verified_bytes(path, f) == raw  # re-compressed, same content (as Debian ships Fashion-MNIST)
    path.write_bytes(raw)
    assert verified_bytes(path, f) == raw  # uncompressed


def test_checksum_mismatch_is_refused_and_moved_aside(toy_mnist):
    folder, written = toy_mnist
    f = MNIST.files["train_labels"]
    path = folder / f.name
    raw = bytearray(gzip.decompress(written["train_labels"]))
    raw[-1] ^= 1  # one flipped label
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataUnavailable, match="checksum does not match.*moved to .*corrupt"):
        verified_bytes(path, f)
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()


def test_missing_files_and_no_download_say_where_to_put_them(tmp_path):
    with pytest.raises(DataUnavailable) as info:
        locate(MNIST, str(tmp_path / "mine"), allow_download=False, env={"XDG_CACHE_HOME": str(tmp_path)})
    message = str(info.value)
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", str(tmp_path / "mine"),
                 str(tmp_path / "dlpipe" / "mnist"), "DLPIPE_DATA", "data.root", "mkdir -p"):
        assert name in message


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, length: int | None = None, fail_after: int | None = None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if length is None else length)}
        self.fail_after = fail_after

    def read(self, n=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(n, 1000) if n > 0 else n)


def fake_opener(files: dict[str, bytes], broken_hosts: dict[str, str]):
    """Serve `files` by name; hosts in broken_hosts misbehave in the named way."""
    calls = []

    def opener(url, timeout=None):
        calls.append(url)
        name = url.rsplit("/", 1)[-1]
        for host, fault in broken_hosts.items():
            if host in url:
                if fault == "offline":
                    raise OSError("name resolution failed")
                if fault == "corrupt":
                    return FakeResponse(b"garbage" * 100)
                if fault == "interrupted":
                    return FakeResponse(files[name], fail_after=len(files[name]) // 2)
        return FakeResponse(files[name])

    return opener, calls


@pytest.mark.parametrize("fault", ["offline", "corrupt", "interrupted"])
def test_download_falls_back_to_the_next_mirror(toy_mnist, tmp_path, fault):
    _, written = toy_mnist
    served = {MNIST.files[role].name: data for role, data in written.items()}
    opener, calls = fake_opener(served, {MNIST.mirrors[0]: fault})
    target = tmp_path / "cache" / "dlpipe" / "mnist"
    found = locate(MNIST, None, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, opener=opener)
    assert set(found) == set(MNIST.files) and all(p.parent == target for p in found.values())
    assert sorted(p.name for p in target.iterdir()) == sorted(served)  # no .part files left behind
    assert len(calls) == 8 and calls[0].startswith(MNIST.mirrors[0]) and calls[1].startswith(MNIST.mirrors[1])
    read_arrays(found, MNIST)  # and what landed verifies


def test_every_mirror_failing_is_a_clear_error(toy_mnist, tmp_path):
    _, written = toy_mnist
    served = {MNIST.files[role].name: data for role, data in written.items()}
    opener, _ = fake_opener(served, {m: "corrupt" for m in MNIST.mirrors})
    with pytest.raises(DataUnavailable) as info:
        locate(MNIST, None, env={"XDG_CACHE_HOME": str(tmp_path / "c")}, opener=opener)
    assert "Downloading failed" in str(info.value) and "checksum mismatch" in str(info.value)
    assert not (tmp_path / "c").exists()  # the folders it made for the download are gone with it


def test_a_failed_download_keeps_folders_it_did_not_make_and_files_put_there(toy_mnist, tmp_path):
    opener, _ = fake_opener({}, {m: "corrupt" for m in MNIST.mirrors})
    (tmp_path / "c").mkdir()
    with pytest.raises(DataUnavailable):
        locate(MNIST, None, env={"XDG_CACHE_HOME": str(tmp_path / "c")}, opener=opener)
    assert list((tmp_path / "c").iterdir()) == []  # its own dlpipe/mnist removed, the user's folder kept
    (tmp_path / "c" / "dlpipe" / "mnist").mkdir(parents=True)
    (tmp_path / "c" / "dlpipe" / "notes.txt").write_text("mine")
    with pytest.raises(DataUnavailable):
        locate(MNIST, None, env={"XDG_CACHE_HOME": str(tmp_path / "c")}, opener=opener)
    assert (tmp_path / "c" / "dlpipe" / "mnist").is_dir() and (tmp_path / "c" / "dlpipe" / "notes.txt").exists()


def test_truncated_download_with_content_length_is_discarded(tmp_path):
    opener = lambda url, timeout=None: FakeResponse(b"abc", length=10)  # noqa: E731
    with pytest.raises(ValueError, match="interrupted at 3 of 10 bytes"):
        fetch("http://x/f.gz", tmp_path / "f.gz", "0" * 64, opener=opener)
    assert list(tmp_path.iterdir()) == []


def test_splits_limit_and_normalisation(toy_mnist):
    folder, _ = toy_mnist
    root = str(folder)
    data = load_data(MNISTData(type="mnist", root=root, validation=100), 0)
    assert (len(data.train), len(data.validation), len(data.test)) == (500, 100, 200)
    assert data.train.x.shape == (500, 1, 28, 28) and data.train.y.dtype.is_floating_point is False
    assert abs(data.train.x.mean().item()) < 1e-4 and abs(data.train.x.std().item() - 1) < 1e-3
    fraction = load_data(MNISTData(type="mnist", root=root, validation=0.25), 0)
    assert len(fraction.validation) == 150
    limited = load_data(MNISTData(type="mnist", root=root, validation=100, limit=43), 0)
    counts = limited.train.y.bincount(minlength=10).tolist()
    assert sum(counts) == 43 and max(counts) - min(counts) <= 1
    raw = load_data(MNISTData(type="mnist", root=root, validation=100, normalize=False), 0)
    assert 0 <= raw.train.x.min() and raw.train.x.max() <= 1


def test_toy_classifier_end_to_end(cli, toy_mnist, write_yaml, tmp_path):
    folder, _ = toy_mnist
    result = cli("run", write_yaml(TOY_CLASSIFIER.format(root=folder)), "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "out").glob("toy/*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["test"]["top3_accuracy"] >= metrics["test"]["accuracy"]
    assert len(metrics["confusion_matrix"]) == 10 and sum(map(sum, metrics["confusion_matrix"])) == 200
    assert [row["name"] for row in metrics["per_class"]] == list("0123456789")
    html = (run_dir / "report.html").read_text()
    for fragment in ("Confusion matrix (test)", "Per class (test)", "Most confused (test)"):
        assert fragment in html
    assert "train_accuracy" in (run_dir / "history.csv").read_text().splitlines()[0]


def test_missing_data_exits_2_before_any_run_directory(cli, write_yaml, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DLPIPE_DATA", raising=False)
    path = write_yaml(TOY_CLASSIFIER.format(root=tmp_path / "nothing"))
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "MNIST: the data files are missing" in result.stderr and "network disabled" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_download_progress_is_drawn_by_progress_and_logged_by_it(tmp_path):
    data = b"x" * 5000
    terminal = Terminal()
    progress = Progress(stream=terminal)
    fetch("http://x/f.gz", tmp_path / "f.gz", hashlib.sha256(data).hexdigest(),
          opener=lambda url, timeout=None: FakeResponse(data), progress=progress)
    drawn = terminal.getvalue()
    assert "] f.gz:   0.0 / 0.0 MB" in drawn and "[" + "#" * 30 + "]" in drawn  # the bar reaches the end
    assert progress.transcript == ["downloading http://x/f.gz", f"saved {tmp_path / 'f.gz'} (0.0 MB, sha256 verified)"]
    assert (tmp_path / "f.gz").read_bytes() == data


def test_too_many_validation_images_is_an_input_error_naming_the_override(cli, tmp_path):
    for command in ("validate", "run"):
        result = cli(command, ROOT / "pipelines/mnist.yaml", "--set", "data.validation=59995",
                     *(["--out", tmp_path / "out"] if command == "run" else []))
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.stderr.startswith("--set data.validation=59995: data.validation: 59995 validation images "
                                        "leave too few of the 60000 training images"), result.stderr
    assert not (tmp_path / "out").exists()


def test_a_validation_split_the_files_cannot_hold_points_at_its_line(cli, toy_mnist, write_yaml, tmp_path):
    folder, _ = toy_mnist  # 600 training images: the static check (60,000) passes, loading does not
    path = write_yaml(TOY_CLASSIFIER.format(root=folder).replace("validation: 100", "validation: 595"))
    result = cli("run", path, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{path}:3:" in result.stderr and "595 validation images leave too few of the 600" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_decompression_bomb_is_refused_before_it_unpacks(toy_mnist):
    folder, _ = toy_mnist
    f = MNIST.files["train_labels"]
    path = folder / f.name
    path.write_bytes(gzip.compress(bytes(50_000_000)))  # 49 KB that would unpack to 50 MB of zeros
    assert path.stat().st_size < 100_000
    with pytest.raises(DataUnavailable, match=r"unpacks to more than the 60008 bytes of train-labels-idx1-ubyte.gz"):
        verified_bytes(path, f)
    assert path.with_name(path.name + ".corrupt").exists()
    huge = folder / MNIST.files["test_labels"].name
    huge.write_bytes(bytes(2_000_000))  # larger than any copy of the file could be: not even read
    with pytest.raises(DataUnavailable, match="larger than t10k-labels-idx1-ubyte.gz can be"):
        verified_bytes(huge, MNIST.files["test_labels"])


class Trickle(FakeResponse):
    """A response that hands out 1000 bytes a read while a fake clock moves `step` seconds a read."""

    def __init__(self, data: bytes, clock: list[float], step: float, stop=None, stop_after: int = 10**9):
        super().__init__(data)
        self.clock, self.step, self.stop, self.stop_after, self.reads = clock, step, stop, stop_after, 0

    def read(self, n=-1):
        self.reads += 1
        self.clock[0] += self.step
        if self.stop is not None and self.reads == self.stop_after:
            self.stop.set()  # as the Ctrl-C handler does
        return super().read(n)


def test_a_trickling_mirror_is_given_up_within_the_time_bound(tmp_path, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("dlpipe.data.download.time.monotonic", lambda: clock[0])
    seen = {}

    def opener(url, timeout=None):
        seen["timeout"] = timeout
        return Trickle(b"x" * 100_000, clock, step=10.0)  # 1000 bytes every 10 s

    with pytest.raises(ValueError, match="too slow: .* in 300 s; trying the next mirror"):
        fetch("http://slow/f.gz", tmp_path / "f.gz", "0" * 64, opener=opener, progress=Progress(quiet=True))
    assert seen["timeout"] == 15 and clock[0] <= 320  # no byte for 15 s fails a read; 300 s a file in all
    assert list(tmp_path.iterdir()) == []  # no .part left behind


def test_ctrl_c_during_a_download_stops_it_and_removes_the_partial_file(tmp_path):
    import threading

    from dlpipe.data.download import DownloadStopped

    stop = threading.Event()
    opener = lambda url, timeout=None: Trickle(b"x" * 100_000, [0.0], 0.0, stop, stop_after=3)  # noqa: E731
    with pytest.raises(DownloadStopped, match="the partial file was removed"):
        fetch("http://x/f.gz", tmp_path / "f.gz", "0" * 64, opener=opener, progress=Progress(quiet=True, stop=stop))
    assert list(tmp_path.iterdir()) == []


def test_sigint_during_a_download_exits_130_and_writes_nothing(cli, write_yaml, tmp_path, monkeypatch):
    import os
    import signal

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DLPIPE_DATA", raising=False)

    class Interrupted(Trickle):
        def read(self, n=-1):
            if self.reads == 2:
                os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C mid-download
            return super().read(n)

    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout=None: Interrupted(b"x" * 50_000, [0.0], 0.0))
    path = write_yaml(TOY_CLASSIFIER.format(root=tmp_path / "nowhere"))
    result = cli("run", path, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 130 and "interrupted before training began; no run was started" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    assert not [p for p in (tmp_path / "cache" / "dlpipe").rglob("*") if p.is_file()]  # no .part, no half file
