"""Commands over the run archive: `dlpipe runs`, `dlpipe runs show RUN`, `dlpipe compare RUN RUN...`."""

from __future__ import annotations

from pathlib import Path

import click

from dlpipe.cli.common import complete_runs
from dlpipe.cli.common import echo
from dlpipe.cli.common import fail as _fail


@click.group(invoke_without_command=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              envvar="DLPIPE_OUT", show_envvar=True,
              help="Root directory of the run archive.")
@click.option("--name", help="Only runs of this pipeline name.")
@click.option("--expand", is_flag=True, help="List each sweep's trials and each cross-validation's folds under its row.")
@click.pass_context
def runs(ctx: click.Context, out: Path, name: str | None, expand: bool) -> None:
    """List the archived runs (newest first); `dlpipe runs show RUN` for one."""
    ctx.obj = out
    if ctx.invoked_subcommand is None:
        from dlpipe.archive.runs import damaged_text, list_runs, table

        damaged: list[str] = []
        found = list_runs(out, name, damaged)
        if damaged:
            echo(damaged_text(damaged), err=True)
        if not found:
            _fail(f"no runs under {out}" + (f" named {name}" if name else "") + " (dlpipe run FILE makes one)")
        echo(table(found, expand))
        echo(f"\n{len(found)} run(s); browse them in {out / 'index.html'}")


@runs.command("show")
@click.argument("run", shell_complete=complete_runs)
@click.pass_obj
def runs_show(out: Path, run: str) -> None:
    """Print one run's status, metrics and paths (RUN: a directory, name/stamp, a stamp prefix or a name)."""
    from dlpipe.archive.record import RunRecord
    from dlpipe.archive.runs import checkpointed_epochs, duration_text, find_run, started_text, status_text
    from dlpipe.language.targets import describe

    try:
        path = find_run(out, run)
        record = RunRecord.read(path)
    except LookupError as exc:
        _fail(str(exc))
    except (OSError, ValueError, TypeError) as exc:
        _fail(f"{path / 'metrics.json'}: cannot be read ({exc})")
    echo(f"{record.ref}: {status_text(record)}  {record.message}".rstrip())
    run = record.epochs_run or checkpointed_epochs(path)  # a killed run has no history.csv yet: its checkpoint says
    epochs = f"{run} epoch{'' if run == 1 else 's'}"
    echo(f"started {started_text(record)}, {duration_text(record)}, {epochs} on {record.device}")
    if record.verdict:
        echo(f"verdict: {record.verdict['kind']}: {record.verdict['advice']}")
    for target in record.targets:
        echo(f"target: {describe(target)}")
    for finding in (record.network or {}).get("findings", []) or (["healthy"] if record.network else []):
        echo(f"network: {finding}")
    for key, value in record.test.items():
        shown = f"{value:.6g}" if isinstance(value, (int, float)) else "n/a (not a finite number)"
        echo(f"  test {key:<14} {shown}")
    for name in ("report.html", "pipeline.yaml", "metrics.json", "history.csv", "layers.csv", "model.pt", "preprocessing.json",
                 "run.log", "evaluations", "exports"):
        if (path / name).exists():
            echo(f"{name:>14}: {path / name}")


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="RUN RUN...", shell_complete=complete_runs)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              envvar="DLPIPE_OUT", show_envvar=True,
              help="Root of the run archive; the comparison is written under <out>/comparisons/.")
def compare(refs: tuple[str, ...], out: Path) -> None:
    """Write an HTML comparison of two or more runs: curves overlaid, metrics side by side, config diff.

    Two groups (`dlpipe run --repeat` or `--folds`; a group's folder or id) are compared by Welch's t-test instead,
    or fold by fold (a paired t-test) when both cross-validated the same rows cut the same way."""
    from dlpipe.archive.runs import find_run
    from dlpipe.archive.record import RunRecord
    from dlpipe.report.compare import mixed, write_comparison
    from dlpipe.report.group import compare_groups, find_group, read_group
    from dlpipe.report.noise import noise

    if len(refs) < 2:
        _fail("give at least two runs to compare (see `dlpipe runs`)")
    groups = [find_group(out, ref) for ref in refs]
    if all(groups):
        if len(groups) != 2:
            _fail("give two groups to compare (each made by dlpipe run --repeat N or --folds K)")
        try:
            first, second = (read_group(folder) for folder in groups)
        except ValueError as exc:
            _fail(str(exc))
        sizes = [f"{len(g['runs'])} {'folds' if g.get('kind') == 'folds' else 'seeds'}" for g in (first, second)]
        echo(f"{groups[0]} ({sizes[0]}) against {groups[1]} ({sizes[1]}):")
        for line in compare_groups(first, second):
            echo(f"  {line}")
        return
    try:
        paths = [find_run(out, ref) for ref in refs]
        records = [RunRecord.read(path, with_history=False) for path in paths]
        warning = mixed(records)
        if warning:
            echo(f"warning: {warning}", err=True)
        for line in noise(records):  # is the best run's lead noise?
            echo(line)
        echo(f"comparison: {write_comparison(paths, out)}")
    except LookupError as exc:
        _fail(str(exc))
    except (OSError, ValueError) as exc:
        _fail(f"cannot compare: {exc}")
