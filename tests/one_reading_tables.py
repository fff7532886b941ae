"""Tables of every column kind, written in every format dlpipe reads (tests/test_one_reading.py's fixtures).

Each row's class follows from its cells (a number, a category spelled 1/2/3 with blanks, true/false with blanks,
categories spelled none and NA, a date's month, a name's last letter), so a network learns it and every kind of
cell matters to the answer.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

FORMATS = ("csv", "tsv", "csv.gz", "jsonl", "jsonl.gz", "parquet")
NAMES = ("anna", "maria", "lena", "sofia", "clara", "emma", "paul", "jonas", "felix", "lukas", "max", "elias",
         "noah", "ben", "leon", "ida", "mila", "ella", "tom", "jan")
HEATING = ("gas", "oil", "none", "NA", "heat pump")


def rows(count: int = 360, seed: int = 0) -> list[dict]:
    """The table's rows as Python values: None is an empty cell."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        x = float(np.round(rng.normal(), 3))
        rooms = int(rng.integers(1, 4))
        garage = bool(rng.random() < 0.5)
        heating = HEATING[int(rng.integers(len(HEATING)))]
        sold = date(2024, 1, 1) + timedelta(days=int(rng.integers(0, 300)))
        name = NAMES[int(rng.integers(len(NAMES)))] + ("" if rng.random() < 0.7 else "a")
        score = x + (rooms - 2) * 0.8 + (0.7 if garage else -0.7) + (0.9 if heating in ("none", "NA") else -0.3) \
            + (0.6 if sold.month >= 6 else -0.6) + (0.8 if name.endswith("a") else -0.8)
        out.append({"id": f"h{i:05d}", "x": x, "rooms": None if i % 9 == 4 else rooms,
                    "garage": None if i % 11 == 3 else garage, "heating": heating, "sold": sold.isoformat(),
                    "name": name, "note": f"a {'quiet' if score > 0 else 'busy'} street, {'new' if x > 0 else 'old'} roof",
                    "split": ("train", "train", "train", "validation", "test")[i % 5],
                    "label": "yes" if score + rng.normal(0, 0.3) > 0 else "no"})
    return out


def write(path: Path, table: list[dict], dates: tuple[str, ...] = ("sold",), floats: tuple[str, ...] = ("rooms",)
          ) -> Path:
    """The rows in the format the file's name says: delimited text as a spreadsheet writes it (True/False, empty
    cells empty), JSON Lines with JSON's own types (null, true), Parquet with typed columns (the `dates` columns
    as dates, the `floats` ones as floats)."""
    name = path.name
    if name.endswith(".parquet"):
        import pandas as pd

        frame = pd.DataFrame(table)
        for column in dates:  # a Parquet date column, not text
            frame[column] = [None if pd.isna(v) else date.fromisoformat(v) for v in frame[column]]
        for column in floats:  # 1.0, 2.0, NaN: as pandas writes a column of numbers with blanks
            frame[column] = frame[column].astype("float64")
        frame.to_parquet(path, index=False)
        return path
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        if ".jsonl" in name:
            for row in table:
                handle.write(json.dumps(row) + "\n")
        else:
            writer = csv.writer(handle, delimiter="\t" if ".tsv" in name else ",", lineterminator="\n")
            writer.writerow(table[0])
            writer.writerows([["" if v is None else v for v in row.values()] for row in table])
    return path


PIPELINE = """\
name: {name}
seed: 3
data:
  type: table
  path: {path}
  target: label
  features: [x, rooms, garage, heating, sold, name]
  categorical: [rooms, heating]
  split_column: split
  missing: mean
  text: {{columns: [name], as: tfidf, tokens: chars, ngrams: [1, 3], vocabulary: 300}}
model:
  layers:
    - {{type: linear, units: 16, activation: relu}}
    - {{type: linear, units: 2}}
loss: cross_entropy
optimizer: {{type: adam, lr: 1.0e-2}}
training: {{epochs: 12, batch_size: 32}}
metrics: [accuracy, f1]
"""
