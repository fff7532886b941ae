"""How fast the light commands start: `dlpipe --help` and `dlpipe runs`, median of N fresh processes.

    python benchmarks/startup.py [--runs 10]

Each command runs as the installed console script does (`python -c "from dlpipe.cli import
main; main()"`, which skips the python -m machinery), from the checkout it is started in, so
running this file from an older checkout measures that one. Target: --help <= 0.10 s.
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
ENTRY = "import sys; from dlpipe.cli import main; sys.argv[0] = 'dlpipe'; main()"


def seconds(code: str, args: list[str], runs: int) -> list[float]:
    """Wall seconds of `runs` fresh interpreters running `code` with `args`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    empty = tempfile.mkdtemp(prefix="dlpipe-startup-")
    seconds(ENTRY, ["--help"], 2)  # warm the file cache
    print(f"{'command':<22} {'median':>8} {'min':>8} {'max':>8}   ({runs} fresh processes each)")
    for label, code, args in (("python -c pass", "pass", []), ("dlpipe --help", ENTRY, ["--help"]),
                              ("dlpipe runs (empty)", ENTRY, ["runs", "--out", empty])):
        times = seconds(code, args, runs)
        print(f"{label:<22} {statistics.median(times):8.3f} {min(times):8.3f} {max(times):8.3f}")


if __name__ == "__main__":
    main()
