"""`dlpipe figures RUN...`: the report's charts as matplotlib figure files (dlpipe/report/figures.py)."""

from __future__ import annotations

from pathlib import Path

import click

from dlpipe.cli.common import complete_runs, echo
from dlpipe.cli.common import fail as _fail
from dlpipe.cli.use import OUT


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...", shell_complete=complete_runs)
@click.option("--format", "fmt", type=click.Choice(["pdf", "png", "svg"]), default="pdf", show_default=True)
@click.option("--style", metavar="STYLE", help="A matplotlib style name (seaborn-v0_8-paper, ggplot, ...) or a "
              ".mplstyle file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("figures"), show_default=True,
              help="The folder the figures go to (never inside a run).")
@click.option("--force", is_flag=True, help="Replace figure files that exist.")
@OUT
def figures(runs: tuple[str, ...], fmt: str, style: str | None, output: Path, force: bool, out: Path) -> None:
    """Every chart of RUN's report as a matplotlib figure (PDF, PNG or SVG); several runs are overlaid."""
    from dlpipe.archive.runs import find_run
    from dlpipe.report.figures import FiguresError, write_figures

    try:
        paths = [find_run(out, run) for run in runs]
        written = write_figures(paths, output, fmt, style, force)
    except ImportError as exc:
        _fail(f"dlpipe figures: {exc}")
    except LookupError as exc:
        _fail(str(exc))
    except FiguresError as exc:
        _fail(f"dlpipe figures: {exc}")
    except (OSError, ValueError) as exc:
        _fail(f"dlpipe figures: {exc}")
    for path in written:
        echo(str(path))
    echo(f"{len(written)} figure(s) in {output}")
