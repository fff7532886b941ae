"""How fast dlpipe starts: the light commands, and where a short run's time goes.

    python benchmarks/startup.py [--runs 10]          # `dlpipe --help` and `dlpipe runs`
    python benchmarks/startup.py --stages [--runs 5]  # `dlpipe run` sine.yaml and mnist.yaml, stage by stage

Each command runs as the installed console script does (`python -c "from dlpipe.cli import
main; main()"`, which skips the python -m machinery), from the checkout it is started in, so
running this file from an older checkout measures that one. Target: --help <= 0.10 s.
PYTHONDONTWRITEBYTECODE is dropped for the measured processes: an installed dlpipe has its
bytecode cached, and recompiling every module on each start is not what users see.

--stages reads each run's stage times from its run.log (start-up is the process's age when the
runner starts: interpreter, imports, the pipeline's checks) and prints the median of N runs per
stage; "fixed" is wall minus the train stage. Target (issue 27): the sine's fixed costs at most
`import torch` + 0.5 s, paired within each round; then one more run under `python -X importtime`
says whether a run imported torch._dynamo (torch.optim's decorators would; engine/optim.py).
Alongside, in the same rounds: `import torch` alone, the floor under every PyTorch program's
start, and with `torch._dynamo` (what torch.optim's optimizers import when used as they come).
"""

from __future__ import annotations

import argparse
import os
import re
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


STAGE = re.compile(r"^\s+([a-z -]+): ([0-9.]+) s$")


def run_stages(pipeline: str, out: str) -> dict[str, float]:
    """One `dlpipe run`: wall seconds and run.log's seconds per stage."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlpipe", "run", f"pipelines/{pipeline}", "--out", out, "-q"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    run_dir = Path(done.stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
    stages = {m.group(1): float(m.group(2)) for line in (run_dir / "run.log").read_text().splitlines()
              if (m := STAGE.match(line))}
    # layer stats run inside train, the live report in a thread beside it: neither adds to the wall
    sequential = ("start-up", "load data", "index", "build", "train", "evaluate", "report")
    stages["other"] = wall - sum(stages[k] for k in sequential)  # run directory, printing, leaving the process
    return {**stages, "wall": wall, "fixed": wall - stages["train"]}


def stages(runs: int) -> None:
    """The stage breakdown of sine.yaml and mnist.yaml, median of `runs`, with torch's own import beside it."""
    out = tempfile.mkdtemp(prefix="dlpipe-stages-")
    imports = {"import torch": "import torch", "import torch + torch._dynamo": "import torch, torch._dynamo"}
    pipelines = ("sine.yaml", "mnist.yaml")
    results: dict[str, list[dict]] = {p: [] for p in (*pipelines, *imports)}
    run_stages("sine.yaml", out)  # warm the file cache and the bytecode
    for round_ in range(runs):
        for pipeline in pipelines:
            results[pipeline].append(run_stages(pipeline, out))
        for label, code in imports.items():
            results[label].append({"wall": seconds(code, [])})
        print(f"  round {round_ + 1}/{runs}: " + ", ".join(f"{p} {results[p][-1]['wall']:.2f} s" for p in pipelines),
              file=sys.stderr, flush=True)
    names = [k for k in results["sine.yaml"][0] if k not in ("total", "other", "wall", "fixed")] + \
        ["other", "wall", "fixed"]
    print(f"{'stage (median of ' + str(runs) + ')':<26}" + "".join(f"{p:>12}" for p in pipelines))
    for name in names:
        cells = [statistics.median(r.get(name, 0.0) for r in results[p]) for p in pipelines]
        print(f"{name:<26}" + "".join(f"{c:>12.3f}" for c in cells))
    for label in imports:
        print(f"{label:<26}{statistics.median(r['wall'] for r in results[label]):>12.3f}   (python -c, same rounds)")
    # The target, paired within each round: the sine's fixed costs against `import torch` in the same round.
    over = statistics.median(r["fixed"] - t["wall"] for r, t in zip(results["sine.yaml"], results["import torch"]))
    print(f"\nsine.yaml fixed costs over `import torch` (paired): {over:+.3f} s; target <= +0.5 s: "
          + ("met" if over <= 0.5 else "MISSED"))
    traced = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlpipe", "run", "pipelines/sine.yaml", "--out",
                             out, "-q"], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True).stderr
    print("torch._dynamo imported by a run (-X importtime, once more): "
          + ("yes" if "| torch._dynamo\n" in traced else "no"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--stages", action="store_true", help="the stages of `dlpipe run` sine.yaml and mnist.yaml")
    args = parser.parse_args()
    if args.stages:
        return stages(args.runs or 5)
    runs = args.runs or 10
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
