"""A pipeline run as a group of ordinary runs: over seeds (`--repeat N`) or over the folds of K-fold
cross-validation (`--folds K`); then each test metric as its mean ± the 95 % interval, and the group's page.

Each member is the pipeline with a few more overrides (`seed=43`; `data.split.folds=5`, `data.split.fold=2`),
so its pipeline.yaml reruns it alone. A stop (Ctrl-C) ends the current run as a stopped run and starts no
more; the group holds what was run. The CLI and the Python API share this loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dlpipe.archive.record import RunRecord
from dlpipe.report.group import summary, write_group
from dlpipe.report.stats import interval

MAX_FOLDS = 100


class GroupError(ValueError):
    """A group that cannot be made from this pipeline (folds of MNIST's fixed test set, folds with --repeat)."""


@dataclass(frozen=True)
class Member:
    label: str  # "seed 43", "fold 2/5"
    overrides: tuple[str, ...]  # what makes this member's pipeline out of the group's


@dataclass
class Made:
    records: list[RunRecord]
    folder: Path
    kind: str
    stopped: bool  # a stop between two members ended the group early

    def lines(self) -> list[str]:
        """Each test metric's mean ± interval over the completed members, as the terminal prints them."""
        done = sum(r.status == "completed" for r in self.records)
        what = "seeds" if self.kind == "seeds" else "folds"
        return [f"test {key:<8} {interval(found['values']).text()}  (mean ± 95 % interval over {done} {what})"
                for key, found in summary(self.records).items()]


def seeds(first: int, count: int) -> list[Member]:
    return [Member(f"seed {first + i}", (f"seed={first + i}",)) for i in range(count)]


def folds(count: int, data) -> list[Member]:
    """The K members of K-fold cross-validation; GroupError when the data section has no split to cut."""
    if "split" not in type(data).model_fields:
        raise GroupError(f"--folds: data.type {data.type} comes with its own test set, which folds would not "
                         "change; K-fold cross-validation is for the data dlpipe splits (a table, text, arrays, "
                         "an image folder of one folder per class, a synthetic function, a series)")
    if getattr(data, "split_column", None):
        raise GroupError(f"--folds: data.split_column {data.split_column!r} fixes the test rows; leave it out to "
                         "cross-validate")
    return [Member(f"fold {k}/{count}", (f"data.split.folds={count}", f"data.split.fold={k}"))
            for k in range(1, count + 1)]


def run_group(members: list[Member], kind: str, load: Callable[[Member], object],
              execute: Callable[[object], RunRecord], stop=None, say: Callable[[str], None] = print,
              warn: Callable[[str], None] | None = None) -> Made:
    """Run each member (load: its checked pipeline; execute: the run's record), say each, write the group;
    warn: where a stop is said (say's, unless given)."""
    records, stopped = [], False
    for index, member in enumerate(members):
        try:  # a stop between two members (loading the next one's data) ends the loop, not the group
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            record = execute(load(member))
        except KeyboardInterrupt:
            if not records:
                raise  # nothing ran: the command's own message
            (warn or say)(f"interrupted before {member.label}: the group holds the {len(records)} run(s) made")
            stopped = True
            break
        records.append(record)
        shown = "  ".join(f"{key} {value:.6g}" for key, value in record.test.items())
        say(f"[{index + 1}/{len(members)}] {member.label}: {record.ref} {record.status}  {shown}".rstrip())
        if record.status == "interrupted":
            break
    return Made(records, write_group(records, kind), kind, stopped)
