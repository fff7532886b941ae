"""Keep MNIST images as float32 once, or as uint8 converted per batch? Prints seconds per epoch for each.

Run: DLPIPE_DATA=../shared/data python benchmarks/image_dtype.py
The two variants alternate within one process, three rounds each; compare the medians.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from dlpipe.data.sources import load_data
from dlpipe.language.data import MNISTData


def epoch(model, optimizer, x, y, convert, batch=128) -> float:
    order = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        xb = convert(x[idx])
        loss = nn.functional.cross_entropy(model(xb), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    data = load_data(MNISTData(type="mnist", download=False), 0)
    x_float, y = data.train.x, data.train.y
    mean, std = data.pixel_mean_std
    x_uint8 = (x_float * std + mean).mul(255).round().to(torch.uint8)
    variants = {
        "float32 once": (x_float, lambda xb: xb),
        "uint8 per batch": (x_uint8, lambda xb: xb.float().div_(255).sub_(mean).div_(std)),
    }
    times = {name: [] for name in variants}
    for _ in range(3):
        for name, (x, convert) in variants.items():
            torch.manual_seed(0)
            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
            times[name].append(epoch(model, torch.optim.Adam(model.parameters()), x, y, convert))
    for name, values in times.items():
        print(f"{name:>16}: median {statistics.median(values):.3f} s/epoch  ({', '.join(f'{v:.3f}' for v in values)})")
    print(f"memory: float32 {x_float.numel() * 4 / 1e6:.0f} MB, uint8 {x_uint8.numel() / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
