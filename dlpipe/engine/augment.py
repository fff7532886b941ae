"""Image augmentation of the training batches (data.augment): whole-batch tensor operations, never per image.

Flips are a masked torch.where; shifts, rotations and crops one gather of each output pixel's nearest source
(a whole-pixel shift moves values exactly; grid_sample took five times as long); noise an added tensor; erasing
a mask built by broadcasting. Filled pixels are black (the normalized value of 0). Batch k of a run draws from a generator
seeded with (seed, k), so a resumed run, which restarts at an epoch's first batch, draws what it would have.
"""

from __future__ import annotations

import math

import torch

from dlpipe.language.source import Augment

ERASE_AREA = (0.02, 0.33)  # of the image, the erased rectangle's (random erasing's usual range)
ERASE_RATIO = (0.3, 3.3)  # its height / width, drawn log-uniformly


class Augmenter:
    """`augment(batch)`: the batch (N, C, H, W) changed as data.augment says; `at(k)`: batch k comes next."""

    def __init__(self, config: Augment, seed: int, mean: tuple[float, ...] = (), std: tuple[float, ...] = ()):
        self.config, self.seed, self.batch = config, seed, 0
        self.black = torch.tensor([-m / s for m, s in zip(mean, std)] or [0.0]).view(1, -1, 1, 1)
        self.unit = torch.tensor(list(std) or [1.0]).view(1, -1, 1, 1)  # one pixel step (0..1) in normalized units

    def at(self, batch: int) -> Augmenter:
        """This augmenter, drawing for batch `batch` next (a resumed run starts at its epoch's first batch)."""
        self.batch = batch
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        config, n = self.config, x.shape[0]
        generator = torch.Generator(device=x.device).manual_seed(self.seed * 1_000_003 + self.batch)
        self.batch += 1
        rand = lambda *shape: torch.rand(*shape, generator=generator, device=x.device)  # noqa: E731
        black = self.black.to(x.device, x.dtype)
        if config.flip:
            flipped = x.flip(-1 if config.flip == "horizontal" else -2)
            x = torch.where((rand(n) < 0.5).view(n, 1, 1, 1), flipped, x)
        if config.shift or config.crop or config.rotate:
            x = self._affine(x, rand, black)
        if config.noise:
            x = x + torch.randn(x.shape, generator=generator, device=x.device) * (config.noise / self.unit.to(x.device))
        if config.erase:
            x = torch.where(self._rectangles(x, rand), torch.zeros((), device=x.device, dtype=x.dtype), x)
        return x

    def _affine(self, x: torch.Tensor, rand, black: torch.Tensor) -> torch.Tensor:
        """Each image shifted by a whole number of pixels and turned by an angle, the uncovered pixels black."""
        n = x.shape[0]
        reach = self.config.shift + self.config.crop
        dx, dy = ((torch.floor(rand(n) * (2 * reach + 1)) - reach) for _ in range(2))
        angle = (rand(n) * 2 - 1) * math.radians(self.config.rotate) if self.config.rotate else None
        return _moved(x, dx, dy, angle, black)

    def _rectangles(self, x: torch.Tensor, rand) -> torch.Tensor:
        """(N, 1, H, W) True inside each erased rectangle (in a share `erase` of the images)."""
        n, _, height, width = x.shape
        area = (ERASE_AREA[0] + rand(n) * (ERASE_AREA[1] - ERASE_AREA[0])) * height * width
        ratio = torch.exp(math.log(ERASE_RATIO[0]) + rand(n) * math.log(ERASE_RATIO[1] / ERASE_RATIO[0]))
        h = torch.sqrt(area * ratio).clamp(1, height).floor()
        w = torch.sqrt(area / ratio).clamp(1, width).floor()
        top, left = torch.floor(rand(n) * (height - h + 1)), torch.floor(rand(n) * (width - w + 1))
        rows = torch.arange(height, device=x.device).view(1, height, 1)
        cols = torch.arange(width, device=x.device).view(1, 1, width)
        inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + h).view(n, 1, 1)) &
                  (cols >= left.view(n, 1, 1)) & (cols < (left + w).view(n, 1, 1)))
        return (inside & (rand(n) < self.config.erase).view(n, 1, 1)).unsqueeze(1)


def _moved(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, angle: torch.Tensor | None, black: torch.Tensor
           ) -> torch.Tensor:
    """Image i turned by angle[i] about its centre and moved dx[i] right, dy[i] down: each output pixel takes its
    nearest source pixel (as torchvision's rotation does by default), black where none is; one gather for the batch,
    so a whole-pixel shift moves values exactly. Without a turn, rows and columns are computed apart (a third of
    the work)."""
    n, channels, height, width = x.shape
    cols = torch.arange(width, device=x.device, dtype=torch.float32).view(1, 1, width)
    rows = torch.arange(height, device=x.device, dtype=torch.float32).view(1, height, 1)
    if angle is None:
        sx, sy = (cols - dx.view(n, 1, 1)).long(), (rows - dy.view(n, 1, 1)).long()  # (n, 1, w) and (n, h, 1)
    else:
        cx, cy = (width - 1) / 2, (height - 1) / 2
        px, py = cols - cx - dx.view(n, 1, 1), rows - cy - dy.view(n, 1, 1)
        cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
        sx, sy = torch.round(cos * px + sin * py + cx).long(), torch.round(cos * py - sin * px + cy).long()
    inside = (((sx >= 0) & (sx < width)) & ((sy >= 0) & (sy < height))).view(n, 1, height, width)
    index = (sy.clamp(0, height - 1) * width + sx.clamp(0, width - 1)).view(n, 1, -1).expand(n, channels, -1)
    moved = x.contiguous().view(n, channels, -1).gather(2, index).view(n, channels, height, width)
    return torch.where(inside, moved, black)

def for_run(data_config, seed: int, prep) -> Augmenter | None:
    """The run's augmenter (None without data.augment); black is the normalized value of a 0 pixel."""
    config = getattr(data_config, "augment", None)
    if config is None:
        return None
    return Augmenter(config, seed, tuple(prep.mean) if prep is not None else (), tuple(prep.std) if prep else ())
