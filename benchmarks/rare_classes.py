"""Rare classes on pipelines/default.yaml (ISLR's credit card default, 3.3 % Yes): what each lever buys and costs.

    python benchmarks/rare_classes.py            # seed 42, as shipped
    python benchmarks/rare_classes.py --seeds 3  # mean over seeds 42, 43, 44

Prints, for the majority class, the plain network, balanced class weights, balanced sampling and a threshold
tuned on validation: balanced accuracy, the rare class's recall and precision, and ROC-AUC, each a
dlpipe run of the shipped pipeline with one --set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEVERS = {"plain": [], "class_weights: balanced": ["loss.class_weights=balanced"],
          "sampling: balanced": ["training.sampling=balanced"], "threshold: auto": ["threshold=auto"]}


def run(settings: list[str], seed: int, out: Path) -> dict:
    """One run's record (metrics.json)."""
    import dlpipe

    values = dict(s.split("=", 1) for s in settings)
    done = dlpipe.run(ROOT / "pipelines" / "default.yaml", set={**values, "seed": seed}, out=out, quiet=True)
    return json.loads((done.path / "metrics.json").read_text())


def row(record: dict, scores: dict | None = None) -> tuple[float, float, float, float]:
    """(balanced accuracy, recall and precision of 'Yes', ROC-AUC) of the network, or of a baseline's scores."""
    if scores is not None:
        return scores["balanced_accuracy"], 0.0, 0.0, scores["auc"]
    rare = next(r for r in record["per_class"] if r["name"] == "Yes")
    return record["test"]["balanced_accuracy"], rare["recall"], rare["precision"], record["test"]["auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="dlpipe-rare-"))
    table: dict[str, list[tuple]] = {"majority class": []}
    for seed in range(42, 42 + args.seeds):
        for name, settings in LEVERS.items():
            record = run(settings, seed, out)
            table.setdefault(name, []).append(row(record))
            if name == "plain":
                table["majority class"].append(row(record, record["baselines"]["majority"]))
                table.setdefault("logistic regression", []).append(row(record, record["baselines"]["logistic"]))
    print(f"pipelines/default.yaml, test split of 1,500 customers (3.3 % defaulters), mean of {args.seeds} seed(s)")
    print(f"{'':<26} {'balanced acc':>12} {'recall Yes':>11} {'precision Yes':>14} {'ROC-AUC':>8}")
    for name, rows in table.items():
        mean = [sum(r[i] for r in rows) / len(rows) for i in range(4)]
        recall = f"{mean[1]:.3f}" if name not in ("majority class", "logistic regression") else "-"
        precision = f"{mean[2]:.3f}" if recall != "-" else "-"
        print(f"{name:<26} {mean[0]:>12.3f} {recall:>11} {precision:>14} {mean[3]:>8.3f}")


if __name__ == "__main__":
    sys.exit(main())
