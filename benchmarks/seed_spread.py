"""The seed-to-seed spread of every shipped pipeline's test metrics: what `dlpipe compare` calls noise when two
runs have no repeats of their own.

    DLPIPE_DATA=../shared/data python benchmarks/seed_spread.py            # print the table
    DLPIPE_DATA=../shared/data python benchmarks/seed_spread.py --write    # and write dlpipe/report/seed_spread.json

Each pipeline runs on SEEDS seeds as it ships (in-process, one after the other); the table gives
each test metric's mean and sample standard deviation. The JSON holds {pipeline: {metric: sd}}
with the seeds, the date and this command, and compare.py reads it for runs of a shipped
pipeline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = 5
PIPELINES = ["sine", "cubic", "linear", "init_demo", "iris", "breast_cancer", "diabetes", "houses", "default",
             "mnist_cnn_fast",
             "elnino", "mnist_fast", "mnist", "spam", "spam_sequence"]


def main() -> None:
    import dlpipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", nargs="*", default=PIPELINES)
    parser.add_argument("--write", action="store_true", help="Write dlpipe/report/seed_spread.json.")
    args = parser.parse_args()
    out, spread = Path(tempfile.mkdtemp(prefix="dlpipe-spread-")), {}
    print(f"{'pipeline':<15} {'metric':<18} {'mean':>9} {'sd':>9}  ({SEEDS} seeds)")
    for name in args.pipelines:
        start = time.perf_counter()
        tests = [dlpipe.run(ROOT / "pipelines" / f"{name}.yaml", set={"seed": seed}, out=out, quiet=True).record.test
                 for seed in range(SEEDS)]
        keys = [k for k in tests[0] if all(isinstance(t.get(k), (int, float)) for t in tests)]
        spread[name] = {k: round(statistics.stdev([t[k] for t in tests]), 6) for k in keys}
        for k in keys:
            print(f"{name:<15} {k:<18} {statistics.mean(t[k] for t in tests):>9.4f} {spread[name][k]:>9.4f}")
        print(f"{'':<15} ({time.perf_counter() - start:.0f} s)", flush=True)
    if args.write:  # (--pipelines A B: theirs measured again, the others' kept)
        path = ROOT / "dlpipe" / "report" / "seed_spread.json"
        kept = json.loads(path.read_text())["spread"] if path.exists() else {}
        path.write_text(json.dumps({"seeds": SEEDS, "measured": date.today().isoformat(),
                                    "command": "DLPIPE_DATA=../shared/data python benchmarks/seed_spread.py --write",
                                    "spread": {**kept, **spread}}, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
