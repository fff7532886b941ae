"""Image folders: class folders decoded with Pillow, split, normalized, cached; MNIST as PNG equals MNIST as IDX."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlpipe.data import folder, images
from dlpipe.data.idx import MNIST, IdxDataset, IdxFile, read_arrays
from dlpipe.data.sources import load_data, read_pipeline
from dlpipe.language.data import MNISTData
from dlpipe.report.insights import _pixels

from conftest import idx_bytes

SHARED = Path(os.environ.get("DLPIPE_DATA", "../shared/data")) / "mnist"


def colour_folder(root: Path, per_class: int = 12, size: int = 10, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Two classes of small RGB images (reddish and bluish), written as PNG; returns the pixels by class."""
    rng = np.random.default_rng(seed)
    written = {}
    for name, channel in (("blue", 2), ("red", 0)):
        (root / name).mkdir(parents=True, exist_ok=True)
        written[name] = []
        for i in range(per_class):
            pixels = rng.integers(0, 90, size=(size, size, 3), dtype=np.uint8)
            pixels[:, :, channel] += 150
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
            written[name].append(pixels)
    return written


def folder_pipeline(write_yaml, root: Path, extra: str = "") -> Path:
    return write_yaml(f"""\
        name: folder
        seed: 0
        data: {{type: image_folder, root: {root}{extra}}}
        model: {{layers: [{{type: flatten}}, {{type: linear, units: 2}}]}}
        training: {{epochs: 2, batch_size: 8}}
        """)


def test_colour_folder_is_split_normalized_per_channel_and_shown_in_colour(tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    written = colour_folder(tmp_path / "imgs")
    data = load_data(read_pipeline(folder_pipeline(write_yaml, tmp_path / "imgs")).pipeline.data, 0)
    assert data.classes == ("blue", "red") and data.sample_shape == (3, 10, 10)
    assert sum(map(len, (data.train, data.validation, data.test))) == 24
    assert data.train.x.mean(dim=(0, 2, 3)).abs().max().item() < 1e-5  # each channel: training mean 0
    everything = {p.tobytes() for pixels in written.values() for p in pixels}
    back = _pixels(data, torch.arange(len(data.test)))  # the report's view: the original colour pixels again
    assert all(image.shape == (10, 10, 3) and image.tobytes() in everything for image in back)


def test_decoded_pixels_are_cached_for_the_next_run(tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    colour_folder(tmp_path / "imgs")
    config = read_pipeline(folder_pipeline(write_yaml, tmp_path / "imgs")).pipeline.data
    first = load_data(config, 0)
    assert len(list((tmp_path / "cache" / "dlpipe" / "image_folder").glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache holds these files")

    monkeypatch.setattr(folder, "ThreadPoolExecutor", no_decoding)
    second = load_data(config, 0)
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    os.utime(tmp_path / "imgs" / "red" / "000.png", ns=(0, 0))  # a changed file: a new cache key, decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        load_data(config, 0)


def test_a_bad_file_is_skipped_and_counted_when_asked(tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    colour_folder(tmp_path / "imgs")
    good = (tmp_path / "imgs" / "red" / "000.png").read_bytes()
    (tmp_path / "imgs" / "red" / "zzz.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "imgs" / "blue" / "notes.png").write_text("not an image")
    config = read_pipeline(folder_pipeline(write_yaml, tmp_path / "imgs", ", on_bad_file: skip")).pipeline.data
    data = load_data(config, 0)
    assert sum(map(len, (data.train, data.validation, data.test))) == 24
    assert data.notes == ("2 unreadable image(s) skipped (on_bad_file: skip)",)


def test_sizes_that_differ_name_two_files_unless_size_is_set(cli, tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    colour_folder(tmp_path / "imgs")
    Image.new("RGB", (14, 9)).save(tmp_path / "imgs" / "red" / "big.png")
    result = cli("validate", folder_pipeline(write_yaml, tmp_path / "imgs"))
    assert result.exit_code == 2 and "is 10x10 but" in result.stderr and "big.png is 14x9" in result.stderr
    resized = read_pipeline(folder_pipeline(write_yaml, tmp_path / "imgs", ", size: [6, 6], channels: 1"))
    data = load_data(resized.pipeline.data, 0)
    assert data.sample_shape == (1, 6, 6) and len(data.preprocessing.mean) == 1


def mnist_subset(tmp_path: Path) -> tuple[Path, Path, IdxDataset]:
    """2,000 training and 500 test MNIST images (class by class) as IDX files and as PNG class folders."""
    arrays = read_arrays({role: SHARED / f.name for role, f in MNIST.files.items()}, MNIST)
    idx_dir, png_dir, files = tmp_path / "idx", tmp_path / "png", {}
    idx_dir.mkdir()
    for split, count in (("train", 2000), ("t10k", 500)):
        role = "train" if split == "train" else "test"
        labels = arrays[f"{role}_labels"][:count]
        order = np.lexsort((np.arange(count), labels))  # class by class: the order a folder listing gives
        pixels, labels = arrays[f"{role}_images"][:count][order], labels[order]
        for i, (image, label) in enumerate(zip(pixels, labels)):
            target = png_dir / role / str(label) / f"{i:05d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="L").save(target)
        for kind, array in (("images", pixels), ("labels", labels)):
            name = f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
            raw = idx_bytes(array)
            (idx_dir / name).write_bytes(gzip.compress(raw))
            files[f"{role}_{kind}"] = IdxFile(name, "0" * 64, hashlib.sha256(raw).hexdigest())
    return idx_dir, png_dir, IdxDataset("MNIST subset", "mnist", files, (), MNIST.classes)


@pytest.mark.skipif(not (SHARED / "train-images-idx3-ubyte.gz").exists(), reason="needs the MNIST files")
def test_mnist_as_png_gives_exactly_the_idx_sources_metrics(cli, tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    idx_dir, png_dir, spec = mnist_subset(tmp_path)
    monkeypatch.setitem(images.SPECS, MNISTData, spec)  # the IDX source, reading the subset's files
    body = """\
        model: {layers: [{type: flatten}, {type: linear, units: 32, activation: relu}, {type: linear, units: 10}]}
        optimizer: {type: adam, lr: 3.0e-3}
        training: {epochs: 2, batch_size: 64}
        """
    results = {}
    for kind, data in (("idx", f"{{type: mnist, root: {idx_dir}, validation: 200, download: false}}"),
                       ("png", f"{{type: image_folder, root: {png_dir}, validation: 200}}")):
        path = write_yaml(f"name: {kind}\nseed: 5\ndata: {data}\n" + textwrap.dedent(body), f"{kind}.yaml")
        result = cli("run", path, "--out", tmp_path / "out", "-q")
        assert result.exit_code == 0, result.output
        results[kind] = json.loads(next((tmp_path / "out").glob(f"{kind}/*/metrics.json")).read_text())
    assert results["png"]["test"] == results["idx"]["test"]  # identical pixels and splits: identical numbers
    assert results["png"]["test"]["accuracy"] > 0.8
    assert results["png"]["confusion_matrix"] == results["idx"]["confusion_matrix"]


def test_sixteen_bit_grey_keeps_brightness_apart(cli, tmp_path, write_yaml, monkeypatch):
    """Two classes that differ only in brightness, as 16-bit PNGs: clipped at 255 they were one (accuracy 0.33)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for name, level in (("dark", 15000), ("mid", 30000), ("bright", 50000)):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(rng.normal(level, 1500, size=(6, 6)), 0, 65535).astype(np.uint16)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    assert Image.open(tmp_path / "imgs" / "dark" / "0.png").mode.startswith("I")
    data = load_data(read_pipeline(folder_pipeline(write_yaml, tmp_path / "imgs", ", normalize: false")).pipeline.data, 0)
    means = {data.classes[c]: data.train.x[data.train.y == c].mean().item() * 255 for c in range(3)}
    assert means["dark"] == pytest.approx(15000 / 257, abs=2) and means["bright"] == pytest.approx(50000 / 257, abs=2)
    from dlpipe.trained.inputs import decode

    assert decode([tmp_path / "imgs" / "mid" / "0.png"]).mean() == pytest.approx(30000 / 257, abs=5)  # predict too


def test_a_class_whose_images_were_all_skipped_is_refused(cli, tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    colour_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "green").mkdir()
    for i in range(3):
        (tmp_path / "imgs" / "green" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    path = folder_pipeline(write_yaml, tmp_path / "imgs", ", on_bad_file: skip")
    path.write_text(path.read_text().replace("units: 2", "units: 3"))
    done = cli("run", path, "--out", tmp_path / "out")
    assert done.exit_code == 2 and "class(es) 'green' (0 sample(s) in all) have no training samples" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_class_too_small_for_every_split_is_refused_or_said_in_the_run_and_the_report(cli, tmp_path):
    """A fourth iris class of two rows: both in training (seed 0) gives a note, in the run and its report; one row
    that the split puts in test leaves the class nothing to train on: refused."""
    from conftest import ROOT
    from dlpipe.data.targets import split_rows
    from dlpipe.language.source import SplitFractions

    rows = (ROOT / "pipelines" / "data" / "iris.csv").read_text().splitlines()
    train, _, test = split_rows(150, SplitFractions(), np.random.default_rng(0), "")
    for index in train[:2]:
        rows[index + 1] = rows[index + 1].rsplit(",", 1)[0] + ",rare"
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "iris.yaml").write_text(f"data: {{type: csv, path: {tmp_path / 'iris.csv'}, target: species}}\n"
                                        "model: {layers: [{type: linear, units: 4}]}\ntraining: {epochs: 2}\n")
    done = cli("run", tmp_path / "iris.yaml", "--out", tmp_path / "out")
    assert done.exit_code == 0 and "note: class(es) 'rare' have no validation samples" in done.stderr, done.stderr
    assert "note: class(es) 'rare' have no test samples" in done.stderr
    report = next((tmp_path / "out").glob("*/*/report.html")).read_text()
    assert "have no test samples (too few in all to be in every split)" in report
    rows = (ROOT / "pipelines" / "data" / "iris.csv").read_text().splitlines()
    rows[test[0] + 1] = rows[test[0] + 1].rsplit(",", 1)[0] + ",rare"
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")
    done = cli("run", tmp_path / "iris.yaml", "--out", tmp_path / "out2")
    assert done.exit_code == 2 and "class(es) 'rare' (1 sample(s) in all) have no training samples" in done.stderr
    assert not (tmp_path / "out2").exists()


def test_the_cache_of_a_skip_run_does_not_hide_a_bad_file_from_an_error_run(cli, tmp_path, write_yaml, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    colour_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    skipped = cli("run", folder_pipeline(write_yaml, tmp_path / "imgs", ", on_bad_file: skip"), "--out", tmp_path / "a")
    assert skipped.exit_code == 0 and "1 unreadable image(s) skipped (on_bad_file: skip)" in skipped.stderr
    strict = cli("run", folder_pipeline(write_yaml, tmp_path / "imgs"), "--out", tmp_path / "b")
    assert strict.exit_code == 2 and "broken.png: cannot be" in strict.stderr and "skipped" not in strict.stderr
