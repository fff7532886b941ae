"""`dlpipe run`, `dlpipe validate`, `dlpipe init` and `dlpipe schema`.

Exit codes: 0 success; 2 invalid pipeline or arguments; 1 a run that failed; 130 a run
stopped by a signal. Everything but click (pydantic, torch, matplotlib, even json and
signal) is imported inside the command that needs it: `dlpipe --help` starts in ~0.1 s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dlpipe.cli.common import fail as _fail
from dlpipe.cli.common import complete_run_dirs, echo, is_main_program, quick_exit

SCHEMA_PATH = Path("schemas") / "pipeline.schema.json"


@click.command()
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a value, e.g. --set optimizer.lr=0.01 (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              envvar="DLPIPE_OUT", show_envvar=True,
              help="Root directory of the run archive.")
@click.option("--resume", type=click.Path(path_type=Path), metavar="RUN_DIR", shell_complete=complete_run_dirs,
              help="Continue an interrupted run in its own directory, from its last checkpoint.")
@click.option("--allow-changed-data", is_flag=True,
              help="With --resume: continue even if a data file changed since the run started (the report says so).")
@click.option("--nproc", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Data-parallel worker processes on this machine (torch.distributed via torchrun).")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Run N seeds (seed, seed+1, ...) as a group: mean ± 95 % interval of each test metric.")
@click.option("--folds", type=click.IntRange(2, 100), default=None, metavar="K",
              help="K-fold cross-validation: K runs as a group, each testing on its own fold; mean ± 95 % interval.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output; print only the result.")
def run(file: Path | None, overrides: tuple[str, ...], out: Path, resume: Path | None, allow_changed_data: bool,
        nproc: int, repeat: int, folds: int | None, quiet: bool) -> None:
    """Train the pipeline in FILE and archive its report under --out (or continue one with --resume)."""
    from dlpipe.engine.distributed import from_env

    if (repeat > 1 or folds) and (resume is not None or nproc > 1):
        _fail(f"--{'folds' if folds else 'repeat'} makes new runs on one process; it goes with neither --resume nor "
              "--nproc")
    if repeat > 1 and folds:
        _fail("--folds with --repeat: repeated K-fold makes K x N runs that share their rows, whose interval would "
              "claim more certainty than there is; run --folds K once per seed (--set seed=N) and compare the groups")
    if allow_changed_data and resume is None:
        _fail("--allow-changed-data goes with --resume RUN_DIR: a new run always trains on the data as it is")
    world = from_env()
    if nproc > 1 and world is None:
        _load_for_run(file, overrides, resume)  # bad input fails here, once, not in every worker
        from dlpipe.engine.distributed import launch

        sys.exit(launch(nproc, _without_nproc(sys.argv[1:])))
    import signal

    from dlpipe.archive.log import StopRequest

    stop = StopRequest()
    previous = {sig: signal.signal(sig, _stopper(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        loaded = _load_for_run(file, overrides, resume)
        if repeat > 1 or folds:
            from dlpipe.cli.repeat import group_runs

            grouped = group_runs(file, overrides, loaded, out, repeat, folds, quiet, stop, _execute, _load_for_run)
        else:
            record = _execute(loaded, out, resume, quiet or (world is not None and not world.main), stop, world,
                              allow_changed_data)
    except KeyboardInterrupt:  # a signal before training began: nothing was started, nothing half-written
        left = "the run was left as it was" if resume else "no run was started"
        _fail(f"dlpipe run: interrupted before training began; {left}", 130)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if repeat > 1 or folds:
        quick_exit(grouped)
    from dlpipe.archive.record import EXIT_CODES

    code = EXIT_CODES.get(record.status, 1)
    # A clean stop for a signal our launcher forwarded: the launcher exits 130, torchrun quietly.
    exit_code = 0 if world is not None and code == 130 and os.environ.get("DLPIPE_LAUNCHED") else code
    if world is not None and not world.main:
        quick_exit(exit_code)  # rank 0 speaks for the run
    for key, value in record.test.items():
        echo(f"test {key:<8} {value:.6g}")
    rare = (record.data or {}).get("imbalance", {}).get("minority")
    for row in (r for r in record.per_class if r.get("name") == rare):  # the class the macro figures blur
        echo(f"test {rare!r} (the rare class, {int(row['support'])} rows): precision {row['precision']:.4g}  "
             f"recall {row['recall']:.4g}  f1 {row['f1']:.4g}")
    for name, values in record.baselines.items():  # the simple models of its task, on the same test split
        echo(f"baseline {name:<9} " + "  ".join(f"{key} {value:.6g}" for key, value in values.items()))
    echo(f"status: {record.status}")
    if record.targets:
        from dlpipe.language.targets import describe

        for target in record.targets:
            echo(f"target: {describe(target)}")
    if record.verdict:
        echo(f"verdict: {record.verdict['kind']}: {record.verdict['advice']}")
        if record.verdict.get("suggest"):  # the advice as a line to copy
            echo(f"try: {_follow(record)}")
    for finding in (record.network or {}).get("findings", []) or (["healthy"] if record.network else []):
        echo(f"network: {finding}")
    report = record.path / "report.html"
    echo(f"report: {report if report.exists() else None}")
    if code:
        echo(f"{loaded.pipeline.name}: {record.status}: {record.message} "
                   f"(details in {record.path / 'run.log'})", err=True)
    quick_exit(exit_code)


def _follow(record) -> str:
    """The command that follows the verdict's advice, naming the run's pipeline.yaml as short as it reads."""
    from dlpipe.report.advice import command

    pipeline = record.path / "pipeline.yaml"
    shorter = os.path.relpath(pipeline)
    return command(pipeline if shorter.startswith("..") else shorter, record.verdict["suggest"])


def _stopper(stop):
    """A signal handler: while a run trains (stop.deferring) the first Ctrl-C or SIGTERM stops it after the current
    batch and a second one at once; before that (checks, loading data) the first one ends the command at once."""

    def handle(signum, frame) -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()
        if not getattr(stop, "deferring", True):
            raise KeyboardInterrupt  # unwinds: every writer removes its temporary file, nothing is half-written
        import signal

        echo(f"\n{signal.Signals(signum).name}: stopping after the current batch, then writing the "
             "checkpoint and the report (press Ctrl-C again to quit at once)", err=True)

    return handle


def _load_for_run(file: Path | None, overrides: tuple[str, ...], resume: Path | None):
    """The checked pipeline to run: FILE, or the resolved pipeline.yaml of the run to resume."""
    from dlpipe.language.errors import PipelineError
    from dlpipe.data.sources import read_pipeline
    from dlpipe.model.checks import check_pipeline

    if (file is None) == (resume is None):
        _fail("give a pipeline FILE, or --resume RUN_DIR (not both): dlpipe run pipelines/mnist.yaml")
    if resume is not None:
        from dlpipe.engine.checkpoint import resumable

        if overrides:
            _fail("--set cannot be combined with --resume: a resumed run keeps its own pipeline")
        if reason := resumable(resume):
            _fail(reason)
        file = resume / "pipeline.yaml"
    try:
        loaded = read_pipeline(file, overrides)
        checked = check_pipeline(loaded)
    except PipelineError as exc:
        _fail(str(exc))
    if checked.warnings:
        echo(checked.warnings, err=True)
    return loaded


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line minus --nproc N / --nproc=N, for the workers."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def _execute(loaded, out: Path, resume: Path | None, quiet: bool, stop, world=None, allow_changed_data: bool = False):
    """Run (or resume); pipeline, data and archive problems become exit code 2."""
    from dlpipe.archive.log import Progress
    from dlpipe.data.download import DownloadStopped
    from dlpipe.data.idx import DataUnavailable
    from dlpipe.archive.files import RunLocked
    from dlpipe.engine.checkpoint import ResumeError
    from dlpipe.engine.speed import process_age
    from dlpipe.language.errors import PipelineError
    from dlpipe.runner import run as run_pipeline

    if world is not None:
        from dlpipe.engine.distributed import start

        start(world)
    try:
        return run_pipeline(loaded, out, Progress(quiet=quiet, stop=stop), stop=stop, resume_dir=resume, world=world,
                            tune_process=is_main_program(), startup_s=process_age() if is_main_program() else None,
                            allow_changed_data=allow_changed_data)
    except DownloadStopped as exc:
        _fail(f"{exc}; no run was started", 130)
    except PipelineError as exc:
        _fail(str(exc))
    except RunLocked as exc:
        _fail(str(exc))
    except ResumeError as exc:
        _fail(f"--resume {resume}: {exc}; the run was left as it was (the reason is in its run.log)")
    except DataUnavailable as exc:
        _fail(f"{loaded.path}: data.type {loaded.pipeline.data.type}: {exc}")
    except OSError as exc:
        _fail(f"--out {out}: cannot write the run archive: {exc.strerror or exc}")
    finally:
        if world is not None:
            from dlpipe.engine.distributed import stop as leave

            leave()


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a value (repeatable).")
def validate(files: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Check each pipeline FILE and build its model, without training."""
    from dlpipe.language.errors import PipelineError
    from dlpipe.data.sources import read_pipeline
    from dlpipe.model.checks import check_pipeline

    failed = 0
    for file in files:
        try:
            loaded = read_pipeline(file, overrides)
            checked = check_pipeline(loaded)
        except PipelineError as exc:
            echo(str(exc), err=True)
            failed += 1
            continue
        if checked.warnings:
            echo(checked.warnings, err=True)
        lines = [loaded.place(("model", "layers", i)) for i in range(len(checked.summary.rows))]
        task = f"task: {loaded.task_reason}\n" if loaded.task_reason else ""
        if checked.classes:
            shown = ", ".join(checked.classes[:20]) + (f", ... ({len(checked.classes)} in all)"
                                                        if len(checked.classes) > 20 else "")
            task += f"classes ({len(checked.classes)}): {shown}\n"
        echo(f"{file}: ok\n{task}{checked.summary.table(lines)}\n")
    if failed:
        _fail(f"{failed} of {len(files)} pipeline file(s) invalid")
    quick_exit(0)  # tearing torch down takes ~0.35 s, a quarter of this command


@click.command()
@click.option("--output", "-o", type=click.Path(path_type=Path), default=SCHEMA_PATH, show_default=True,
              help="Where to write the JSON Schema ('-' for stdout).")
def schema(output: Path) -> None:
    """Write the JSON Schema of pipeline files (for editor autocompletion)."""
    from dlpipe.language.schema import pipeline_schema

    import json

    text = json.dumps(pipeline_schema(), indent=2) + "\n"
    if str(output) == "-":
        echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"{output}: cannot write the schema: {exc.strerror or exc}")
    echo(f"wrote {output}")
