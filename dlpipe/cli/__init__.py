"""The command line: the `dlpipe` group and its commands, one module per group of commands.

run.py: run, validate, schema; init.py: init; use.py: predict, evaluate, export; serve.py: serve; archive.py: runs, compare. Each command imports
what it needs when it runs, so `dlpipe --help` loads click and nothing heavy.
"""

from __future__ import annotations

import click

from dlpipe import __version__
from dlpipe.cli.common import fail, is_main_program
from dlpipe.cli import archive, figures, init, lrfind, run, serve, sweep, use


class Commands(click.Group):
    """The dlpipe group: a Ctrl-C or SIGTERM outside a run's training ends any command at once with exit 130 and
    one line (every writer removes its temporary file as the interrupt unwinds it)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            fail(f"dlpipe {ctx.invoked_subcommand or ''}: interrupted; nothing was left half-written".replace("  ", " "),
                 130)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C, instead of killing the process mid-write


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlpipe")
def main() -> None:
    """dlpipe: a YAML file is the experiment. Validate it, run it, read its report."""
    if is_main_program():  # never in a test runner's or a notebook's process
        import signal

        signal.signal(signal.SIGTERM, _interrupt)


for command in (run.run, run.validate, sweep.sweep, lrfind.lr_find, use.predict, use.evaluate, use.export, serve.serve, archive.runs, archive.compare, figures.figures,
                init.init, run.schema):
    main.add_command(command)
