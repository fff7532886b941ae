"""`dlpipe init`: a commented starter pipeline from a template, or written from the user's own table (--from)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from dlpipe.cli.common import echo
from dlpipe.cli.common import fail as _fail
from dlpipe.cli.run import SCHEMA_PATH

# The starter pipelines of `dlpipe init` (dlpipe/cli/templates/init_KIND.yaml) and what each is.
TEMPLATES = {"regression": "a tanh network fits a noisy sine; its comments show a CSV table, arrays and a series",
             "classification": "an MLP reads MNIST digits; its comments show image folders, a CSV table, text "
                               "columns and arrays"}


@click.command()
@click.argument("words", nargs=-1, metavar="[KIND] [FILE]")
@click.option("--list", "listing", is_flag=True, help="List the templates and what each shows.")
@click.option("--from", "table", type=click.Path(path_type=Path), metavar="TABLE",
              help="Write the pipeline from your own CSV table (with --target).")
@click.option("--target", help="With --from: the column to predict.")
def init(words: tuple[str, ...], listing: bool, table: Path | None, target: str | None) -> None:
    """Write a commented starter pipeline to FILE (default pipeline.yaml); never overwrites.

    KIND: regression or classification (a template). Your own data: --from TABLE --target COLUMN writes a pipeline
    from the table itself; the templates' comments show every own-data source.
    """
    from importlib.resources import files

    if listing:
        for name, what in TEMPLATES.items():
            echo(f"{name:<15} {what}   (dlpipe init {name} FILE)")
        return
    kind = words[0] if words and words[0] in TEMPLATES else "regression"
    rest = words[1:] if words and words[0] in TEMPLATES else words
    if len(rest) > 1 or (table is not None and words and words[0] in TEMPLATES):
        _fail(f"expected [KIND] [FILE] (KIND: {', '.join(TEMPLATES)}), or --from TABLE --target COLUMN [FILE]; "
              f"received {' '.join(words)}")
    file = Path(rest[0]) if rest else Path("pipeline.yaml")
    if table is not None:
        return _init_from(table, target, file)

    text = (files("dlpipe.cli") / "templates" / f"init_{kind}.yaml").read_text(encoding="utf-8")
    schema = Path.cwd() / SCHEMA_PATH
    if schema.exists():  # the editor modeline is relative to the new file
        text = f"# yaml-language-server: $schema={os.path.relpath(schema, file.resolve().parent)}\n" + text
    _write_new(file, text, f"dlpipe init {kind} OTHER.yaml")
    echo(f"wrote {file}: check it with `dlpipe validate {file}`, run it with `dlpipe run {file}`")


def _write_new(file: Path, text: str, again: str) -> None:
    """The new pipeline file, never over an existing one (again: the command to give another name)."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        _fail(f"{file}: already exists; choose another name ({again})")
    except OSError as exc:
        _fail(f"{file}: cannot write: {exc.strerror or exc}")


def _init_from(table: Path, target: str | None, file: Path) -> None:
    """`dlpipe init --from TABLE --target COLUMN [FILE]`: the pipeline written from the table (cli/fromdata.py)."""
    from dlpipe.cli.fromdata import folder_text, pipeline_text
    from dlpipe.data import table as tables
    from dlpipe.language.errors import InvalidValue

    try:
        if table.is_dir():  # an image folder: one sub-folder per class; the classes are the target
            if target is not None:
                _fail(f"--target: {table} is an image folder, whose sub-folders are the classes; leave --target out")
            text = folder_text(table, file)
        elif target is None:
            tables.check_file(table)
            names = tables.header(table, tables.sniff_delimiter(table, None))
            _fail(f"--from {table}: which column should the pipeline predict? give --target with one of: "
                  f"{', '.join(names[:40])}{' ...' if len(names) > 40 else ''}")
        else:
            text = pipeline_text(table, target, file)
    except InvalidValue as exc:
        _fail(f"--from {table}: {exc}")
    again = f" --target {target}" if target else ""
    _write_new(file, text, f"dlpipe init --from {table}{again} OTHER.yaml")
    echo(f"wrote {file} from {table}: check it with `dlpipe validate {file}`, run it with `dlpipe run {file}`")
