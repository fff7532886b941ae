"""What a sweep costs and finds: `dlpipe sweep` against single runs, --jobs 1 against --jobs 2, a pruned bayes search.

    DLPIPE_DATA=../shared/data python benchmarks/sweep.py [--skip-mnist]

Each command is a fresh process timed whole, into a temporary archive. Prints:
  1. `dlpipe run pipelines/sine.yaml` against `dlpipe sweep pipelines/sine.yaml --grid
     optimizer.lr=1.0e-4,1.0e-3,1.0e-2,1.0e-1` (target: <= 4x one run; the best trial not the 1e-4 one);
  2. a 12-point sine grid (lr x batch size; 100 epochs a trial) with --jobs 1 and --jobs 2: the speedup;
  3. a 12-trial bayes search with pruning over the MNIST MLP's max lr (one-cycle) and units (data.limit 5000, 5 epochs):
     pruned trials, the best against the median completed trial.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parent.parent


def timed(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlpipe", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def study(out: Path):
    storage = f"sqlite:///{out / 'sweeps.db'}"
    return optuna.load_study(study_name=optuna.get_all_study_summaries(storage)[-1].study_name, storage=storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mnist", action="store_true")
    args = parser.parse_args()
    sine = str(ROOT / "pipelines/sine.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one, _ = timed("run", sine, "-q", "--out", str(tmp / "one"))
        four, _ = timed("sweep", sine, "--grid", "optimizer.lr=1.0e-4,1.0e-3,1.0e-2,1.0e-1", "--out", str(tmp / "s"))
        best = study(tmp / "s").best_trial.params["optimizer.lr"]
        print(f"1. one sine run {one:.1f} s; a 4-point lr grid {four:.1f} s = {four / one:.2f}x (target <= 4x); "
              f"best lr {best:g} ({'not' if best != 1.0e-4 else 'IS'} the 1e-4 one)")
        grid = ["--grid", "optimizer.lr=1.0e-4,3.0e-4,1.0e-3,3.0e-3,1.0e-2,3.0e-2", "--grid",
                "training.batch_size=32,128", "--set", "training.epochs=100"]
        j1, _ = timed("sweep", sine, *grid, "--out", str(tmp / "j1"))
        j2, _ = timed("sweep", sine, *grid, "--out", str(tmp / "j2"), "--jobs", "2")
        print(f"2. 12-point sine grid (100 epochs a trial): --jobs 1 {j1:.1f} s, --jobs 2 {j2:.1f} s: "
              f"speedup {j1 / j2:.2f}x")
        if args.skip_mnist:
            return
        spec = ["--set", "data.limit=5000", "--set", "training.epochs=5", "--method", "bayes", "--trials", "12",
                "--prune", "--metric", "val_accuracy"]
        text = (ROOT / "pipelines/mnist.yaml").read_text() + """
sweep:
  parameters:
    scheduler.max_lr: {log_range: [1.0e-4, 3.0e-2]}
    model.layers.1.units: {choice: [32, 128, 512]}
"""
        (tmp / "mnist_sweep.yaml").write_text(text)
        wall, _ = timed("sweep", str(tmp / "mnist_sweep.yaml"), *spec, "--out", str(tmp / "m"))
        trials = [t for t in study(tmp / "m").trials if t.state.is_finished()]
        values = [t.value for t in trials if t.value is not None]
        pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
        print(f"3. MNIST MLP bayes, 12 trials, pruning: {wall:.0f} s; {pruned} pruned; best val_accuracy "
              f"{max(values):.4f} against the median completed {statistics.median(values):.4f}")


if __name__ == "__main__":
    main()
