"""Is a difference between two runs noise? What `dlpipe compare` says under its metrics table.

Per test metric, the best run against the runner-up, judged by the best evidence there is:
1. both runs are seeds of groups (`dlpipe run --repeat`): Welch's t-test on the groups' values;
2. else, runs of a shipped pipeline: the seed-to-seed standard deviation measured on it
   (seed_spread.json, made by benchmarks/seed_spread.py): a difference beyond 2 x sqrt(2) sd
   is beyond the seed spread;
3. else, for a share (accuracy, F1) the test split's sampling noise (binomial), and a word
   that one run each cannot tell a seed's luck from a real difference.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

from dlpipe.archive.record import RunRecord
from dlpipe.language.metrics import UnknownDirection, higher_is_better
from dlpipe.report.baselines import SHARES
from dlpipe.report.group import read_group
from dlpipe.report.stats import in_words, welch

SPREAD_FILE = Path(__file__).with_name("seed_spread.json")
REPEAT = "one run each cannot tell a seed's luck from a real difference: `dlpipe run --repeat 5` each, then compare " \
         "the groups"


@cache
def seed_spread() -> dict:
    """{pipeline: {metric: sd}} as measured on the shipped pipelines, with how ({seeds, measured, command})."""
    try:
        return json.loads(SPREAD_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"spread": {}}


def _group(record: RunRecord) -> dict | None:
    """The group a run is a seed of (its group.json), or None."""
    if not record.group or record.path is None:
        return None
    try:
        return read_group(record.path.parent / "groups" / record.group["id"])
    except (ValueError, KeyError, TypeError):
        return None


def _values(group: dict | None, key: str) -> list[float] | None:
    """A group's values of one test metric, when it has two or more."""
    values = ((group or {}).get("metrics", {}).get(key) or {}).get("values") or []
    return values if len(values) >= 2 else None


def _shipped(record: RunRecord) -> str | None:
    """The shipped pipeline a run is of (its source is pipelines/<name>.yaml and the spread was measured)."""
    source = Path(record.source or "")
    spread = seed_spread()["spread"]
    return record.name if source.name == f"{record.name}.yaml" and source.parent.name == "pipelines" and \
        record.name in spread else None


def judged(first: RunRecord, second: RunRecord, key: str, labels: tuple[str, str] = ("", ""),
           groups: tuple[dict | None, dict | None] = (None, None)) -> str:
    """Whether the difference of `key` between two runs is noise, and by which evidence (groups: their group.json,
    read once by the caller)."""
    a, b = first.test[key], second.test[key]
    name = f"{key} {a:.4g}{labels[0]} against {b:.4g}{labels[1]} ({a - b:+.3g})"
    x, y = _values(groups[0], key), _values(groups[1], key)
    if x and y:
        t, df, p = welch(x, y)
        return f"{name}: Welch's t over the groups' {len(x)} and {len(y)} seeds, t = {t:.2f}, {in_words(p)}"
    shipped = _shipped(first)
    shipped = shipped if shipped == _shipped(second) else None
    sd = seed_spread()["spread"].get(shipped or "", {}).get(key)
    if sd:
        seeds = seed_spread().get("seeds", "several")
        where = "beyond" if abs(a - b) > 2 * math.sqrt(2) * sd else "within"
        return (f"{name}: {where} the seed spread of the shipped pipelines/{shipped}.yaml (sd {sd:.3g} over "
                f"{seeds} seeds)")
    samples = min(int(((r.data or {}).get("baselines") or {}).get("samples") or 0) for r in (first, second))
    if key in SHARES and samples:
        sd = math.sqrt((a * (1 - a) + b * (1 - b)) / samples)
        where = "beyond" if abs(a - b) > 2 * sd else "within"
        return f"{name}: {where} the sampling noise of {samples} test samples (sd {sd:.3g}); {REPEAT}"
    return f"{name}: {REPEAT}"


def noise(records: list[RunRecord]) -> list[str]:
    """One sentence per test metric two or more runs share: the best against the runner-up."""
    lines, groups = [], [_group(r) for r in records]  # each group.json read once, not once per metric
    for key in dict.fromkeys(k for r in records for k in r.test):
        scored = [r for r in records if isinstance(r.test.get(key), (int, float)) and math.isfinite(r.test[key])]
        if len(scored) < 2 or key == "loss":
            continue
        try:
            higher = higher_is_better(key)
        except UnknownDirection:
            continue
        ranked = sorted(scored, key=lambda r: r.test[key], reverse=higher)
        at = [records.index(r) for r in ranked[:2]]
        lines.append(judged(ranked[0], ranked[1], key, tuple(f" (run {i + 1})" for i in at),
                            (groups[at[0]], groups[at[1]])))
    return lines
