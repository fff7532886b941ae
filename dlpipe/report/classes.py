"""A classifier's test set in pictures: the confusion matrix as SVG, the worst mistakes as small PNG tiles.

matplotlib took ~1.4 s for the two heatmaps and ~2.3 s for a grid of 32 images on every
MNIST report; these take milliseconds. Class names come from the user's data: escaped.
"""

from __future__ import annotations

import base64
import struct
import zlib
from html import escape

import numpy as np

from dlpipe.report.fits import ClassReport
from dlpipe.report.svg import FONT

BLUES = ((247, 251, 255), (8, 48, 107))  # light to dark, as matplotlib's Blues and Reds end
REDS = ((255, 245, 240), (103, 0, 13))
CELL, MARGIN = 48, 12  # up to 10 classes: 16 px numbers, still 11 px on a phone


IMAGE = 300  # px: the side of the confusions image drawn instead of a matrix beyond MAX_MATRIX classes


def confusion_heatmaps(report: ClassReport) -> list[str]:
    """The confusion matrix twice: counts, and the errors alone as shares of each true class.

    The errors get their own red scale with the diagonal greyed out (its number is the recall),
    so that the confusions - the point of the figure - are not washed out by the correct predictions.
    Beyond MAX_MATRIX classes (no matrix is kept): one image of the mistakes, at most IMAGE px square.
    """
    if report.matrix is None:
        return [confusion_image(report)]
    counts = report.matrix
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    errors = np.where(np.eye(len(counts), dtype=bool), 0.0, rates)
    return [_heatmap(report.classes, counts, counts, "Counts", "d", BLUES, diagonal=True),
            _heatmap(report.classes, rates, errors, "Errors: share of each true class (diagonal: recall)", ".0%",
                     REDS, diagonal=False)]  # whole percents fit a cell at full size; the counts are beside


def _colour(t: float, scale) -> str:
    (r0, g0, b0), (r1, g1, b1) = scale
    return f"#{round(r0 + (r1 - r0) * t):02x}{round(g0 + (g1 - g0) * t):02x}{round(b0 + (b1 - b0) * t):02x}"


def _heatmap(classes, shown: np.ndarray, coloured: np.ndarray, title: str, fmt: str, scale, diagonal: bool) -> str:
    """One matrix: rows are the true class, columns the prediction; numbers on cells when n <= 20."""
    n = len(classes)
    labels = [c if len(c) <= 10 else c[:9] + "." for c in classes]
    cell = CELL if n <= 12 else max(8, 528 // n)
    label_w = 14 + 0.6 * FONT * max(len(label) for label in labels)
    tilt = max(len(label) for label in labels) > 3 or n > 12  # short names fit under their column
    left, top = MARGIN + 22 + label_w, 34
    size = cell * n
    bottom = (label_w * 0.75 if tilt else 26) + 34 + 44  # column labels, "predicted", the colour scale
    width, height = max(left + size + MARGIN, 0.56 * FONT * len(title) + 2 * MARGIN), top + size + bottom
    top_value = float(coloured.max()) or 1.0
    # Drawn at its own size (a 2-class matrix stretched to the charts' 540 px had 40 px numbers).
    parts = [f'<svg viewBox="0 0 {width:.0f} {height:.0f}" style="width: {width:.0f}px; max-width: 100%; height: auto" role="img" '
             f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="{FONT}">',
             f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-weight="600">{escape(title)}</text>']
    numbers = n <= 20
    for (i, j), value in np.ndenumerate(shown):
        masked = not diagonal and i == j
        t = float(coloured[i, j]) / top_value
        fill = "#e0e0e0" if masked else _colour(t, scale)
        x, y = left + j * cell, top + i * cell
        parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}"/>')
        if numbers and value >= 0.005:  # blank zeros: the few real confusions stand out
            ink = "#555" if masked else ("#fff" if t > 0.5 else "#000")
            text = "100%" if fmt != "d" and value >= 0.9995 else format(value, fmt)  # fits its cell
            small = FONT if n <= 10 else max(8, round(cell * 0.3))
            small = min(small, max(7, int((cell - 6) / (0.62 * len(text)))))  # "99.8%" stays inside its cell
            parts.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 5}" text-anchor="middle" fill="{ink}" '
                         f'font-size="{small}">{escape(text)}</text>')
    for k, label in enumerate(labels):
        y = top + k * cell + cell / 2 + 5
        parts.append(f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end">{escape(label)}</text>')
        x = left + k * cell + cell / 2
        if tilt:
            parts.append(f'<text transform="translate({x + 5:.1f} {top + size + 10}) rotate(-45)" '
                         f'text-anchor="end">{escape(label)}</text>')
        else:
            parts.append(f'<text x="{x:.1f}" y="{top + size + 20}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<text transform="translate({MARGIN + 8} {top + size / 2}) rotate(-90)" text-anchor="middle">'
                 'true</text>')
    axis_y = top + size + bottom - 58
    parts.append(f'<text x="{left + size / 2}" y="{axis_y:.0f}" text-anchor="middle">predicted</text>')
    parts.append(_scale_bar(left, axis_y + 12, size, scale, f"{top_value:.0f}" if fmt == "d" else
                            f"{top_value:.1%}", title))
    parts.append("</svg>")
    return "".join(parts)


def _scale_bar(x: float, y: float, width: float, scale, top: str, title: str) -> str:
    """The colour scale under the matrix: 0 on the left, the largest coloured value on the right."""
    gradient = f"g{zlib.crc32(title.encode()):x}"
    return (f'<defs><linearGradient id="{gradient}"><stop offset="0" stop-color="{_colour(0, scale)}"/>'
            f'<stop offset="1" stop-color="{_colour(1, scale)}"/></linearGradient></defs>'
            f'<rect x="{x}" y="{y:.0f}" width="{width}" height="10" fill="url(#{gradient})" stroke="#999"/>'
            f'<text x="{x}" y="{y + 28:.0f}">0</text>'
            f'<text x="{x + width}" y="{y + 28:.0f}" text-anchor="end">{escape(top)}</text>')


def confusion_image(report: ClassReport) -> str:
    """The mistakes of many classes as one base64 PNG of at most IMAGE x IMAGE pixels (a pixel is a block of class
    pairs when there are more classes than pixels): its size does not grow with the number of classes."""
    k = len(report.classes)
    block = -(-k // IMAGE)
    side = -(-k // block)
    grid = np.zeros((side, side))
    pairs = report.pairs if report.pairs is not None else np.zeros((0, 3), dtype=np.int64)
    wrong = pairs[pairs[:, 0] != pairs[:, 1]]
    np.add.at(grid, (wrong[:, 0] // block, wrong[:, 1] // block), wrong[:, 2])
    shade = np.sqrt(grid / grid.max()) if grid.max() > 0 else grid  # sqrt: the rare confusions stay visible
    low, high = (np.asarray(end, dtype=float) for end in REDS)
    image = np.rint(low + (high - low) * shade[..., None]).astype(np.uint8)
    cells = max(1, 300 // side)  # few classes: each class pair a few pixels wide, not one
    return base64.b64encode(png(np.repeat(np.repeat(image, cells, axis=0), cells, axis=1))).decode("ascii")


def png(image: np.ndarray) -> bytes:
    """A PNG file of an HxW (grey) or HxWx3 (RGB) uint8 image: zlib and a few chunks, no imaging library."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    colour = 2 if image.ndim == 3 else 0
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)  # filter 0 each row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + \
        chunk(b"IEND", b"")


def mistakes(report: ClassReport) -> list[dict] | None:
    """The most confidently wrong test images: a base64 PNG each (dark ink on white, as printed), with captions."""
    if not report.examples:
        return None
    tiles = []
    maps = report.saliency or [None] * len(report.examples)
    for (image, true, predicted, confidence), seen in zip(report.examples, maps):
        shown = 255 - image if image.ndim == 2 else image  # grey digits: ink dark on a light page
        tiles.append({"png": base64.b64encode(png(shown)).decode("ascii"), "true": true, "predicted": predicted,
                      "confidence": f"{confidence:.0%}", "height": image.shape[0], "width": image.shape[1],
                      "saliency": base64.b64encode(png(seen)).decode("ascii") if seen is not None else None})
    return tiles


SHOWN_AUGMENTED = 12  # training images drawn as they were and as augmented


def augmented(data, config, seed: int) -> list[dict] | None:
    """The first training images beside one augmented draw of them (data.augment), as base64 PNGs (ink dark on a
    light page for grey images, as the mistakes are drawn)."""
    from dlpipe.engine.augment import Augmenter

    prep = data.preprocessing
    if config is None or prep is None or prep.kind != "images":
        return None
    mean, std = tuple(prep.mean), tuple(prep.std)
    x = data.train.x[:SHOWN_AUGMENTED].detach().float().cpu()
    changed = Augmenter(config, seed, mean, std).at(-1)(x)  # (batch -1: a draw training never makes)

    def image(one) -> str:
        pixels = one.numpy() * np.asarray(std or (1.0,)).reshape(-1, 1, 1) + np.asarray(mean or (0.0,)).reshape(-1, 1, 1)
        pixels = np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
        shown = 255 - pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
        return base64.b64encode(png(shown)).decode("ascii")

    return [{"original": image(a), "png": image(b), "height": x.shape[2], "width": x.shape[3]}
            for a, b in zip(x, changed)]
