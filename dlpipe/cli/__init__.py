"""The command line: the `dlpipe` group and its commands, one module per group of commands.

run.py: run, validate, init, schema; use.py: predict, evaluate, export; archive.py: runs, compare. Each command imports
what it needs when it runs, so `dlpipe --help` loads click and nothing heavy.
"""

from __future__ import annotations

import click

from dlpipe import __version__
from dlpipe.cli import archive, run, sweep, use


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlpipe")
def main() -> None:
    """dlpipe: a YAML file is the experiment. Validate it, run it, read its report."""


for command in (run.run, run.validate, sweep.sweep, use.predict, use.evaluate, use.export, archive.runs, archive.compare,
                run.init, run.schema):
    main.add_command(command)
