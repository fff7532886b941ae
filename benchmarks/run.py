"""Benchmark dlpipe against hand-written PyTorch loops; prints a table of medians and ratios.

Contenders, alternated within this one invocation so machine noise hits all of them alike:
  dlpipe   `python -m dlpipe run PIPELINE` (the real command, report and all)
  plain    the best plain-PyTorch loop (benchmarks/loops.py plain): in-memory, index_select batching,
           fused Adam, recording the training loss and accuracy per epoch as dlpipe does
  bare     the same loop recording nothing per batch: the price of the learning curves
  course   the course's loop (benchmarks/loops.py course): per-sample Dataset + DataLoader(shuffle=True)
Throughput is training samples per second over the median epoch of 2..N (epoch 1 pays one-off start-up costs
such as torch importing its compiler on the first optimizer step); every contender evaluates
the validation split after each epoch. Wall is command to exit (for dlpipe: to the written report).

Run: DLPIPE_DATA=../shared/data python benchmarks/run.py [--repeats 3] [--models mnist_mlp,sine] [--targets]
     --peers: against Lightning and Keras; --script: the whole process against a hand-written script
     (both in benchmarks/versus.py)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# model -> (pipeline, extra --set overrides, epochs, rounds per repeat); constant lr everywhere, as in the
# hand-written loops. The cheap models get more rounds: on this shared machine a whole process can
# run 20 % slow (sine: 2.5 against 3.0 ms per epoch in one repeat), which one round per repeat cannot outvote.
MODELS = {
    "mnist_linear": ("mnist.yaml", ["model.layers=[{type: flatten}, {type: linear, units: 10}]"], 5, 2),
    "mnist_mlp": ("mnist.yaml", [], 5, 2),
    "mnist_cnn": ("mnist_cnn.yaml", [], 3, 1),
    "sine": ("sine.yaml", [], 1000, 3),
}


def measure(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run `command` under /usr/bin/time-like accounting: wall seconds, peak RSS (MB), stdout."""
    wall, rss, _, out = accounted(command, env)
    return wall, rss, out


def accounted(command: list[str], env: dict | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MB), CPU seconds (user + system) and stdout of one fresh process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: a chatty stderr cannot block the child
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{errors.read()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out


def steady(epoch_ends: list[float]) -> float:
    """Seconds per epoch: the median over epochs 2..N, so a burst of load from another tenant that
    slows a few epochs of one run does not count against that contender. One epoch: its own time."""
    if len(epoch_ends) < 2:
        return epoch_ends[0]
    return statistics.median(b - a for a, b in zip(epoch_ends, epoch_ends[1:]))


def run_dlpipe(model: str, out: Path) -> dict:
    pipeline, sets, epochs, _ = MODELS[model]
    args = [a for s in [*sets, f"training.epochs={epochs}", "scheduler=null"] for a in ("--set", s)]
    wall, rss, stdout = measure([sys.executable, "-m", "dlpipe", "run", f"pipelines/{pipeline}", "--out", str(out),
                                 "-q", *args])
    run_dir = Path(stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
    rows = list(csv.DictReader((run_dir / "history.csv").read_text().splitlines()))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    train = 55_000 if "accuracy" in metrics["test"] else 700
    score = metrics["test"].get("accuracy", metrics["test"].get("r2"))
    return {"epoch_s": steady([float(r["time"]) for r in rows]), "wall": wall, "rss": rss, "train": train,
            "score": score}


def run_loop(style: str, model: str) -> dict:
    wall, rss, stdout = measure([sys.executable, "benchmarks/loops.py", style, model, str(MODELS[model][2])])
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"epoch_s": steady(result["epoch_ends"]), "wall": wall, "rss": rss, "train": result["train_samples"],
            "score": result.get("accuracy", result.get("r2"))}


def benchmark(models: list[str], repeats: int) -> None:
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as out:
        for repeat in range(repeats):
            contenders = ["dlpipe", "plain", "bare", "course"]
            contenders = contenders[repeat % 4:] + contenders[:repeat % 4]  # rotate who goes first
            for model in models:
                for _ in range(MODELS[model][3]):
                    for who in contenders:
                        result = run_dlpipe(model, Path(out)) if who == "dlpipe" else run_loop(who, model)
                        results.setdefault((model, who), []).append(result)
                        print(f"  [{repeat + 1}/{repeats}] {model:<13} {who:<7} {result['epoch_s']:.4f} s/epoch",
                              file=sys.stderr, flush=True)
    median = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    print(f"\n{'model':<13} {'contender':<9} {'s/epoch':>8} {'samples/s':>10} {'wall s':>7} {'peak RSS MB':>12} "
          f"{'test':>7}   dlpipe/this  paired")
    for model in models:
        dl = median(results[(model, "dlpipe")], "epoch_s")
        for who in ("dlpipe", "plain", "bare", "course"):
            rows = results[(model, who)]
            epoch = median(rows, "epoch_s")
            ratio = "" if who == "dlpipe" else f"{epoch / dl:.2f}x"
            if who != "dlpipe":  # the same ratio taken within each round, then the median: less drift
                pairs = [r["epoch_s"] / d["epoch_s"] for r, d in zip(rows, results[(model, "dlpipe")])]
                ratio += f"        {statistics.median(pairs):.2f}x"
            print(f"{model:<13} {who:<9} {epoch:>8.4f} {rows[0]['train'] / epoch:>10,.0f} {median(rows, 'wall'):>7.1f} "
                  f"{median(rows, 'rss'):>12.0f} {median(rows, 'score'):>7.4f}   {ratio}")
    rounds = ", ".join(f"{m} {repeats * MODELS[m][3]}" for m in models)
    print(f"\nmedians of {repeats} repeat(s) (runs per contender: {rounds}); 'dlpipe/this' is dlpipe's training "
          "throughput over this contender's (>= 1.00x: dlpipe is at least as fast); 'paired' is the median of that "
          "ratio taken within each round")


def targets() -> None:
    """The end-to-end targets: shipped pipelines, start-up of --help and validate, peak memory."""
    with tempfile.TemporaryDirectory() as out:
        for name in ("mnist.yaml", "mnist_cnn.yaml"):
            wall, rss, stdout = measure([sys.executable, "-m", "dlpipe", "run", f"pipelines/{name}", "--out", out, "-q"])
            accuracy = [line for line in stdout.splitlines() if line.startswith("test accuracy")][0].split()[-1]
            print(f"{name:<16} test accuracy {float(accuracy):.2%}  wall {wall:.1f} s  peak RSS {rss:.0f} MB")
        fast_target(Path(out))
    dlpipe = [sys.executable, "-m", "dlpipe"]
    for label, command in (("dlpipe --help", [*dlpipe, "--help"]),
                           ("dlpipe validate pipelines/mnist.yaml", [*dlpipe, "validate", "pipelines/mnist.yaml"])):
        walls = sorted(measure(command)[0] for _ in range(5))
        print(f"{label:<38} median {statistics.median(walls):.2f} s (best {walls[0]:.2f} s, 5 runs)")


def fast_target(out: Path, runs: int = 5) -> None:
    """pipelines/mnist_fast.yaml: >= 98.0 % test accuracy in <= 6 s wall, from the shell prompt (median of runs)."""
    walls, accuracies = [], []
    for _ in range(runs):
        wall, _, stdout = measure([sys.executable, "-m", "dlpipe", "run", "pipelines/mnist_fast.yaml", "--out",
                                   str(out), "-q"])
        walls.append(wall)
        accuracies.append(float(next(line for line in stdout.splitlines() if line.startswith("test accuracy"))
                                .split()[-1]))
    wall, accuracy = statistics.median(walls), min(accuracies)
    met = accuracy >= 0.98 and wall <= 6.0
    print(f"mnist_fast.yaml  test accuracy {accuracy:.2%} (lowest of {runs})  wall {wall:.2f} s (median; "
          f"{min(walls):.2f}-{max(walls):.2f})  target >= 98.0 % in <= 6 s: {'met' if met else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--targets", action="store_true", help="also measure the end-to-end targets")
    parser.add_argument("--peers", action="store_true", help="the shipped pipelines against Lightning and Keras "
                        "(benchmarks/versus.py; --models from mnist_mlp,mnist_cnn,mnist_fast,sine)")
    parser.add_argument("--script", action="store_true", help="the whole dlpipe process against a hand-written "
                        "script (benchmarks/versus.py)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable", file=sys.stderr)
    if args.peers or args.script:
        import versus

        asked = args.models.split(",") if args.models != ",".join(MODELS) else list(versus.PIPELINES)
        if unknown := [m for m in asked if m not in versus.PIPELINES]:
            parser.error(f"--models: {', '.join(unknown)} not a peer model; choose from {', '.join(versus.PIPELINES)}")
        chosen = asked
        return versus.peers(chosen, args.repeats) if args.peers else versus.script(args.repeats)
    benchmark(args.models.split(","), args.repeats)
    if args.targets:
        print()
        targets()


if __name__ == "__main__":
    main()
