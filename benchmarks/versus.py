"""dlpipe against what a user would pick instead: Lightning and Keras, and a hand-written script.

    python benchmarks/run.py --peers [--repeats 2] [--models mnist_mlp,mnist_cnn,sine]
    python benchmarks/run.py --script [--repeats 5]

--peers: each shipped pipeline as it is (`dlpipe run pipelines/X.yaml`, report and archive
and all) against the same training in PyTorch Lightning and Keras 3 (benchmarks/peers.py).
--script: the whole `dlpipe run` process against a hand-written PyTorch script that trains
the same MNIST MLP (10 epochs, batch 256, its own gzip + numpy loading) and writes nothing.
Every run is a fresh process timed whole; rounds alternate the contenders (who goes first
rotates), and the ratios are paired: taken within each round, then the median.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import tempfile
from pathlib import Path

from run import accounted, steady

PIPELINES = {"mnist_mlp": "mnist.yaml", "mnist_cnn": "mnist_cnn.yaml", "mnist_fast": "mnist_fast.yaml", "sine": "sine.yaml"}
PEERS = ("lightning", "keras")
SCRIPT_SETS = ["training.batch_size=256", "training.epochs=10", "scheduler=null"]


def dlpipe(pipeline: str, out: Path, sets: list[str] = ()) -> dict:
    """`dlpipe run` as a user types it, timed whole; per-epoch times from its history.csv."""
    args = [a for s in sets for a in ("--set", s)]
    wall, rss, cpu, stdout = accounted([sys.executable, "-m", "dlpipe", "run", f"pipelines/{pipeline}", "--out",
                                        str(out), "-q", *args])
    run_dir = Path(stdout.strip().splitlines()[-1].removeprefix("report: ")).parent
    rows = list(csv.DictReader((run_dir / "history.csv").read_text().splitlines()))
    test = json.loads((run_dir / "metrics.json").read_text())["test"]
    return {"epoch_s": steady([float(r["time"]) for r in rows]), "wall": wall, "rss": rss, "cpu": cpu,
            "score": test.get("accuracy", test.get("r2"))}


def other(command: list[str]) -> dict:
    """A peer or the script: it prints one JSON line with its epoch ends and test metric."""
    wall, rss, cpu, stdout = accounted([sys.executable, *command])
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"epoch_s": steady(result["epoch_ends"]), "wall": wall, "rss": rss, "cpu": cpu,
            "score": result.get("accuracy", result.get("r2"))}


def rounds(contenders: dict, repeats: int, label: str) -> dict[str, list[dict]]:
    """Run every contender once per round, rotating who goes first; results by contender."""
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    names = list(contenders)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            results[name].append(contenders[name]())
            row = results[name][-1]
            print(f"  [{repeat + 1}/{repeats}] {label:<10} {name:<9} wall {row['wall']:6.1f} s  "
                  f"{row['epoch_s']:.4f} s/epoch", file=sys.stderr, flush=True)
    return results


def table(model: str, results: dict[str, list[dict]], first: str) -> None:
    """One row per contender: medians, and the paired ratios against `first` (>= 1.00: `first` is faster)."""
    base = results[first]
    for name, rows in results.items():
        med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
        paired = lambda key: statistics.median(r[key] / b[key] for r, b in zip(rows, base))  # noqa: E731
        ratios = "" if name == first else f"{paired('wall'):>8.2f}x {paired('epoch_s'):>8.2f}x"
        print(f"{model:<10} {name:<10} {med('score'):>7.4f} {med('wall'):>7.1f} {med('epoch_s'):>9.4f} "
              f"{med('cpu'):>7.1f} {med('rss'):>7.0f}   {ratios}")


HEADER = (f"{'model':<10} {'contender':<10} {'test':>7} {'wall s':>7} {'s/epoch':>9} {'CPU s':>7} {'RSS MB':>7}   "
          f"{'wall':>9} {'epoch':>9}")


def peers(models: list[str], repeats: int) -> None:
    """The peer table: each shipped pipeline, dlpipe against Lightning and Keras."""
    versions = _versions()
    with tempfile.TemporaryDirectory() as out:
        results = {}
        for model in models:
            contenders = {"dlpipe": lambda m=model: dlpipe(PIPELINES[m], Path(out))}
            contenders |= {p: lambda m=model, p=p: other(["benchmarks/peers.py", p, m]) for p in PEERS}
            results[model] = rounds(contenders, repeats, model)
    print(f"\n{HEADER}\n(wall and epoch: the contender's time over dlpipe's, paired within each round)")
    for model in models:
        table(model, results[model], "dlpipe")
    print(f"\n{repeats} round(s); {versions}; s/epoch is the median of epochs 2..N; test is accuracy (MNIST) "
          "or R^2 (sine)")


def script(repeats: int) -> None:
    """The whole dlpipe process against a hand-written script that writes nothing: wall ratio."""
    with tempfile.TemporaryDirectory() as out:
        results = rounds({"dlpipe": lambda: dlpipe("mnist.yaml", Path(out), SCRIPT_SETS),
                          "script": lambda: other(["benchmarks/loops.py", "script", "mnist_mlp", "10", "256"])},
                         repeats, "mnist_mlp")
    print(f"\n{HEADER}\n(wall and epoch: dlpipe's time over the script's, paired within each round; target wall "
          "<= 1.00x)")
    table("mnist_mlp", {"script": results["script"], "dlpipe": results["dlpipe"]}, "script")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("torch", "lightning", "keras"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            raise SystemExit(f"{name} is not installed: pip install -e '.[bench]'") from None
    return ", ".join(found) + f", Python {sys.version.split()[0]}"
