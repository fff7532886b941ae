"""`dlpipe sweep`: a hyperparameter search on Optuna, each trial an ordinary archived run.

Optuna samples (grid: every point enqueued once; random; bayes: TPE), prunes (MedianPruner)
and keeps the study in a database: SQLite at <out>/sweeps.db by default, or any URL Optuna
takes (PostgreSQL, MySQL), so several processes or machines can share one study. Trials
are asked and told here (ask/tell) so that each is run by `runner.run` with its values as
--set overrides: its directory, report, checkpoint and resume are those of any run.

A trial that stops for a signal is marked failed with user attr `interrupted` and its values
are enqueued again, so `--resume` reruns it; a trial left RUNNING by a killed process of
this host is treated the same way when the next sweep process starts.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from dlpipe.archive.files import NO_SPACE, sanitize_name
from dlpipe.language.secrets import mask
from dlpipe.archive.log import Progress
from dlpipe.data.sources import read_pipeline
from dlpipe.language.loader import Loaded
from dlpipe.language.metrics import higher_is_better
from dlpipe.language.sweep import Parameter, Sweep, yaml_text
from dlpipe.engine.train import Callback, Stop
from dlpipe.runner import run

HOST = socket.gethostname()


@dataclass(frozen=True)
class Plan:
    """One sweep: the pipeline file and its --set overrides, the search, where its runs and study go."""

    path: Path
    name: str  # the pipeline's name: its runs and sweep pages go under <out>/<name>/
    overrides: tuple[str, ...]
    sweep: Sweep
    out: Path
    storage: str
    study: str
    epochs: int = 0  # the pipeline's own (a trial's may differ): when pruning starts, for the sweep page


def distribution(parameter: Parameter):
    """The Optuna distribution of one searched setting."""
    if parameter.choice is not None:
        return CategoricalDistribution(parameter.choice)
    if parameter.int_range is not None:
        return IntDistribution(*parameter.int_range)
    low, high = parameter.log_range or parameter.range
    return FloatDistribution(low, high, log=parameter.log_range is not None)


def open_study(plan: Plan, seed: int) -> optuna.Study:
    """Create the study (or join it: same storage, same name); a grid's points are enqueued once."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = plan.sweep
    sampler = {"bayes": optuna.samplers.TPESampler(seed=seed), "random": optuna.samplers.RandomSampler(seed=seed),
               "grid": optuna.samplers.RandomSampler(seed=seed)}[sweep.method]
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if sweep.prune else \
        optuna.pruners.NopPruner()
    direction = "maximize" if higher_is_better(sweep.metric) else "minimize"
    study = _create(lambda: optuna.create_study(storage=plan.storage, study_name=plan.study, sampler=sampler,
                                                pruner=pruner, direction=direction, load_if_exists=True), plan.storage)
    if sweep.method == "grid":
        with _taking_turns(plan.storage):  # two workers starting together queue each point once
            _queue_missing(study, sweep)
    return study


def _queue_missing(study: optuna.Study, sweep: Sweep) -> None:
    """Queue every grid point the study does not hold yet (a sweep killed while queueing gets the rest on resume).

    One pass over the trials and one insert a point: linear, never Optuna's skip_if_exists scan per point.
    """
    held = {_point_key(t.params or t.system_attrs.get("fixed_params") or {}) for t in study.get_trials(deepcopy=False)
            if not t.user_attrs.get("interrupted")}  # an interrupted trial's point was queued again: it is held
    for point in _grid(sweep):
        if _point_key(point) not in held:
            study.enqueue_trial(point)


def _point_key(params: dict) -> tuple:
    return tuple(sorted((key, repr(value)) for key, value in params.items()))


class StorageError(Exception):
    """The study's database cannot be opened; the message says which and why."""


def _create(make: Callable[[], optuna.Study], url: str, attempts: int = 6) -> optuna.Study:
    """Open the study; two workers creating one new database at once collide (the schema written twice),
    and the one that lost finds the tables there when it tries again a moment later."""
    from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

    for attempt in range(attempts):
        try:
            return make()
        except (IntegrityError, OperationalError, optuna.exceptions.DuplicatedStudyError) as exc:
            if attempt == attempts - 1:
                raise StorageError(mask(f"--storage {url}: cannot open it ({type(exc).__name__}: {first_line(exc)})")) from None
            time.sleep(0.2 * (attempt + 1))
        except (ImportError, SQLAlchemyError, ValueError) as exc:
            hint = ("; for PostgreSQL: pip install psycopg2-binary and write postgresql+psycopg2://..."
                    if isinstance(exc, ImportError) else "")
            raise StorageError(mask(f"--storage {url}: cannot open it ({type(exc).__name__}: {first_line(exc)}){hint}")) from None
    raise AssertionError("unreachable")


def first_line(exc: Exception) -> str:
    """An exception's first line (SQLAlchemy appends the SQL and a link to its docs)."""
    return (str(exc).strip().splitlines() or [""])[0]


def _grid(sweep: Sweep) -> list[dict]:
    points = [{}]
    for key, parameter in sweep.parameters.items():
        points = [{**point, key: value} for point in points for value in parameter.choice]
    return points


def counted(trial) -> bool:
    """A trial that counts towards the sweep's total (not one stopped by a signal and queued again)."""
    return trial.state.is_finished() and not trial.user_attrs.get("interrupted")


def requeue_stale(study: optuna.Study) -> int:
    """Trials this host left RUNNING (a killed process): mark them failed-interrupted and queue their values again."""
    stale = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == HOST and pid and not _alive(pid):
            study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            study.enqueue_trial(trial.params)
            stale += 1
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remaining(study: optuna.Study, sweep: Sweep) -> int:
    """Trials still to start: the total less those that count and those running now."""
    trials = study.get_trials(deepcopy=False)
    if sweep.method == "grid":
        return len([t for t in trials if t.state == TrialState.WAITING])
    running = len([t for t in trials if t.state == TrialState.RUNNING])
    return sweep.trials - len([t for t in trials if counted(t)]) - running


def warm_up(epochs: int) -> int:
    """The first epoch a trial may be pruned at: its third, or a fifth of its epochs, whichever is later (every run
    starts at what always answering the majority scores: pruned at epoch 1, it was never judged)."""
    return max(3, math.ceil(epochs / 5))


def pruner(trial: optuna.Trial, metric: str, prune: bool, epochs: int = 0) -> Callback:
    """A per-epoch callback of the trial's run: report the metric to Optuna; Stop(pruned) when it says prune (from
    warm_up(epochs) on)."""

    def ask(state) -> Stop | None:
        values = state.history.get(metric) or []
        if not values or not math.isfinite(values[-1]):
            return None
        epoch = state.epoch
        trial.report(values[-1], epoch)
        if prune and epoch >= warm_up(epochs) and trial.should_prune():
            return Stop("pruned", f"pruned at epoch {epoch}: {metric} {values[-1]:.4g} was worse than the median of "
                                  "the earlier trials at that epoch")
        return None

    return ask


@contextmanager
def _taking_turns(storage: str):
    """SQLite has no row locks (Optuna's SELECT ... FOR UPDATE is ignored there), so two processes could
    pop one waiting trial at once: on one SQLite file, claims take turns under a file lock beside it."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is None or not storage.startswith("sqlite:///"):
        yield
        return
    # (named after the database file alone: a URL's query, which may hold a password, is no part of a file name)
    with open(storage.removeprefix("sqlite:///").split("?")[0] + ".lock", "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim(plan: Plan, study: optuna.Study) -> optuna.Trial | None:
    """The next trial for this process, or None when the sweep has all it needs (counted or running)."""
    with _taking_turns(plan.storage):
        if remaining(study, plan.sweep) <= 0:
            return None
        trial = study.ask({key: distribution(p) for key, p in plan.sweep.parameters.items()})
        trial.set_user_attr("host", HOST)
        trial.set_user_attr("pid", os.getpid())
    return trial


def run_trial(plan: Plan, study: optuna.Study, trial: optuna.Trial, stop: threading.Event, page: Path,
              progress: Progress) -> dict:
    """Run a claimed trial as a dlpipe run, tell Optuna how it went; its row for the sweep page.

    A trial stopped by a signal or a full disk is queued again (row["requeued"] says why): the sweep stops there.
    """
    sets = tuple(f"{key}={yaml_text(value)}" for key, value in trial.params.items())
    loaded: Loaded = read_pipeline(plan.path, (*plan.overrides, *sets, "sweep=null"))
    started = time.perf_counter()
    link = {"study": plan.study, "trial": trial.number, "page": os.path.relpath(page, plan.out / "x" / "y"),
            "metric": plan.sweep.metric, "maximize": higher_is_better(plan.sweep.metric),  # how `runs` ranks trials
            "params": dict(trial.params)}  # what this trial tried (the index shows it beside the run)
    record = run(loaded, plan.out, Progress(quiet=True, stop=stop), stop=stop,
                 callbacks=(pruner(trial, plan.sweep.metric, plan.sweep.prune, loaded.pipeline.training.epochs),),
                 sweep=link)
    trial.set_user_attr("run", os.path.relpath(record.path, plan.out))
    trial.set_user_attr("status", record.status)
    trial.set_user_attr("message", record.message)
    trial.set_user_attr("seconds", time.perf_counter() - started)
    value = _value(record, plan.sweep.metric)
    if record.status == "interrupted" or NO_SPACE in record.message:  # not the trial's fault: it runs again
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=TrialState.FAIL)
        study.enqueue_trial(trial.params)
        return {"number": trial.number, "params": dict(trial.params), "value": None, "status": record.status,
                "requeued": "the disk is full; free some space" if NO_SPACE in record.message else
                "stopped by a signal"}
    if record.status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    elif record.status == "completed" and value is not None:
        study.tell(trial, value)
    else:
        study.tell(trial, state=TrialState.FAIL)
    return {"number": trial.number, "params": dict(trial.params), "value": value, "status": record.status}


def _value(record, metric: str) -> float | None:
    """The metric at the epoch whose weights the run kept (its last, or its best when restored)."""
    values = record.history.get(metric) or []
    epoch = record.evaluated_epoch or len(values)
    value = values[epoch - 1] if 0 < epoch <= len(values) else None
    return value if value is not None and math.isfinite(value) else None


def new_study_name(name: str) -> str:
    return f"{sanitize_name(name)}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
