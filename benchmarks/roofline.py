"""How close dlpipe's training gets to this machine's arithmetic limit: achieved GFLOP/s over measured peak.

    DLPIPE_DATA=../shared/data python benchmarks/roofline.py [--epochs 3] [--bf16] [--levers]

Peak, measured in this run: fp32 torch.mm on square sizes 256..2048 and at the MLP's own
shapes, and conv2d (forward and the two backward convolutions) at the CNN's layer shapes for
batches 128..512; the best GFLOP/s of each. FLOPs per training step are counted by
torch.utils.flop_counter over one forward and backward pass of the pipeline's model at its batch
size (matmuls and convolutions: element-wise work is not counted, as in any roofline), plus
the validation forward pass once per epoch. Achieved: `dlpipe run` of the shipped pipeline;
FLOPs of an epoch over its median time (epochs 2..N), as history.csv records it: training,
validation, checkpoint, all an epoch costs. --bf16 repeats both at bf16 (autocast), against
the bf16 matmul peak. --levers times the CNN's training step with and without channels_last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch.nn import functional as F

from run import ROOT, measure

PIPELINES = {"mnist_mlp": ("mnist.yaml", "matmul"), "mnist_cnn": ("mnist_cnn.yaml", "conv2d")}
TRAIN, VALIDATION = 55_000, 5_000


def rate(flops: float, call, seconds: float = 0.3) -> float:
    """GFLOP/s of `call` (which does `flops` of work): warmed up, then the best of three timed stretches."""
    call()
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or count < 2:
            call()
            count += 1
        best = max(best, flops * count / elapsed / 1e9)
    return best


def matmul_peak(dtype: torch.dtype, shapes: list[tuple[int, int, int]]) -> tuple[float, str]:
    """The best torch.mm GFLOP/s over the given (m, k, n) shapes, and where it was reached."""
    results = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        results[f"{m}x{k}x{n}"] = rate(2.0 * m * k * n, lambda: torch.mm(a, b))
    where = max(results, key=results.get)
    return results[where], where


def conv_peak() -> tuple[float, str]:
    """The best conv2d GFLOP/s (forward, input grad, weight grad) at the CNN's layer shapes."""
    results = {}
    for batch in (128, 256, 512):
        for c_in, c_out, side in ((1, 32, 28), (32, 64, 14)):
            x = torch.randn(batch, c_in, side, side, requires_grad=c_in > 1)
            w = torch.randn(c_out, c_in, 3, 3, requires_grad=True)
            forward = 2.0 * batch * c_out * side * side * c_in * 9
            results[f"batch {batch}, {c_in}->{c_out} at {side}x{side} forward"] = rate(
                forward, lambda: F.conv2d(x.detach(), w.detach(), padding=1))
            out = F.conv2d(x, w, padding=1)
            grad = torch.randn_like(out)
            passes = 2 if c_in > 1 else 1
            results[f"batch {batch}, {c_in}->{c_out} at {side}x{side} backward"] = rate(
                forward * passes, lambda: torch.autograd.grad(out, [x, w] if c_in > 1 else [w], grad,
                                                              retain_graph=True))
    where = max(results, key=results.get)
    return results[where], where


def model_flops(pipeline: str, bf16: bool = False) -> tuple[float, int]:
    """(FLOPs of one training epoch, batch size): counted on the pipeline's own model."""
    from torch.utils.flop_counter import FlopCounterMode

    from dlpipe.data.sources import read_pipeline
    from dlpipe.model.network import build_model

    config = read_pipeline(ROOT / "pipelines" / pipeline).pipeline
    model, _ = build_model(config.model, (1, 28, 28))
    batch = config.training.batch_size
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as step:
        F.cross_entropy(model(x), y).backward()
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        model(x)
    return step.get_total_flops() * TRAIN / batch + forward.get_total_flops() * VALIDATION / batch, batch


def epoch_seconds(pipeline: str, epochs: int, bf16: bool) -> tuple[float, float]:
    """Median seconds of epochs 2..N of a real `dlpipe run`, and its test accuracy."""
    import csv
    import json
    import tempfile
    from pathlib import Path

    sets = [f"training.epochs={epochs}"] + (["training.precision=bf16"] if bf16 else [])
    with tempfile.TemporaryDirectory() as out:
        _, _, stdout = measure([sys.executable, "-m", "dlpipe", "run", f"pipelines/{pipeline}", "--out", out, "-q",
                                *[a for s in sets for a in ("--set", s)]])
        run_dir = Path(stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
        times = [float(r["time"]) for r in csv.DictReader((run_dir / "history.csv").read_text().splitlines())]
        accuracy = json.loads((run_dir / "metrics.json").read_text())["test"]["accuracy"]
    return statistics.median(b - a for a, b in zip(times, times[1:])), accuracy


def levers() -> None:
    """The CNN's training step (batch 128) with the default memory format and with channels_last."""
    from dlpipe.data.sources import read_pipeline
    from dlpipe.model.network import build_model

    config = read_pipeline(ROOT / "pipelines" / "mnist_cnn.yaml").pipeline
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    for label, fmt in (("contiguous (NCHW)", torch.contiguous_format), ("channels_last (NHWC)", torch.channels_last)):
        model, _ = build_model(config.model, (1, 28, 28))
        model = model.to(memory_format=fmt)
        optimizer = torch.optim.Adam(model.parameters(), lr=1.0e-3, fused=True)
        xb = x.contiguous(memory_format=fmt)

        def step():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), y).backward()
            optimizer.step()

        seconds = 1.0 / rate(1.0e9, step, seconds=2.0)
        print(f"  CNN training step, {label:<22} {seconds * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also at bf16, against the bf16 matmul peak")
    parser.add_argument("--levers", action="store_true", help="also time channels_last for the CNN")
    args = parser.parse_args()
    torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    # the MLP's products (forward, input gradient, weight gradient of its big layer) at batch 128, 256 and 512
    mlp_shapes = [shape for b in (128, 256, 512) for shape in ((b, 784, 256), (b, 256, 784), (784, b, 256))]
    squares = [(s, s, s) for s in (256, 512, 1024, 2048)]
    peaks = {"matmul": matmul_peak(torch.float32, mlp_shapes), "conv2d": conv_peak(),
             "matmul square": matmul_peak(torch.float32, squares)}
    if args.bf16:
        peaks["bf16 matmul"] = matmul_peak(torch.bfloat16, mlp_shapes)
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    for name, (value, where) in peaks.items():
        print(f"peak {name:<12} {value:8.1f} GFLOP/s  (best at {where})")
    print("(matmul and conv2d at the models' shapes; 'matmul square' for reference: the machine's best fp32 product)")
    print(f"\n{'model':<10} {'precision':<9} {'GFLOP/epoch':>11} {'s/epoch':>8} {'GFLOP/s':>8} {'peak':>7} "
          f"{'fraction':>9} {'of square':>9} {'test acc':>9}")
    for model, (pipeline, kind) in PIPELINES.items():
        flops, _ = model_flops(pipeline)
        for bf16 in (False, True) if args.bf16 and model == "mnist_mlp" else (False,):  # bf16 CNN: hours here
            seconds, accuracy = epoch_seconds(pipeline, args.epochs, bf16)
            peak = peaks["bf16 matmul" if bf16 else kind][0]
            achieved = flops / seconds / 1e9
            square = peaks["matmul square"][0]
            # autocast keeps much in fp32: against an emulated bf16 peak (no AVX512-BF16/AMX) the share exceeds 1
            fraction = f"{achieved / peak:>9.1%}" if achieved <= peak else f"{'n/a':>9}"
            print(f"{model:<10} {'bf16' if bf16 else 'fp32':<9} {flops / 1e9:>11.1f} {seconds:>8.3f} "
                  f"{achieved:>8.1f} {peak:>7.1f} {fraction} {achieved / square:>9.1%} {accuracy:>9.4f}", flush=True)
    if args.levers:
        print("\nlevers")
        levers()


if __name__ == "__main__":
    main()
