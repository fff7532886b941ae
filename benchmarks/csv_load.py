"""How fast a large table loads: the table source on a 1,000,000 x 20 numeric table in each format, and the
readers compared.

    python benchmarks/csv_load.py [--rows 1000000] [--repeats 3]

Writes the table once into a temporary folder (kept between runs under $TMPDIR/dlpipe-bench), as CSV,
JSON Lines and Parquet, then times, each the median of --repeats: dlpipe's whole table source (read,
check every cell, split, standardize, tensors) on each format, and for comparison pandas' C parser,
pandas' pyarrow engine, pyarrow.csv plus the conversion to pandas, pandas.read_json(lines=True) and
pandas.read_parquet. Target: <= 5 s for the CSV.
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
    jsonl, parquet = other_formats(pd, path)
    contenders = {
        "dlpipe table source on the CSV (read, check, split, standardize, tensors)": lambda: load_data(config, 0),
        "dlpipe table source on the JSON Lines": lambda: load_data(config.model_copy(update={"path": str(jsonl)}), 0),
        "dlpipe table source on the Parquet": lambda: load_data(config.model_copy(update={"path": str(parquet)}), 0),
        "pandas.read_csv, C parser": lambda: pd.read_csv(path, engine="c"),
        "pandas.read_json(lines=True)": lambda: pd.read_json(jsonl, lines=True),
        "pandas.read_parquet": lambda: pd.read_parquet(parquet),
    }
    try:
        import pyarrow.csv as pa_csv

        contenders["pandas.read_csv, pyarrow engine"] = lambda: pd.read_csv(path, engine="pyarrow")
        contenders["pyarrow.csv.read_csv + to_pandas"] = lambda: pa_csv.read_csv(path).to_pandas()
    except ImportError:
        pass
    sizes = ", ".join(f"{p.suffix} {p.stat().st_size / 1e6:.0f} MB" for p in (path, jsonl, parquet))
    print(f"{path.stem} ({sizes}; {args.rows} rows x 20 columns), median of {args.repeats}:")
    for name, action in contenders.items():
        print(f"  {name:<62} {median_seconds(action, args.repeats):6.2f} s")


def other_formats(pd, path: Path) -> tuple[Path, Path]:
    """The same table as JSON Lines and Parquet beside the CSV (written once)."""
    jsonl, parquet = path.with_suffix(".jsonl"), path.with_suffix(".parquet")
    if not (jsonl.exists() and parquet.exists()):
        frame = pd.read_csv(path)
        frame.to_json(jsonl.with_suffix(".part"), orient="records", lines=True)
        jsonl.with_suffix(".part").rename(jsonl)
        frame.to_parquet(parquet)
    return jsonl, parquet


if __name__ == "__main__":
    main()
