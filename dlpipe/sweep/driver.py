"""Run a sweep to its end (or to a signal): trial after trial, a line each, the sweep page after each."""

from __future__ import annotations

import threading
from typing import Callable

from dlpipe.archive.log import Progress
from dlpipe.report.pages import human
from dlpipe.sweep.results import write_page
from dlpipe.sweep.search import Plan, claim, open_study, requeue_stale, run_trial


def run_sweep(plan: Plan, seed: int, stop: threading.Event, say: Callable[[str], None]) -> tuple[object, str, str]:
    """Trials until the sweep has its total (or a signal, or a full disk); returns (the study, the sweep page's
    path, why it stopped early or "")."""
    study = open_study(plan, seed)
    stale = requeue_stale(study)
    if stale:
        say(f"{stale} trial(s) left running by a stopped sweep process will run again")
    page = write_page(study, plan)
    say(f"sweep {plan.study}: {plan.sweep.method}, metric {plan.sweep.metric}; page {page}")
    while not stop.is_set() and (trial := claim(plan, study)) is not None:
        row = run_trial(plan, study, trial, stop, page, Progress(quiet=True, stop=stop))
        page = write_page(study, plan)
        if row.get("requeued"):
            say(f"{row['requeued']}: trial {row['number']} is queued again; `dlpipe sweep ... --resume` continues")
            return study, str(page), row["requeued"]
        say(_line(row, study, plan))
    return study, str(page), ""


def _line(row: dict, study, plan: Plan) -> str:
    values = "  ".join(f"{key}={human(value)}" for key, value in row["params"].items())
    result = f"{plan.sweep.metric} {human(row['value'])}" if row["value"] is not None else row["status"]
    try:
        best = f"best so far: trial {study.best_trial.number}, {human(study.best_value)}"
    except ValueError:
        best = "no completed trial yet"
    return f"trial {row['number']:>3}  {values}  ->  {result} ({row['status']})  ·  {best}"
