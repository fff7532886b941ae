"""Re-measure the speed levers dlpipe uses or rejects, each as an A/B alternated within this process.

Every lever trains the same model on the same data both ways, `--repeats` rounds in
alternating order after one warm-up round each, and prints the median seconds per epoch of
each side and their ratio (> 1.00x: the second side is faster). Training time only, except
for mallopt: a fresh process per sample, timing 200 CNN batches with a validation pass
(5 x 1000 images) after every 50, because the large validation buffers are what glibc's
default thresholds handle badly.

Run: DLPIPE_DATA=../shared/data python benchmarks/levers.py [--repeats 3] [--only batching,threads]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
from torch import nn

from dlpipe.engine.speed import tune_allocator
from dlpipe.engine.local import Local
from loops import build, mnist_arrays, sine_arrays  # the benchmark's one definition of models and data

CORES = len(os.sched_getaffinity(0))


def mlp() -> nn.Module:
    return build("mnist_mlp")[0]


def sine_mlp() -> nn.Module:
    return build("sine")[0]


class ThresholdDropout(nn.Module):
    """Dropout whose mask is `rand_like(x) >= p` instead of bernoulli_ (another random stream: same law)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        return x * (torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p))


def mlp_with(dropout: str) -> Callable[[], nn.Module]:
    """The MNIST MLP with its dropout as torch's (bernoulli), a threshold mask, or none."""
    def make() -> nn.Module:
        model = mlp()
        model[3] = {"bernoulli": nn.Dropout(0.2), "threshold": ThresholdDropout(0.2), "none": nn.Identity()}[dropout]
        return model
    return make


def by_index(x, y, batch):
    order = torch.randperm(len(x))
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        yield x[idx], y[idx]


def by_chunk(x, y, batch):
    yield from Local().batches(x, y, torch.randperm(len(x)), batch)


def epoch(model: nn.Module, optimizer, x, y, batch: int, loss_fn, feed=by_index, bf16: bool = False) -> float:
    """Seconds for one training epoch."""
    start = time.perf_counter()
    for xb, yb in feed(x, y, batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(xb)
        loss = loss_fn(out.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def ab(name: str, a: tuple[str, Callable[[], float]], b: tuple[str, Callable[[], float]], repeats: int) -> None:
    """Warm both sides up, alternate them `repeats` times, print medians and the ratio."""
    times: dict[str, list[float]] = {a[0]: [], b[0]: []}
    a[1](), b[1]()
    for r in range(repeats):
        for label, run in (a, b) if r % 2 == 0 else (b, a):
            times[label].append(run())
    ma, mb = statistics.median(times[a[0]]), statistics.median(times[b[0]])
    print(f"{name:<10} {a[0]:<30} {fmt(ma)}   {b[0]:<30} {fmt(mb)}   {ma / mb:5.2f}x", flush=True)


def fmt(seconds: float) -> str:
    return f"{seconds:8.4f} s " if seconds >= 0.1 else f"{seconds * 1000:8.3f} ms"


def trainer(make: Callable[[], nn.Module], x, y, batch, loss_fn, fused=True, threads=CORES, optimizer="adam",
            **kw):
    """A closure that trains one copy of the model with these settings: seconds per epoch.

    Small data sets (the sine: 2.5 ms epochs) are timed over 200 epochs a sample, MNIST over one.
    """
    torch.manual_seed(0)
    model = make()
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0e-3, fused=fused or None) if optimizer == "adam" else \
        torch.optim.SGD(model.parameters(), lr=1.0e-2)

    epochs = 200 if len(x) < 10_000 else 1

    def run() -> float:
        torch.set_num_threads(threads)
        try:
            return sum(epoch(model, optimizer, x, y, batch, loss_fn, **kw) for _ in range(epochs)) / epochs
        finally:
            torch.set_num_threads(CORES)

    return run


def course_epoch(x, y, workers: int) -> Callable[[], float]:
    """The course loop (per-sample Dataset, DataLoader) with `workers` loader processes."""
    torch.manual_seed(0)
    model = mlp()[1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0e-3)
    dataset = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)

    def run() -> float:
        start = time.perf_counter()
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb.view(-1, 784)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    return run


def allocator_child(tuned: bool) -> None:
    """In a fresh process (glibc settings cannot be undone): 200 CNN batches with validation passes between."""
    if tuned:
        tune_allocator()
    x, y = mnist_train()
    torch.manual_seed(0)
    model = build("mnist_cnn")[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0e-3, fused=True)
    start = time.perf_counter()
    for part in range(0, 200 * 128, 50 * 128):  # 200 batches, validation (5 x 1000 images) after every 50
        epoch(model, optimizer, x[part:part + 50 * 128], y[part:part + 50 * 128], 128, nn.CrossEntropyLoss(),
              feed=by_chunk)
        with torch.inference_mode():
            model.eval()
            for i in range(0, 5000, 1000):
                model(x[i:i + 1000])
            model.train()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": time.perf_counter() - start, "rss_mb": usage.ru_maxrss / 1024,
                      "sys_s": usage.ru_stime}))


def allocator(repeats: int) -> None:
    """glibc defaults against dlpipe's mallopt thresholds (dlpipe/engine/speed.py), CNN, one process per sample."""
    def child(tuned: bool) -> Callable[[], float]:
        def run() -> float:
            out = subprocess.run([sys.executable, __file__, "--allocator-child", "on" if tuned else "off"],
                                 check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            rss[tuned].append(result["rss_mb"])
            sys_s[tuned].append(result["sys_s"])
            return result["seconds"]
        return run

    rss: dict[bool, list[float]] = {False: [], True: []}
    sys_s: dict[bool, list[float]] = {False: [], True: []}
    ab("mallopt", ("CNN part-epoch, glibc default", child(False)), ("CNN part-epoch, mallopt", child(True)),
       repeats)
    print(f"{'':<10} peak RSS: default {statistics.median(rss[False]):.0f} MB, mallopt "
          f"{statistics.median(rss[True]):.0f} MB; system CPU time (page faults, mmap): default "
          f"{statistics.median(sys_s[False]):.1f} s, mallopt {statistics.median(sys_s[True]):.1f} s", flush=True)


def mnist_train() -> tuple[torch.Tensor, torch.Tensor]:
    train = mnist_arrays()[0]
    return train.x, train.y


def full_batch_sine(repeats: int) -> None:
    """Batch 64 against the whole 700-sample split at once: time per epoch, and the fit after 2 s each."""
    train, _, test = sine_arrays()
    x, y = train.x, train.y
    mse = nn.MSELoss()
    ab("fullbatch", ("sine, batch 64", trainer(sine_mlp, x, y, 64, mse)),
       ("sine, batch 700 (full)", trainer(sine_mlp, x, y, len(x), mse)), repeats)
    for batch, lr in ((64, 1.0e-2), (len(x), 1.0e-2), (len(x), 3.0e-2)):
        torch.manual_seed(0)
        model = sine_mlp()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        start, epochs = time.perf_counter(), 0
        while time.perf_counter() - start < 2.0:
            epoch(model, optimizer, x, y, batch, mse)
            epochs += 1
        with torch.inference_mode():
            err = (model(test.x) - test.y).square().sum()
            r2 = 1 - float(err / (test.y - test.y.mean()).square().sum())
        print(f"{'':<10} batch {batch:>3}, lr {lr:g}: {epochs:>5} epochs in 2 s, test R^2 {r2:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="batching,threads,fused,bf16,dropout,optimizer,batch,workers,compile,"
                                          "fullbatch,mallopt")
    parser.add_argument("--allocator-child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allocator_child:
        return allocator_child(args.allocator_child == "on")
    only, repeats = set(args.only.split(",")), args.repeats
    print(f"{CORES} usable cores, torch {torch.__version__}; seconds per training epoch, medians of {repeats}")
    (x, y), ce = mnist_train(), nn.CrossEntropyLoss()
    sine = sine_arrays()[0]
    mse = nn.MSELoss()
    if "batching" in only:
        ab("batching", ("MLP, x[idx] per batch", trainer(mlp, x, y, 128, ce)),
           ("MLP, dlpipe batches()", trainer(mlp, x, y, 128, ce, feed=by_chunk)), repeats)
        ab("batching", ("sine, x[idx] per batch", trainer(sine_mlp, sine.x, sine.y, 64, mse)),
           ("sine, dlpipe batches()", trainer(sine_mlp, sine.x, sine.y, 64, mse, feed=by_chunk)),
           repeats)
    if "threads" in only and CORES > 1:
        for label, make, xs, ys, batch, loss in (("MLP", mlp, x, y, 128, ce),
                                                 ("sine", sine_mlp, sine.x, sine.y, 64, mse)):
            ab("threads", (f"{label}, 1 thread", trainer(make, xs, ys, batch, loss, threads=1)),
               (f"{label}, {CORES} threads", trainer(make, xs, ys, batch, loss)), repeats)
    if "fused" in only:
        ab("fused", ("MLP b64, Adam foreach", trainer(mlp, x, y, 64, ce, fused=False)),
           ("MLP b64, Adam fused", trainer(mlp, x, y, 64, ce)), repeats)
    if "bf16" in only:
        ab("bf16", ("MLP b256, fp32", trainer(mlp, x, y, 256, ce)),
           ("MLP b256, bf16 autocast", trainer(mlp, x, y, 256, ce, bf16=True)), repeats)
    if "dropout" in only:  # the MLP's profile: dropout's mask ~14 % of an epoch
        ab("dropout", ("MLP, bernoulli_ mask", trainer(mlp_with("bernoulli"), x, y, 128, ce, feed=by_chunk)),
           ("MLP, rand_like >= p mask", trainer(mlp_with("threshold"), x, y, 128, ce, feed=by_chunk)), repeats)
        ab("dropout", ("MLP, dropout", trainer(mlp_with("bernoulli"), x, y, 128, ce, feed=by_chunk)),
           ("MLP, no dropout", trainer(mlp_with("none"), x, y, 128, ce, feed=by_chunk)), repeats)
    if "optimizer" in only:  # ... and Adam ~14 %: against plain SGD, the cheapest update there is
        ab("optimizer", ("MLP, Adam fused", trainer(mlp, x, y, 128, ce, feed=by_chunk)),
           ("MLP, SGD", trainer(mlp, x, y, 128, ce, feed=by_chunk, optimizer="sgd")), repeats)
    if "batch" in only:  # per-step costs (Python, the update, the gathers) against the products' size
        ab("batch", ("MLP, batch 128", trainer(mlp, x, y, 128, ce, feed=by_chunk)),
           ("MLP, batch 256", trainer(mlp, x, y, 256, ce, feed=by_chunk)), repeats)
    if "workers" in only:
        ab("workers", ("course loop, 0 workers", course_epoch(x, y, 0)),
           (f"course loop, {CORES} workers", course_epoch(x, y, CORES)), repeats)
    if "compile" in only:
        try:
            compiled = trainer(lambda: torch.compile(mlp()), x, y, 128, ce)
            ab("compile", ("MLP, eager", trainer(mlp, x, y, 128, ce)), ("MLP, torch.compile", compiled), repeats)
        except Exception as exc:  # noqa: BLE001 - inductor needs a C compiler; report and go on
            print(f"compile    failed here: {type(exc).__name__}: {str(exc)[:200]}")
    if "fullbatch" in only:
        full_batch_sine(repeats)
    if "mallopt" in only:
        allocator(repeats)


if __name__ == "__main__":
    sys.exit(main())
