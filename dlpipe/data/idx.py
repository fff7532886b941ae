"""IDX image datasets (MNIST, Fashion-MNIST): find the four files, verify, download, read.

Search order: data.root; $DLPIPE_DATA/<folder>; $XDG_CACHE_HOME/dlpipe/<folder>
(default ~/.cache/dlpipe/<folder>); then system folders such as Debian's
/usr/share/datasets/fashion-mnist. A file is used only when its SHA-256 matches:
either the published checksum of the .gz, or that of its decompressed content
(so a re-compressed or uncompressed copy of the same data is accepted too).
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


# Decompressed sizes of the four official files (MNIST and Fashion-MNIST alike): nothing larger is read.
RAW_BYTES = {"train-images": 47_040_016, "train-labels": 60_008, "t10k-images": 7_840_016, "t10k-labels": 10_008}


@dataclass(frozen=True)
class IdxFile:
    """One of the four files: its name and the two checksums that identify its content."""

    name: str
    gz_sha256: str  # published checksum of the official .gz
    raw_sha256: str  # checksum of the decompressed IDX bytes

    @property
    def raw_bytes(self) -> int:
        """The size of the official file's content; a file that holds more is not it."""
        return RAW_BYTES[self.name.split("-idx")[0]]


@dataclass(frozen=True)
class IdxDataset:
    """Where a dataset lives, how to check it and what its classes are called."""

    title: str
    folder: str
    files: dict[str, IdxFile]
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()


MNIST = IdxDataset(
    title="MNIST",
    folder="mnist",
    files={
        "train_images": IdxFile("train-images-idx3-ubyte.gz",
                                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train_labels": IdxFile("train-labels-idx1-ubyte.gz",
                                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "test_images": IdxFile("t10k-images-idx3-ubyte.gz",
                               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz",
                               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"),
    classes=tuple("0123456789"),
)

FASHION_MNIST = IdxDataset(
    title="Fashion-MNIST",
    folder="fashion-mnist",
    files={
        "train_images": IdxFile("train-images-idx3-ubyte.gz",
                                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        "train_labels": IdxFile("train-labels-idx1-ubyte.gz",
                                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        "test_images": IdxFile("t10k-images-idx3-ubyte.gz",
                               "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                               "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz",
                               "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                               "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)


class DataUnavailable(Exception):
    """The dataset cannot be used; the message says what is missing and how to fix it."""


def search_dirs(spec: IdxDataset, root: str | None, env: dict | None = None) -> list[Path]:
    """The folders searched for the files, in order."""
    env = os.environ if env is None else env
    dirs = [Path(root).expanduser()] if root else []
    if env.get("DLPIPE_DATA"):
        dirs.append(Path(env["DLPIPE_DATA"]).expanduser() / spec.folder)
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    dirs.append(cache / "dlpipe" / spec.folder)
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def find_in(folder: Path, spec: IdxDataset) -> dict[str, Path]:
    """The files present in `folder`, by role; each may be gzipped or not."""
    found = {}
    for role, f in spec.files.items():
        for name in (f.name, f.name.removesuffix(".gz")):
            if (folder / name).is_file():
                found[role] = folder / name
                break
    return found


def verified_bytes(path: Path, f: IdxFile) -> bytes:
    """The decompressed IDX content of `path`, after checking its SHA-256; a mismatch is moved aside.

    The compressed file's checksum is checked first; any other gzip is decompressed as a
    stream that stops past the official content's size, so a small file that would unpack
    to gigabytes (a decompression bomb) is refused after reading a few megabytes.
    """
    if path.stat().st_size > f.raw_bytes + (1 << 20):
        raise DataUnavailable(f"{path}: {path.stat().st_size} bytes, larger than {f.name} can be; the file is not "
                              f"used. {_move_aside(path)}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() == f.gz_sha256:
        return _gunzip(data, f.raw_bytes)
    try:
        raw = _gunzip(data, f.raw_bytes) if data[:2] == b"\x1f\x8b" else data
    except zlib.error:
        raw = b""  # a truncated or corrupt gzip stream: fails the check below
    except OverflowError:
        raise DataUnavailable(f"{path}: unpacks to more than the {f.raw_bytes} bytes of {f.name}; the file is not "
                              f"used. {_move_aside(path)}") from None
    if hashlib.sha256(raw).hexdigest() == f.raw_sha256:
        return raw
    raise DataUnavailable(f"{path}: checksum does not match the published {f.name}; "
                          f"the file is not used. {_move_aside(path)}")


def _gunzip(data: bytes, limit: int) -> bytes:
    """The content of a gzip file (all its members), refusing (OverflowError) to produce more than `limit` bytes."""
    parts, size = [], 0
    while data:
        stream = zlib.decompressobj(wbits=31)
        part = stream.decompress(data, limit + 1 - size)
        size += len(part)
        if size > limit or stream.unconsumed_tail:
            raise OverflowError(limit)
        if not stream.eof:
            raise zlib.error("truncated gzip stream")
        parts.append(part)
        data = stream.unused_data
    return b"".join(parts)


def _move_aside(path: Path) -> str:
    aside = path.with_name(path.name + ".corrupt")
    try:
        path.replace(aside)
    except OSError:
        return "Replace it with a good copy."
    return f"It was moved to {aside}; run again to fetch a fresh copy."


def read_idx(raw: bytes, ndim: int, source: str) -> np.ndarray:
    """Parse IDX bytes (unsigned bytes, `ndim` dimensions), checking the header against the size."""
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != ndim:
        got = raw[:4].hex() if len(raw) >= 4 else "too short"
        raise DataUnavailable(f"{source}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
                              f"(magic number {got}; expected 000008{ndim:02x})")
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    if len(raw) - header != int(np.prod(dims)):
        raise DataUnavailable(f"{source}: header says {dims} but holds {len(raw) - header} bytes of data")
    # bytearray: a writable buffer, so torch can share it without copying or warning.
    return np.frombuffer(bytearray(raw[header:]), dtype=np.uint8).reshape(dims)


def read_arrays(paths: dict[str, Path], spec: IdxDataset) -> dict[str, np.ndarray]:
    """Verify and read the four files; check image and label counts agree and images are 28x28."""
    arrays = {}
    for role, path in paths.items():
        arrays[role] = read_idx(verified_bytes(path, spec.files[role]), 3 if "images" in role else 1, str(path))
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise DataUnavailable(f"{spec.title}: {split} images {images.shape} and labels {labels.shape} "
                                  "do not match (expected N images of 28x28 and N labels)")
        if labels.max(initial=0) >= len(spec.classes):
            raise DataUnavailable(f"{paths[f'{split}_labels']}: label {labels.max()} is out of range")
    return arrays
