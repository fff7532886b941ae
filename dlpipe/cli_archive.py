"""Commands over the run archive: `dlpipe runs`, `dlpipe runs show RUN`, `dlpipe compare RUN RUN...`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dlpipe.errors import fail as _fail


@click.group(invoke_without_command=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Root directory of the run archive.")
@click.option("--name", help="Only runs of this pipeline name.")
@click.pass_context
def runs(ctx: click.Context, out: Path, name: str | None) -> None:
    """List the archived runs (newest first); `dlpipe runs show RUN` for one."""
    ctx.obj = out
    if ctx.invoked_subcommand is None:
        from dlpipe.runs import list_runs, table

        found = list_runs(out, name)
        if not found:
            _fail(f"no runs under {out}" + (f" named {name}" if name else "") + " (dlpipe run FILE makes one)")
        click.echo(table(found))
        click.echo(f"\n{len(found)} run(s); browse them in {out / 'index.html'}")


@runs.command("show")
@click.argument("run")
@click.pass_obj
def runs_show(out: Path, run: str) -> None:
    """Print one run's status, metrics and paths (RUN: a directory, name/stamp, a stamp prefix or a name)."""
    from dlpipe.runs import RunInfo, find_run

    try:
        path = find_run(out, run)
    except LookupError as exc:
        _fail(str(exc))
    info = RunInfo(path, json.loads((path / "metrics.json").read_text()))
    m = info.metrics
    click.echo(f"{info.ref}: {m.get('status')}  {m.get('message', '')}".rstrip())
    click.echo(f"started {info.started}, {info.duration}, {m.get('epochs_run', 0)} epochs on {m.get('device', '?')}")
    if m.get("verdict"):
        click.echo(f"verdict: {m['verdict']['kind']}: {m['verdict']['advice']}")
    for key, value in (m.get("test") or {}).items():
        click.echo(f"  test {key:<14} {value:.6g}" if isinstance(value, (int, float)) else f"  test {key} {value}")
    for name in ("report.html", "pipeline.yaml", "metrics.json", "history.csv", "model.pt", "run.log"):
        if (path / name).exists():
            click.echo(f"{name:>14}: {path / name}")


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="RUN RUN...")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Root of the run archive; the comparison is written under <out>/comparisons/.")
def compare(refs: tuple[str, ...], out: Path) -> None:
    """Write an HTML comparison of two or more runs: curves overlaid, metrics side by side, config diff."""
    from dlpipe.compare import write_comparison
    from dlpipe.runs import find_run

    if len(refs) < 2:
        _fail("give at least two runs to compare (see `dlpipe runs`)")
    try:
        paths = [find_run(out, ref) for ref in refs]
    except LookupError as exc:
        _fail(str(exc))
    click.echo(f"comparison: {write_comparison(paths, out)}")
