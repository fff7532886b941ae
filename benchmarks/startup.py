"""How fast the light commands start: `dlpipe --help` and `dlpipe runs`, median of N fresh processes.

    python benchmarks/startup.py [--runs 10]

Each command runs as the installed console script does (`python -c "from dlpipe.cli import
main; main()"`, which skips the python -m machinery), from the checkout it is started in, so
running this file from an older checkout measures that one. Target: --help <= 0.10 s.
PYTHONDONTWRITEBYTECODE is dropped for the measured processes: an installed dlpipe has its
bytecode cached, and recompiling every module on each start is not what users see.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "import sys; from dlpipe.cli import main; sys.argv[0] = 'dlpipe'; main()"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def seconds(code: str, args: list[str]) -> float:
    """Wall seconds of one fresh interpreter running `code` with `args`."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    empty = tempfile.mkdtemp(prefix="dlpipe-startup-")
    commands = {"python -c pass": ("pass", []), "dlpipe --help": (ENTRY, ["--help"]),
                "dlpipe runs (empty)": (ENTRY, ["runs", "--out", empty])}
    for code, args in commands.values():  # warm the file cache and write the bytecode
        seconds(code, args)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):  # rounds alternate the commands, so a busy moment slows all of them alike
        for label, (code, args) in commands.items():
            times[label].append(seconds(code, args))
    python = times["python -c pass"]
    print(f"{'command':<22} {'median':>8} {'min':>8} {'max':>8} {'over python':>12}   ({runs} rounds)")
    for label, values in times.items():
        over = statistics.median(v - p for v, p in zip(values, python))
        print(f"{label:<22} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f} {over:12.3f}")


if __name__ == "__main__":
    main()
