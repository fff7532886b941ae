"""The GPU checks (run by benchmarks/gpu_check.sh where a CUDA GPU is): the MNIST CNN in each precision, and
data-parallel on every visible GPU, against fp32 on one.

    DLPIPE_DATA=../shared/data python benchmarks/gpu_check.py [--epochs 5]

For each: test accuracy, seconds per epoch (the median of the epochs after the first, which holds cuDNN's
autotuning and the first copies), and the ratio to fp32 on one GPU. The run's own report says the device.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def run(pipeline: str, sets: list[str], out: Path, nproc: int = 1) -> dict:
    args = [sys.executable, "-m", "dlpipe", "run", str(ROOT / "pipelines" / pipeline), "--out", str(out), "-q",
            "--set", "training.device=cuda", *[a for s in sets for a in ("--set", s)]]
    if nproc > 1:
        args += ["--nproc", str(nproc)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    report = Path(done.stdout.strip().splitlines()[-1].removeprefix("report: "))
    record = json.loads((report.parent / "metrics.json").read_text())
    with open(report.parent / "history.csv", newline="") as handle:
        ends = [float(row["time"]) for row in csv.DictReader(handle)]
    epochs = [b - a for a, b in zip([0.0, *ends], ends)]
    return {"accuracy": record["test"].get("accuracy"), "epoch_s": statistics.median(epochs[1:] or epochs),
            "device": record.get("device")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU: these checks need one (the CPU path is what the test suite covers)")
    gpus, out = torch.cuda.device_count(), ROOT / "reports" / "gpu_check"
    print(f"{gpus} GPU(s): {', '.join(torch.cuda.get_device_name(i) for i in range(gpus))}; torch {torch.__version__}")
    cases = [(f"mnist_cnn {p}", "mnist_cnn.yaml", [f"training.precision={p}"], 1) for p in ("fp32", "bf16", "fp16")]
    cases += [(f"mnist_cnn fp32, accumulate 4 x 32", "mnist_cnn.yaml", ["training.batch_size=32",
                                                                      "training.accumulate=4"], 1)]
    cases += [(f"mnist_cnn_fast {p}", "mnist_cnn_fast.yaml", [f"training.precision={p}"], 1) for p in ("fp32", "bf16")]
    if gpus > 1:
        cases += [(f"mnist_cnn fp32, DDP on {gpus} GPUs", "mnist_cnn.yaml", [], gpus),
                  (f"mnist_cnn bf16, DDP on {gpus} GPUs", "mnist_cnn.yaml", ["training.precision=bf16"], gpus)]
    print(f"\n{'case':<40} {'test accuracy':>13} {'s / epoch':>9} {'vs fp32':>8}")
    base = None
    for name, pipeline, sets, nproc in cases:
        found = run(pipeline, [f"training.epochs={args.epochs}", *sets] if "fast" not in pipeline else sets, out,
                    nproc)
        if "error" in found:
            print(f"{name:<40} failed: {found['error']}")
            continue
        base = found["epoch_s"] if base is None else base
        print(f"{name:<40} {found['accuracy']:>13.4f} {found['epoch_s']:>9.3f} {base / found['epoch_s']:>7.2f}x")


if __name__ == "__main__":
    main()
