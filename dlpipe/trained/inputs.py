"""New inputs for a trained model: rows, arrays, image files or numbers, turned into what the model saw in training.

The run's stored Preprocessing is applied, never refitted. Every problem is an InputError
naming the column, row, file or shape and what was expected; the CLI prints it (exit 2).
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import torch

from dlpipe.data.folder import EXTENSIONS
from dlpipe.data.preprocess import Preprocessing
from dlpipe.trained.errors import InputError
from dlpipe.trained.rows import table_rows
from dlpipe.trained.series import series_inputs


def model_inputs(prep: Preprocessing, data, notes: list[str] | None = None) -> torch.Tensor:
    """Model-ready float32 inputs from rows (table), arrays or raw pixels (0..255), as training prepared them."""
    notes = notes if notes is not None else []
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    if prep.kind == "table":
        return torch.from_numpy(table_rows(prep, data, notes).x)
    if prep.kind == "series":
        return series_inputs(prep, data)
    x = np.asarray(data)
    if x.size == 0:
        raise InputError("no inputs: the input is empty")
    if prep.kind == "images":
        return torch.from_numpy(prep.scaled(_pixels(prep, x, notes).astype(np.float32) / 255.0))
    shape = prep.sample_shape
    if x.shape == shape or (shape == (1,) and x.ndim == 1):
        x = x.reshape(-1, *shape)  # one sample, or a plain list of numbers for a 1-D input
    if tuple(x.shape[1:]) != shape:
        raise InputError(f"inputs of shape {tuple(x.shape)}; this model takes (N, {', '.join(map(str, shape))})")
    try:
        x = x.astype(np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"inputs that are not numbers ({exc})") from None
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if len(bad):
        raise InputError(f"sample {bad[0] + 1} holds NaN or inf ({len(bad)} sample(s) do; beyond 3.4e38 counts): "
                         "the model's answer for it could not be right")
    return torch.from_numpy(prep.scaled(x))


def _pixels(prep: Preprocessing, x: np.ndarray, notes: list[str]) -> np.ndarray:
    """Images as (N, C, H, W) 0..255 at the training size and channels; resized or converted with a note."""
    channels, height, width = prep.sample_shape
    if x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (3, 4) and channels == 3 and x.shape[0] != 3):
        x = x[None]  # one image
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) grey
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C)
    if x.ndim != 4:
        raise InputError(f"images of shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)")
    if x.shape[1] != channels or x.shape[2:] != (height, width):
        from dlpipe.data.folder import pillow

        image = pillow()
        mode = "L" if channels == 1 else "RGB"
        converted = [np.asarray(image.fromarray(_hwc(one)).convert(mode).resize((width, height),
                                                                                 image.Resampling.BILINEAR))
                     for one in x.astype(np.uint8)]
        notes.append(f"{len(x)} image(s) of {x.shape[1]}x{x.shape[2]}x{x.shape[3]} converted to the training "
                     f"{channels}x{height}x{width}")
        x = np.stack(converted).reshape(len(x), height, width, channels).transpose(0, 3, 1, 2)
    return x


def _hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> what Pillow takes: (H, W) for one channel, (H, W, C) otherwise."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def image_files(inputs: list[str]) -> list[Path]:
    """Image files from paths, globs and folders (sorted within each); InputError for one that matches nothing."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise InputError(f"{item}: no such file, folder or matching files")
            found += [p for p in matches if p.is_file()]
    return found


def decode(files: list[Path]) -> np.ndarray:
    """The files' pixels as (N, C, H, W) uint8 (sizes and channels as in the first; others converted later)."""
    from dlpipe.data.folder import WIDE_GREY, open_image, pillow, to_mode

    image, arrays = pillow(), []
    for path in files:
        try:
            with open_image(path) as img:
                arrays.append(np.asarray(to_mode(img, "L" if img.mode in ("L", "1", "F", *WIDE_GREY) else "RGB")))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as an image ({exc})") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape
        arrays = [np.asarray(image.fromarray(a).convert("L" if len(first) == 2 else "RGB").resize(
            (first[1], first[0]), image.Resampling.BILINEAR)) for a in arrays]
    stacked = np.stack(arrays)
    return stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
