"""What a tracking: section costs a run: wall time with MLflow (a local SQLite store) and TensorBoard, against none.

    python benchmarks/tracking.py [--repeats 5] [--pipelines sine,mnist_fast]

Each repeat runs every variant once, in a rotating order, as `dlpipe run FILE -q` in a fresh
process (so imports count, as they do for a user); the figures are medians and the ratio to
the untracked run of the same repeat (paired, so the machine's load cancels out). MNIST
needs DLPIPE_DATA. Run it once quiet and once with another program holding a core
(`yes > /dev/null &`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "none": [],
    "mlflow": ["--set", "tracking={mlflow: {uri: 'sqlite:///{dir}/mlflow.db', experiment: bench}}"],
    "tensorboard": ["--set", "tracking={tensorboard: {dir: '{dir}/tb'}}"],
    "both": ["--set", "tracking={mlflow: {uri: 'sqlite:///{dir}/mlflow.db', experiment: bench}, "
                      "tensorboard: {dir: '{dir}/tb'}}"],
}


def wall(pipeline: Path, args: list[str], folder: Path) -> float:
    """Seconds for one `dlpipe run` in a fresh process; it must complete."""
    command = [sys.executable, "-m", "dlpipe", "run", str(pipeline), "-q", "--out", str(folder / "out"),
               *[a.replace("{dir}", str(folder)) for a in args]]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "warning: tracking" in done.stdout + done.stderr:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pipelines", default="sine,mnist_fast")
    args = parser.parse_args()
    for name in args.pipelines.split(","):
        pipeline = ROOT / "pipelines" / f"{name}.yaml"
        times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        ratios: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        with tempfile.TemporaryDirectory() as folder:
            wall(pipeline, VARIANTS["mlflow"], Path(folder))  # the store's tables are made once, as for a user
            for repeat in range(args.repeats):
                order = list(VARIANTS)[repeat % 4:] + list(VARIANTS)[:repeat % 4]
                got = {variant: wall(pipeline, VARIANTS[variant], Path(folder)) for variant in order}
                for variant, seconds in got.items():
                    times[variant].append(seconds)
                    ratios[variant].append(seconds / got["none"])
        print(f"{name}: median of {args.repeats} (wall s, ratio to no tracking in the same repeat)")
        for variant in VARIANTS:
            print(f"  {variant:<12} {statistics.median(times[variant]):6.2f} s   "
                  f"{statistics.median(ratios[variant]):5.2f}x")


if __name__ == "__main__":
    main()
