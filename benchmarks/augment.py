"""What data.augment costs: seconds per training epoch with and without it, paired, on the shipped MNIST CNNs.

    DLPIPE_DATA=../shared/data python benchmarks/augment.py [--rounds 2] [--limit 20000]

Each round runs every pipeline once plain and once augmented (order alternating, in one warm process), one
epoch on the first --limit training images, and reads the epoch's training seconds (start-up, loading and
the report are not the augmentation's). Prints each pipeline's median seconds and the ratio (target: at
most 1.20x, augmentation costing at most a fifth of an epoch).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUGMENTS = {"shift 2": "{shift: 2}", "shift 2, rotate 10, erase 0.25": "{shift: 2, rotate: 10, erase: 0.25}"}
PIPELINES = ("mnist_fast", "mnist_cnn")
TARGET = 1.20


def epoch_seconds(pipeline: str, augment: str | None, limit: int, out: Path) -> float:
    """One epoch's training seconds, in this process (warm: the comparison is the augmentation's alone)."""
    import yaml

    import dlpipe

    sets = {"training.epochs": 1, "data.limit": limit, "training.stop_at": None}
    if augment:
        sets["data.augment"] = yaml.safe_load(augment)
    run = dlpipe.run(ROOT / "pipelines" / f"{pipeline}.yaml", set=sets, out=out, quiet=True)
    return run.history["time"][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=20000)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="dlpipe-augment-"))
    print(f"{'pipeline':<11} {'augment':<32} {'epoch s':>8} {'plain s':>8} {'ratio':>6}")
    for pipeline in PIPELINES:
        plain: list[float] = []
        for name, augment in AUGMENTS.items():
            augmented = []
            for round_ in range(args.rounds):
                order = [None, augment] if round_ % 2 == 0 else [augment, None]
                for choice in order:
                    seconds = epoch_seconds(pipeline, choice, args.limit, out)
                    (augmented if choice else plain).append(seconds)
            base, timed = statistics.median(plain), statistics.median(augmented)
            print(f"{pipeline:<11} {name:<32} {timed:>8.2f} {base:>8.2f} {timed / base:>5.2f}x")
    print(f"\ntarget: at most {TARGET:.2f}x (one epoch of {args.limit:,} images, medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
