"""How a run's cost grows: seconds per epoch and peak RSS against samples and against MLP width.

    DLPIPE_DATA=../shared/data python benchmarks/scaling.py [--samples 1000,10000,60000,600000]
                                                            [--widths 64,256,1024,4096]

Samples: the MNIST MLP (pipelines/mnist.yaml's model, batch 128, no schedule) on `arrays` data
made from MNIST's training images: the first N, and for N beyond 60,000 the images repeated,
each copy shifted by a random 1-2 pixels (so no two samples are equal). The split is the arrays
source's default. Width: pipelines/mnist.yaml with its hidden layer at W units. Each point is
one fresh `dlpipe run`; s/epoch is the median of epochs 2..N from history.csv. Ends with the
largest data set of 28x28 images that the arrays source would accept on this machine now,
from its own estimate (data/memory.py, data/arrays.py) made before loading.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from loops import raw_mnist
from run import measure

ROOT = Path(__file__).resolve().parent.parent


def arrays(n: int, folder: Path) -> Path:
    """x.npy and y.npy of n samples (shifted repeats beyond 60,000) and a pipeline that reads them."""
    x, y = raw_mnist("train")
    rng = np.random.default_rng(0)
    copies, xs, ys = -(-n // len(x)), [], []
    for copy in range(copies):
        shift = (0, 0) if copy == 0 else tuple(rng.choice([-2, -1, 1, 2], size=2))
        xs.append(np.roll(x, shift, axis=(2, 3)))
        ys.append(y)
    np.save(folder / "x.npy", np.concatenate(xs)[:n])
    np.save(folder / "y.npy", np.concatenate(ys)[:n])
    text = (ROOT / "pipelines" / "mnist.yaml").read_text().split("\nsweep:")[0]
    text = text.replace("  type: mnist\n", f"  type: arrays\n  x: {folder / 'x.npy'}\n  y: {folder / 'y.npy'}\n")
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith(("validation:", "normalize:")))
    (folder / "pipeline.yaml").write_text(text)
    return folder / "pipeline.yaml"


def point(pipeline: Path, epochs: int, sets: list[str], out: str) -> tuple[float, float]:
    """(median s/epoch of epochs 2..N, peak RSS MB) of one fresh `dlpipe run`."""
    sets = [f"training.epochs={epochs}", "scheduler=null", *sets]
    _, rss, stdout = measure([sys.executable, "-m", "dlpipe", "run", str(pipeline), "--out", out, "-q",
                              *[a for s in sets for a in ("--set", s)]])
    run_dir = Path(stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
    times = [float(r["time"]) for r in csv.DictReader((run_dir / "history.csv").read_text().splitlines())]
    return statistics.median(b - a for a, b in zip(times, times[1:])), rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="1000,10000,60000,600000")
    parser.add_argument("--widths", default="64,256,1024,4096")
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="dlpipe-scaling-")
    print(f"{'samples':>8} {'s/epoch':>9} {'us/sample':>10} {'peak RSS MB':>12}")
    for n in (int(v) for v in args.samples.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            pipeline = arrays(n, Path(folder))
            seconds, rss = point(pipeline, max(3, min(20, 200_000 // n)), [], out)
        print(f"{n:>8} {seconds:>9.3f} {seconds / n * 1e6:>10.2f} {rss:>12.0f}", flush=True)
    print(f"\n{'units':>8} {'s/epoch':>9} {'MFLOP/sample':>13} {'GFLOP/s':>8} {'peak RSS MB':>12}   (MNIST, 55,000 "
          "training images)")
    for width in (int(v) for v in args.widths.split(",")):
        seconds, rss = point(ROOT / "pipelines" / "mnist.yaml", 3, [f"model.layers.1.units={width}"], out)
        flops = 2 * (784 * width + width * 10) * 2 + 2 * width * 10  # forward, weight grads, one input grad
        achieved = flops * 55_000 / seconds / 1e9
        print(f"{width:>8} {seconds:>9.3f} {flops / 1e6:>13.2f} {achieved:>8.1f} {rss:>12.0f}", flush=True)
    from dlpipe.data.memory import SHARE, available_bytes

    per_sample = 784 * 4 * 3 + 8 * 3  # data/arrays.py's estimate: float32 x three times over, int64 y likewise
    fits = int(SHARE * available_bytes() / per_sample)
    print(f"\nlargest 28x28 data set the arrays source accepts now: {fits:,} images "
          f"({available_bytes() / 2**30:.1f} GiB available x {SHARE}, {per_sample:,} bytes per image once loaded)")


if __name__ == "__main__":
    main()
