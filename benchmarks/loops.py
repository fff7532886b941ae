"""The two hand-written contenders dlpipe is measured against, for the same models and settings.

  plain   the best plain-PyTorch loop: data in memory, index batching (index_select), fused Adam,
          no DataLoader; it records the training loss and accuracy per epoch, as dlpipe does
  bare    the same loop recording nothing per batch (what the learning curves cost)
  script  plain, in a hand-written script that reads MNIST itself (gzip + numpy) and writes nothing
  course  the idiomatic loop from the course: a Dataset returning one sample at a time,
          DataLoader(shuffle=True), model(X.view(-1, 28*28)) for the MLPs

Each trains, then evaluates the validation split after every epoch (as dlpipe does) and the
test split at the end. Usage (the benchmark runner calls it):
    python benchmarks/loops.py plain|bare|script|course mnist_linear|mnist_mlp|mnist_cnn|sine EPOCHS [BATCH]
It prints one JSON line: the time at the end of each epoch, the training-set size, the test metric.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn


def mnist_arrays():
    """The same split dlpipe makes (seed 42, 5,000 validation images, normalised), as float tensors."""
    from dlpipe.data.sources import load_data
    from dlpipe.language.data import MNISTData

    data = load_data(MNISTData(type="mnist", download=False), 42)
    return data.train, data.validation, data.test


def raw_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST's (N, 1, 28, 28) uint8 images and int64 labels as a hand-written script reads them: gzip + numpy."""
    import gzip
    from pathlib import Path

    folder, prefix = Path(os.environ.get("DLPIPE_DATA", "data")) / "mnist", "train" if split == "train" else "t10k"
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz") as f:
        return x, np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)


def script_arrays():
    """MNIST as a hand-written script reads it: gzip + numpy, normalised, 5,000 validation images."""
    from types import SimpleNamespace

    (x, y), (test_x, test_y) = raw_mnist("train"), raw_mnist("test")
    x, test_x = x.astype(np.float32) / 255, test_x.astype(np.float32) / 255
    order = np.random.default_rng(42).permutation(len(x))
    train, val = order[5000:], order[:5000]
    mean, std = x[train].mean(), x[train].std()
    split = lambda a, b: SimpleNamespace(x=torch.from_numpy((a - mean) / std), y=torch.from_numpy(b))  # noqa: E731
    return split(x[train], y[train]), split(x[val], y[val]), split(test_x, test_y)


def sine_arrays():
    from dlpipe.data.sources import load_data
    from dlpipe.language.data import SineData

    data = load_data(SineData(type="sine", samples=1000, x_range=(-3.14159, 3.14159)), 42)
    return data.train, data.validation, data.test


def build(model: str) -> tuple[nn.Module, float, int]:
    """(model, lr, batch size): the same architectures as the shipped pipelines."""
    if model == "mnist_linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), 1.0e-3, 128
    if model == "mnist_mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10)), \
            1.0e-3, 128
    if model == "mnist_cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10)), 1.0e-3, 128
    if model == "mnist_fast":
        return nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten(),
            nn.Linear(800, 64), nn.ReLU(), nn.Linear(64, 10)), 1.0e-3, 64
    if model == "sine":
        return nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)), \
            1.0e-2, 64
    raise SystemExit(f"unknown model {model}")


def evaluate(model, x, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        out = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    model.train()
    return float(loss_fn(out, y)), out


def plain(model, lr, batch, epochs, train, val, loss_fn, ticks, record: bool = True):
    """In-memory tensors, one permutation per epoch, batches by index_select (2.6x faster than x[idx]).

    record=True keeps what dlpipe's history keeps, as cheaply as we know how: the training loss
    (loss.item() per batch) and, for classifiers, the training accuracy (one argmax per batch
    into a preallocated buffer). record=False is the bare loop: no per-batch bookkeeping at all.
    """
    x, y = train.x, train.y
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # the fastest Adam on CPU
    classify = not y.is_floating_point()
    guessed = torch.empty(len(x), dtype=torch.long)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            out = model(x.index_select(0, idx))
            loss = loss_fn(out, y.index_select(0, idx))
            if record:
                total += loss.item() * len(idx)
                if classify:
                    torch.argmax(out, dim=1, out=guessed[i:i + batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if record and classify:
            _ = int((guessed == y[order]).sum())
        evaluate(model, val.x, val.y, loss_fn)
        ticks.append(time.perf_counter())


class OneAtATime(torch.utils.data.Dataset):
    """The course's Dataset: __getitem__ returns one (image, label) pair."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def course(model, lr, batch, epochs, train, val, loss_fn, flatten: bool, ticks):
    """Dataset + DataLoader(shuffle=True), X.view(-1, 28*28) for the MLPs."""
    loader = torch.utils.data.DataLoader(OneAtATime(train.x, train.y), batch_size=batch, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for X, Y in loader:
            out = model(X.view(-1, 28 * 28)) if flatten else model(X)
            loss = loss_fn(out, Y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        evaluate(model, val.x.view(-1, 28 * 28) if flatten else val.x, val.y, loss_fn)
        ticks.append(time.perf_counter())


def main() -> None:
    style, name, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(42)
    if style == "script":  # a hand-written script: its own data loading, then the plain loop
        train, val, test = script_arrays()
    else:
        train, val, test = sine_arrays() if name == "sine" else mnist_arrays()
    model, lr, batch = build(name)
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else batch
    loss_fn = nn.MSELoss() if name == "sine" else nn.CrossEntropyLoss()
    flatten = name in ("mnist_linear", "mnist_mlp")
    if style == "course" and flatten:
        model = model[1:]  # the course flattens with X.view instead of a Flatten layer
    ticks = [time.perf_counter()]  # the end of every epoch; epoch 1 includes one-off start-up costs
    if style in ("plain", "bare", "script"):
        plain(model, lr, batch, epochs, train, val, loss_fn, ticks, record=style == "plain")
    else:
        course(model, lr, batch, epochs, train, val, loss_fn, flatten, ticks)
    test_x = test.x.view(-1, 784) if style == "course" and flatten else test.x
    _, out = evaluate(model, test_x, test.y, loss_fn)
    if name == "sine":
        metric = {"r2": float(1 - (out - test.y).square().sum() / (test.y - test.y.mean()).square().sum())}
    else:
        metric = {"accuracy": float((out.argmax(1) == test.y).float().mean())}
    print(json.dumps({"epoch_ends": [t - ticks[0] for t in ticks[1:]], "train_samples": len(train.x), **metric}))


if __name__ == "__main__":
    np.random.seed(0)
    main()
