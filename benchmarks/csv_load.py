"""How fast a large CSV table loads: the csv source on a 1,000,000 x 20 numeric table, and the readers compared.

    python benchmarks/csv_load.py [--rows 1000000] [--repeats 3]

Writes the table once into a temporary folder (kept between runs under $TMPDIR/dlpipe-bench), then
times, each the median of --repeats: dlpipe's whole csv source (read, check every cell, split,
standardize, tensors), and for comparison pandas' C parser, pandas' pyarrow engine and
pyarrow.csv plus the conversion to pandas (when pyarrow is installed). Target: <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def table(rows: int, columns: int = 20) -> Path:
    """The benchmark table: `columns - 1` normal features and a numeric target, 6 significant digits."""
    path = Path(tempfile.gettempdir()) / "dlpipe-bench" / f"table_{rows}x{columns}.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with open(path.with_suffix(".part"), "w") as handle:
        handle.write(",".join([f"f{i}" for i in range(columns - 1)] + ["target"]) + "\n")
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), columns))
            np.savetxt(handle, block, fmt="%.6g", delimiter=",")
    path.with_suffix(".part").rename(path)
    return path


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = table(args.rows)
    import pandas as pd

    from dlpipe.data.sources import load_data
    from dlpipe.language.files import CSVData

    config = CSVData(type="csv", path=str(path), target="target", task="regression")
    contenders = {
        "dlpipe csv source (read, check, split, standardize, tensors)": lambda: load_data(config, 0),
        "pandas.read_csv, C parser": lambda: pd.read_csv(path, engine="c"),
    }
    try:
        import pyarrow.csv as pa_csv

        contenders["pandas.read_csv, pyarrow engine"] = lambda: pd.read_csv(path, engine="pyarrow")
        contenders["pyarrow.csv.read_csv + to_pandas"] = lambda: pa_csv.read_csv(path).to_pandas()
    except ImportError:
        pass
    print(f"{path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows} rows x 20 columns), median of {args.repeats}:")
    for name, action in contenders.items():
        print(f"  {name:<62} {median_seconds(action, args.repeats):6.2f} s")


if __name__ == "__main__":
    main()
