"""What a report drawn by matplotlib costs (report: {charts: matplotlib}) against the built-in SVG, per run.

    DLPIPE_DATA=../shared/data python benchmarks/report_charts.py [--rounds 3]

For the sine and MNIST (pipelines/sine.yaml; pipelines/mnist.yaml at one epoch), paired and alternating:
`dlpipe run FILE -q` with each drawing, fresh processes; prints the median wall seconds and the report
stage's seconds (report extras + report, from run.log), and the difference.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {"sine": ("sine.yaml", []), "mnist": ("mnist.yaml", ["training.epochs=1"])}


def timed(pipeline: str, sets: list[str], charts: str, out: Path) -> tuple[float, float]:
    """(wall s, report stage s) of one run."""
    args = [sys.executable, "-m", "dlpipe", "run", str(ROOT / "pipelines" / pipeline), "--out", str(out), "-q",
            *[a for s in [*sets, f"report.charts={charts}"] for a in ("--set", s)]]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    log = (Path(done.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent / "run.log").read_text()
    stage = sum(float(m) for m in re.findall(r"^\s*(?:report extras|report): ([\d.]+) s$", log, re.M))
    return wall, stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="dlpipe-report-charts-"))
    print(f"{'run':<6} {'charts':<11} {'wall s':>7} {'report stage s':>15}")
    for name, (pipeline, sets) in CASES.items():
        found: dict[str, list[tuple[float, float]]] = {"svg": [], "matplotlib": []}
        for round_ in range(args.rounds):
            for charts in (("svg", "matplotlib") if round_ % 2 == 0 else ("matplotlib", "svg")):
                found[charts].append(timed(pipeline, sets, charts, out))
        medians = {k: (statistics.median(w for w, _ in v), statistics.median(s for _, s in v)) for k, v in found.items()}
        for charts, (wall, stage) in medians.items():
            print(f"{name:<6} {charts:<11} {wall:>7.2f} {stage:>15.2f}")
        extra = medians["matplotlib"][0] - medians["svg"][0]
        print(f"{name:<6} {'difference':<11} {extra:>+7.2f} {medians['matplotlib'][1] - medians['svg'][1]:>+15.2f}")


if __name__ == "__main__":
    main()
