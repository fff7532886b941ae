"""The image-folder source: root/<class>/*.png (or root/train|validation|test/<class>/...), decoded with Pillow.

Headers are read first (cheap): sizes and channel counts are checked before any pixel
is decoded. Decoding runs in threads (Pillow releases the GIL while it decompresses).
The decoded pixels are cached under the XDG cache folder, keyed by every file's name,
size and mtime and by the size/channels asked for, so a second run does not decode.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlpipe.archive.files import write_atomic
from dlpipe.archive.log import Progress
from dlpipe.data.dataset import DataInfo, Dataset, Samples
from dlpipe.data.images import validation_count
from dlpipe.data.memory import check_fits
from dlpipe.data.preprocess import Preprocessing
from dlpipe.data.targets import class_support, split_rows
from dlpipe.language.errors import InvalidValue
from dlpipe.language.files import ImageFolderData

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SPLITS = ("train", "validation", "test")
ROOT, CHANNELS = ("data", "root"), ("data", "channels")
EXTRA = "pip install 'dlpipe[images]'  (in a checkout: pip install -e '.[images]')"


@dataclass(frozen=True)
class Listing:
    """The image files by split ('all' when the folder is not split), their labels, and the class names."""

    files: dict[str, list[Path]]
    labels: dict[str, list[int]]
    classes: tuple[str, ...]


def pillow():
    """PIL.Image, or an InvalidValue naming the extra that installs it."""
    try:
        from PIL import Image
    except ImportError:
        raise InvalidValue(("data", "type"), f"reading image folders needs Pillow, which is not installed: {EXTRA}") \
            from None
    return Image


def listing(config: ImageFolderData) -> Listing:
    """Class folders (sorted names) and their images; InvalidValue for a missing root, no classes, an empty class."""
    root = Path(config.root)
    if not root.is_dir():
        raise InvalidValue(ROOT, f"{root}: no such folder" if not root.exists() else f"{root}: is a file; expected "
                                                                                   "a folder of class folders")
    split_dirs = [s for s in SPLITS if (root / s).is_dir()]
    parts = {s: root / s for s in split_dirs} if "train" in split_dirs else {"all": root}
    classes = _classes(parts.get("train", root))
    files, labels = {}, {}
    for part, folder in parts.items():
        found = _classes(folder)
        if found != classes:
            raise InvalidValue(ROOT, f"{folder} has classes {list(found)} but {parts.get('train', root)} has "
                                     f"{list(classes)}; every split needs the same class folders")
        files[part], labels[part] = [], []
        for label, name in enumerate(classes):
            images = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())
            if not images:
                raise InvalidValue(ROOT, f"{folder / name}: the class folder holds no images "
                                         f"({', '.join(EXTENSIONS)}); add some or remove it")
            files[part] += images
            labels[part] += [label] * len(images)
    return Listing(files, labels, classes)


def _classes(folder: Path) -> tuple[str, ...]:
    names = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not names:
        raise InvalidValue(ROOT, f"{folder}: no class folders; expected {folder}/<class name>/<image files> "
                                 "(one folder per class), or train/, validation/ and test/ folders of them")
    return names


def open_image(path: Path):
    """Pillow's image of `path`, opened (its header read), or OSError: a decompression bomb (more pixels than
    Pillow's safe limit, 89 million: a 30000x30000 PNG of 875 KB) is refused here, before any pixel is decoded,
    and Pillow's own warning about it never reaches the terminal."""
    image = pillow()
    with warnings.catch_warnings():
        warnings.simplefilter("error", image.DecompressionBombWarning)
        try:
            return image.open(path)
        except (image.DecompressionBombWarning, image.DecompressionBombError) as exc:
            pixels = re.search(r"\((\d+) pixels\)", str(exc))
            count = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
            raise OSError(f"{count}, more than the {image.MAX_IMAGE_PIXELS:,} dlpipe decodes (a decompression "
                          "bomb?)") from None


WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit grey (Pillow opens 16-bit PNGs as I;16 or I)


def to_mode(img, mode: str):
    """The image in mode L (grey) or RGB, 16-bit grey scaled onto 0..255 (65535 -> 255).

    Pillow's own convert clips 16-bit values at 255, so two classes that differ only in
    brightness would become one; here they keep their order and spacing.
    """
    if img.mode in WIDE_GREY:
        wide = np.asarray(img, dtype=np.float64)
        img = pillow().fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8), "L")
    return img if img.mode == mode else img.convert(mode)


def _mode_channels(mode: str) -> int:
    return 3 if mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX") else 1


def shape(config: ImageFolderData, found: Listing, skip: set[Path]) -> tuple[int, int, int]:
    """(channels, height, width) the images become; InvalidValue naming two files that disagree when unset."""
    seen: dict = {}
    for path in (p for part in found.files.values() for p in part):
        try:
            with open_image(path) as img:
                seen.setdefault((img.size[1], img.size[0]), path), seen.setdefault(_mode_channels(img.mode), path)
        except (OSError, ValueError) as exc:  # not an image at all (a truncated one fails only when decoded)
            if config.on_bad_file == "error":
                raise InvalidValue(ROOT, f"{path}: cannot be read as an image ({exc}); remove it, or set "
                                         "on_bad_file: skip") from None
            skip.add(path)
    sizes = [k for k in seen if isinstance(k, tuple)]
    counts = [k for k in seen if isinstance(k, int)]
    if not sizes:
        raise InvalidValue(ROOT, f"{config.root}: none of the images can be read")
    if config.size is None and len(sizes) > 1:
        (a, b) = sizes[:2]
        raise InvalidValue(("data", "size"), f"{seen[a]} is {a[1]}x{a[0]} but {seen[b]} is {b[1]}x{b[0]} (width x "
                                             "height); set size: [height, width] to resize them all")
    if config.channels is None and len(counts) > 1:
        raise InvalidValue(CHANNELS, f"{seen[1]} has 1 channel (grey) but {seen[3]} has 3 (colour); set channels: "
                                     "1 or channels: 3 to convert them all")
    height, width = config.size or sizes[0]
    return config.channels or counts[0], height, width


def describe(config: ImageFolderData, seed: int = 0) -> DataInfo:
    """Sample shape and classes from the folder listing and the image headers (no pixel decoded)."""
    found = listing(config)
    return DataInfo("classification", shape(config, found, set()), len(found.classes), classes=tuple(found.classes))


def load(config: ImageFolderData, seed: int, progress: Progress) -> Dataset:
    """Decode (or take from the cache), split, normalize per channel with the training split's statistics."""
    found, skipped = listing(config), set()
    channels, height, width = shape(config, found, skipped)
    pixels, labels = {}, {}
    for part in found.files:
        kept = [(p, y) for p, y in zip(found.files[part], found.labels[part]) if p not in skipped]
        check_fits(len(kept) * channels * height * width * 9, f"{len(kept)} images of {channels}x{height}x{width}",
                   ROOT)
        pixels[part], bad = _decoded(config, [p for p, _ in kept], (channels, height, width), progress)
        labels[part] = np.array([y for p, y in kept if p not in bad], dtype=np.int64)
        skipped |= bad
    x, y = _split(config, pixels, labels, seed)
    support = class_support(y, found.classes, config.root, ROOT)  # a class whose images were all skipped: refused
    mean, std = _statistics(x[0]) if config.normalize else ((), ())
    for part in x:
        for c in range(len(mean)):  # one channel at a time, as the IDX source does for its one channel
            part[:, c].sub_(mean[c]).div_(std[c])
    notes = ((f"{len(skipped)} unreadable image(s) skipped (on_bad_file: skip)",) if skipped else ()) + tuple(support)
    prep = Preprocessing("images", "classification", (channels, height, width), found.classes, mean=mean, std=std,
                         size=(height, width), channels=channels, notes=notes)
    return Dataset(DataInfo("classification", (channels, height, width), len(found.classes)),
                   *(Samples(xs, torch.from_numpy(ys)) for xs, ys in zip(x, y)), classes=found.classes,
                   pixel_mean_std=(mean[0], std[0]) if channels == 1 and mean else (0.0, 1.0),
                   files=(Path(config.root),), preprocessing=prep)


def _split(config: ImageFolderData, pixels: dict, labels: dict, seed: int) -> tuple[list, list]:
    """Train/validation/test tensors (pixels in 0..1): from the split folders, carving what is missing."""
    rng = np.random.default_rng(seed)
    if "all" in pixels:
        parts = split_rows(len(labels["all"]), config.split, rng, config.root, labels=labels["all"])
        chosen = [(pixels["all"], labels["all"], idx) for idx in parts]
    else:
        if config.split.folds is not None:
            raise InvalidValue(("data", "split", "folds"), f"{config.root}: its train/ and test/ folders fix the "
                                                           "test images; K-fold cross-validation needs one folder "
                                                           "per class (dlpipe cuts the folds)")
        n = len(labels["train"])
        order = rng.permutation(n)  # as the IDX source carves validation: the same rule, the same images
        carve = validation_count(config, n) if "validation" not in pixels else 0
        val = (pixels["validation"], labels["validation"], None) if carve == 0 else (pixels["train"], labels["train"],
                                                                                     order[:carve])
        test = (pixels["test"], labels["test"], None) if "test" in pixels else None
        if test is None:
            raise InvalidValue(ROOT, f"{config.root}: has train/ but no test/ folder; add test/<class>/... images")
        chosen = [(pixels["train"], labels["train"], order[carve:]), val, test]
    xs = [torch.from_numpy(p if idx is None else p[idx]).float().div_(255) for p, _, idx in chosen]
    ys = [lab if idx is None else lab[idx] for _, lab, idx in chosen]
    return xs, ys


def _statistics(train: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the training pixels (computed as the IDX source does, channel by channel)."""
    mean = tuple(train[:, c].mean().item() for c in range(train.shape[1]))
    std = tuple(train[:, c].std().item() or 1.0 for c in range(train.shape[1]))
    return mean, std


def _decoded(config: ImageFolderData, paths: list[Path], shape: tuple[int, int, int],
             progress: Progress) -> tuple[np.ndarray, set[Path]]:
    """uint8 pixels (N, C, H, W) of `paths`, from the cache or decoded in threads; and the files that failed."""
    cache = _cache_file(paths, shape, config.on_bad_file) if config.cache else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            bad = {Path(p) for p in stored["bad"]}
            return stored["pixels"], bad
    image = pillow()
    mode = "L" if shape[0] == 1 else "RGB"
    size = (shape[2], shape[1])

    def decode(path: Path) -> np.ndarray | None:
        try:
            with open_image(path) as img:
                img.load()
                img = to_mode(img, mode)
                img = img.resize(size, image.Resampling.BILINEAR) if img.size != size else img
                return np.asarray(img).reshape(shape[1], shape[2], shape[0])
        except (OSError, ValueError, SyntaxError) as exc:
            if config.on_bad_file == "error":
                raise InvalidValue(ROOT, f"{path}: cannot be decoded ({exc}); replace it, or set on_bad_file: skip")
            return None

    out, bad = np.empty((len(paths), shape[1], shape[2], shape[0]), dtype=np.uint8), set()
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i, (path, pixels) in enumerate(zip(paths, pool.map(decode, paths))):
            if pixels is None:
                bad.add(path)
            else:
                out[i] = pixels
            if i % 500 == 0:
                progress.bar(i, len(paths), f"decoding images {i}/{len(paths)}")
    keep = [i for i, p in enumerate(paths) if p not in bad]
    pixels = np.ascontiguousarray(out[keep].transpose(0, 3, 1, 2))
    if cache is not None:
        _store(cache, pixels, bad)
    return pixels, bad


DECODER = 2  # raised when decoding changes (2: 16-bit grey scaled, not clipped), so older entries are not used


def _cache_file(paths: list[Path], shape: tuple[int, int, int], on_bad_file: str) -> Path:
    """The cache entry for these files (names, sizes, mtimes) decoded to this shape under this on_bad_file.

    A `skip` entry holds no pixels for the bad files: an `error` run must decode them itself and stop.
    """
    digest = hashlib.sha256(repr((shape, on_bad_file, DECODER)).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "dlpipe" / "image_folder" / f"{digest.hexdigest()[:32]}.npz"


def _store(cache: Path, pixels: np.ndarray, bad: set[Path]) -> None:
    """Write the cache entry atomically; a cache that cannot be written is only a slower next run."""
    buffer = io.BytesIO()
    np.savez(buffer, pixels=pixels, bad=np.array(sorted(str(p) for p in bad), dtype=str))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, buffer.getvalue())
    except OSError:
        pass
