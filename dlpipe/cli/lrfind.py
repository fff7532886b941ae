"""`dlpipe lr-find PIPELINE`: the learning-rate range test (dlpipe/sweep/lrfind.py), its suggestion and page."""

from __future__ import annotations

from pathlib import Path

import click

from dlpipe.cli.common import echo, quick_exit
from dlpipe.cli.common import fail as _fail


@click.command("lr-find")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="Override a value (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              envvar="DLPIPE_OUT", show_envvar=True, help="Root of the run archive (the page goes under it).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the suggestion and the page.")
def lr_find(file: Path, overrides: tuple[str, ...], out: Path, quiet: bool) -> None:
    """Suggest a learning rate for FILE: a few hundred steps with the learning rate rising, the loss read off."""
    from dlpipe.archive.log import Progress
    from dlpipe.cli.run import _load_for_run
    from dlpipe.data.idx import DataUnavailable
    from dlpipe.engine.lrfind import RULES
    from dlpipe.language.errors import PipelineError
    from dlpipe.sweep.lrfind import find_lr

    loaded = _load_for_run(file, overrides, None)
    try:
        found = find_lr(loaded, out, Progress(quiet=quiet))
    except PipelineError as exc:
        _fail(str(exc))
    except DataUnavailable as exc:
        _fail(f"{loaded.path}: data.type {loaded.pipeline.data.type}: {exc}")
    except OSError as exc:
        _fail(f"--out {out}: cannot write the page: {exc.strerror or exc}")
    test = found.test
    echo(f"range test: {len(test.lrs)} steps; {test.stopped}")
    if found.override is None:
        _fail("no suggestion: the loss never fell below where it started (check the scaling of inputs and targets)",
              1)
    echo(f"suggested learning rate: {test.suggestion:.2g} ({found.key} is {found.pipeline_lr:g} now)")
    echo(f"rule: {RULES[test.rule][1]} (the lowest at {test.lrs[test.lowest]:.2g})")
    echo(f"try: dlpipe run {file} --set {found.override}")
    echo(f"page: {found.folder / 'report.html'}")
    quick_exit(0)

