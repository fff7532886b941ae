"""`dlpipe sweep FILE`: a hyperparameter search whose trials are ordinary runs (dlpipe/sweep, on Optuna)."""

from __future__ import annotations

from pathlib import Path

import click

from dlpipe.cli.common import echo
from dlpipe.cli.common import fail as _fail

STORAGE_VARIABLE = "DLPIPE_SWEEP_STORAGE"


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a value for every trial.")
@click.option("--grid", "grids", multiple=True, metavar="KEY.PATH=V1,V2,...",
              help="Search these values (repeatable; replaces the file's sweep parameters; method grid).")
@click.option("--method", type=click.Choice(["grid", "random", "bayes"]), help="Override sweep.method.")
@click.option("--trials", type=click.IntRange(1, 100_000), help="Override sweep.trials (random, bayes).")
@click.option("--metric", help="Override sweep.metric, e.g. val_accuracy.")
@click.option("--prune/--no-prune", default=None, help="Override sweep.prune.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              envvar="DLPIPE_OUT", show_envvar=True,
              help="Root directory of the run archive.")
@click.option("--storage", metavar="URL", envvar=STORAGE_VARIABLE, show_envvar=True,
              help="Optuna database URL (default: sqlite:///<out>/sweeps.db); from the environment, no process "
                   "list shows it.")
@click.option("--study", metavar="NAME", help="Study name: the same name and storage on several machines share it.")
@click.option("--resume", is_flag=True, help="Continue this pipeline's newest study (a stopped or killed sweep).")
@click.option("--best", is_flag=True, help="Print the best trial's pipeline (YAML) and exit.")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Trials in parallel processes; the machine's cores are split between them.")
def sweep(file: Path, overrides, grids, method, trials, metric, prune, out: Path, storage, study, resume, best,
          jobs: int) -> None:
    """Search hyperparameters: every trial is a run under --out, and one page says which setting won and why."""
    import importlib.util

    if importlib.util.find_spec("optuna") is None:  # say which extra is missing, before any work
        _fail("dlpipe sweep needs Optuna: pip install 'dlpipe[sweep]'")
    from dlpipe.language.errors import PipelineError
    from dlpipe.sweep.plan import make_plan

    try:
        plan, seed = make_plan(file, tuple(overrides), tuple(grids), {"method": method, "trials": trials,
                                                                       "metric": metric, "prune": prune},
                               out, storage, study, resume or best)
    except PipelineError as exc:
        _fail(str(exc))
    if best:
        _print_best(plan)
        return
    if jobs > 1:
        _jobs(plan, grids, {"--method": method, "--trials": trials, "--metric": metric}, prune, jobs)
        return
    _run(plan, seed)


def _jobs(plan, grids, options: dict, prune, jobs: int) -> None:
    """J worker processes of this command on one study, each pinned to its own share of the cores (its runs'
    threads fit that share and the load on it: engine/threads.py)."""
    import os
    import subprocess
    import sys

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    args = [str(plan.path), "--out", str(plan.out), "--study", plan.study,
            *[a for o in plan.overrides for a in ("--set", o)], *[a for g in grids for a in ("--grid", g)],
            *[a for k, v in options.items() if v is not None for a in (k, str(v))],
            *([] if prune is None else ["--prune" if prune else "--no-prune"])]
    workers = []
    for number in range(jobs):
        mine = cores[number::jobs] or cores  # more jobs than cores: they share
        pin = (lambda cpus=mine: os.sched_setaffinity(0, cpus)) if hasattr(os, "sched_setaffinity") else None
        # The storage URL (a password, perhaps) goes by the environment: `ps` shows a command line to every user.
        workers.append(subprocess.Popen([sys.executable, "-m", "dlpipe", "sweep", *args], preexec_fn=pin,
                                        stdout=subprocess.DEVNULL, env={**os.environ, STORAGE_VARIABLE: plan.storage}))
    echo(f"sweep {plan.study}: {jobs} worker processes, {len(cores)} cores between them", err=True)
    codes = [worker.wait() for worker in workers]
    if all(codes):  # every worker said why on stderr (a storage it cannot open, say): nothing to sum up
        raise SystemExit(max(codes))
    _summary(plan)
    if any(codes):
        raise SystemExit(max(codes))


def _print_best(plan) -> None:
    import optuna

    from dlpipe.sweep.results import best_yaml

    number, text = best_yaml(optuna.load_study(study_name=plan.study, storage=plan.storage), plan)
    if not text:
        _fail(f"study {plan.study}: no completed trial yet")
    echo(f"# the best trial ({number}) of sweep {plan.study}")
    echo(text, nl=False)


def _run(plan, seed: int) -> None:
    import signal

    from dlpipe.archive.log import StopRequest
    from dlpipe.cli.run import _stopper
    from dlpipe.sweep.driver import run_sweep

    from dlpipe.sweep.search import StorageError

    stop = StopRequest()
    previous = {sig: signal.signal(sig, _stopper(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    from sqlalchemy.exc import SQLAlchemyError

    try:
        study, page, stopped = run_sweep(plan, seed, stop, lambda line: echo(line, err=True))
    except StorageError as exc:
        _fail(str(exc))
    except (OSError, SQLAlchemyError) as exc:  # a full disk, a damaged database: one line; --resume continues
        detail = getattr(exc, "orig", None) or exc
        _fail(f"dlpipe sweep: {getattr(detail, 'strerror', None) or str(detail).splitlines()[0]}; "
              f"`dlpipe sweep {plan.path} --resume` continues once that is fixed", 1)
    except KeyboardInterrupt:  # between trials (queueing the grid, writing the page): stop here, resumable
        _fail(f"dlpipe sweep: interrupted; `dlpipe sweep {plan.path} --resume` continues (a trial it had begun runs "
              "again)", 130)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _summary(plan, study, page)
    if stop.is_set():
        raise SystemExit(130)
    if stopped:
        raise SystemExit(1)


def _summary(plan, study=None, page=None) -> None:
    """The best trial and the page, on stdout (the last line: `sweep: PAGE`)."""
    import optuna

    from dlpipe.report.pages import human
    from dlpipe.sweep.results import write_page

    study = study or optuna.load_study(study_name=plan.study, storage=plan.storage)
    page = page or write_page(study, plan)
    try:
        echo(f"best: trial {study.best_trial.number}, {plan.sweep.metric} {human(study.best_value)}: "
                   + "  ".join(f"{k}={human(v)}" for k, v in study.best_trial.params.items()))
    except ValueError:
        echo("best: no trial completed")
    echo(f"sweep: {page}")
