"""What watching a run costs: the per-layer network statistics and the live report against training time, and the
baselines against the whole wall time.

    DLPIPE_DATA=../shared/data python benchmarks/overheads.py [pipelines/mnist.yaml ...] [--repeats 3]

Runs each pipeline with `dlpipe run -q` in a fresh process and reads the stage times its run.log
ends with: `train` (wall seconds of the training loop), `layer stats` (wall seconds of the probes,
inside train) and `live report` (CPU seconds of the thread that rewrites report.html beside
training). Prints each as a share of train, the median over --repeats runs. Targets: <= 2 % each.
The baselines (engine/baselines.py, fitted after training) are read from metrics.json
(data.baselines.seconds) and set against the process's wall time; target: < 5 %.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stages(pipeline: Path, out: Path) -> dict[str, float]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlpipe", "run", str(pipeline), "-q", "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    log = sorted(out.glob("*/*/run.log"))[-1].read_text()
    record = json.loads(sorted(out.glob("*/*/metrics.json"))[-1].read_text())
    found = {name: float(value) for name, value in re.findall(r"^\s+([a-z ]+): ([0-9.]+) s$", log, re.M)}
    return {**found, "wall": wall, "baselines": record["data"].get("baselines", {}).get("seconds", 0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipelines", nargs="*", type=Path, default=[ROOT / "pipelines/mnist.yaml"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'pipeline':<22} {'train s':>8} {'layer stats':>16} {'live report':>16} {'wall s':>7} {'baselines':>10}")
    for pipeline in args.pipelines:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [stages(pipeline, Path(tmp) / str(i)) for i in range(args.repeats)]
        train = statistics.median(r["train"] for r in runs)
        probe = statistics.median(r["layer stats"] / r["train"] for r in runs)
        live = statistics.median(r["live report"] / r["train"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        fits = statistics.median(r["baselines"] / r["wall"] for r in runs)
        print(f"{pipeline.stem:<22} {train:>8.2f} {probe:>15.2%} {live:>15.2%} {wall:>7.2f} {fits:>9.2%}"
              f"   watching {'within' if max(probe, live) <= 0.02 else 'OVER'} 2 %"
              f"{' (under 1 s of training: fixed costs dominate)' if train < 1 else ''}, baselines "
              f"{'within' if fits < 0.05 else 'OVER'} 5 %")


if __name__ == "__main__":
    main()
