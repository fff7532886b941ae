"""layers.csv: the per-layer network statistics, one row per layer and recorded epoch, beside history.csv."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from dlpipe.archive.files import write_atomic

LAYERS_CSV = "layers.csv"
COLUMNS = ("epoch", "layer", "kind", "activation", "weight_std", "grad_norm", "act_mean", "act_std", "dead",
           "saturated")
NUMBERS = ("weight_std", "grad_norm", "act_mean", "act_std", "dead", "saturated")


def _text(rows: list[dict], header: bool) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n", extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows({k: ("" if v is None else f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
                     for row in rows)
    return out.getvalue()


def append_layers(run_dir: Path, rows: list[dict]) -> None:
    """Add one epoch's rows (a file that does not exist yet gets the header first)."""
    path = run_dir / LAYERS_CSV
    new = not path.exists()
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(_text(rows, header=new))


def keep_layers(run_dir: Path, epochs: int) -> list[dict]:
    """On resume: the rows of the epochs the checkpoint holds (a killed run may have recorded one more)."""
    rows = [row for row in read_layers(run_dir) if row["epoch"] <= epochs]
    if (run_dir / LAYERS_CSV).exists():
        write_atomic(run_dir / LAYERS_CSV, _text(rows, header=True))
    return rows


def read_layers(run_dir: Path) -> list[dict]:
    """Every row of layers.csv (numbers as floats, a missing value as NaN); [] when there is none or it is unreadable."""
    try:
        text = (run_dir / LAYERS_CSV).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        try:
            rows.append({"epoch": int(raw["epoch"]), "layer": int(raw["layer"]), "kind": raw["kind"] or "",
                         "activation": raw["activation"] or "",
                         **{k: float(raw[k]) if raw.get(k) else math.nan for k in NUMBERS}})
        except (KeyError, ValueError, TypeError):
            continue  # a line cut short by a kill: the rows before it still count
    return rows
