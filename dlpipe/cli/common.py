"""What every command shares: a clean exit with a message, and the quick exit of the `dlpipe` process.

Imports nothing heavy (no pydantic, torch or matplotlib), so `dlpipe --help` and
`dlpipe runs` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (2: invalid input), never a traceback."""
    echo(message, err=True)
    sys.exit(code)


def echo(text: str, err: bool = False, nl: bool = True) -> None:
    """click.echo that a closed reader (`dlpipe ... | head -5`) silences instead of failing the command."""
    import click

    try:
        click.echo(text, err=err, nl=nl)
    except BrokenPipeError:
        _detach(sys.stderr if err else sys.stdout)


def _detach(stream) -> None:
    """Point a stream whose reader has gone at /dev/null, so later writes and the last flush are harmless."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def is_main_program() -> bool:
    """True when this process is the dlpipe command itself (console script or python -m dlpipe).

    False inside a test runner's CliRunner or a notebook, which must keep control of the
    process: no quick exit there, and no process-wide tuning (engine/speed.py).
    """
    main_module = sys.modules.get("__main__")
    name = os.path.basename(getattr(main_module, "__file__", "") or "")
    return name in ("dlpipe", "__main__.py") and getattr(main_module, "__package__", None) in (None, "", "dlpipe")


def quick_exit(code: int) -> NoReturn:
    """Exit without tearing the interpreter down: everything is written and closed by now.

    Freeing torch's tensors, thread pools and modules one by one took ~0.8 s after an MNIST
    run here; the operating system reclaims all of it at once. Under a test runner (not the
    `dlpipe` command) exit normally, so the caller keeps control.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            _detach(stream)
    if os.environ.get("DLPIPE_NO_QUICK_EXIT") or not is_main_program():
        sys.exit(code)
    os._exit(code)


def _archive_root(ctx) -> Path:
    """The --out of the command being completed (or of its group: `dlpipe runs --out X show`), else reports."""
    for context in (ctx, ctx.parent):
        value = context.params.get("out") if context is not None else None
        if value:
            return Path(value)
    return Path("reports")


def complete_runs(ctx, param, incomplete: str):
    """Shell completion of a RUN: pipeline names and name/stamp references under the archive root.

    Only directory names are listed (no metrics.json is read), so a Tab stays instant.
    """
    from click.shell_completion import CompletionItem

    root = _archive_root(ctx)
    refs = sorted({f"{p.parent.parent.name}/{p.parent.name}" for p in root.glob("*/*/metrics.json")}, reverse=True)
    names = sorted({ref.split("/")[0] for ref in refs})
    return [CompletionItem(ref) for ref in names + refs if ref.startswith(incomplete)]


def complete_run_dirs(ctx, param, incomplete: str):
    """Shell completion of --resume RUN_DIR: the run directories with a checkpoint that did not complete."""
    from click.shell_completion import CompletionItem

    root = _archive_root(ctx)
    found = []
    for checkpoint in sorted(root.glob("*/*/checkpoint.pt"), reverse=True):
        try:
            finished = '"status": "completed"' in (checkpoint.parent / "metrics.json").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            finished = False
        if not finished and str(checkpoint.parent).startswith(incomplete):
            found.append(CompletionItem(str(checkpoint.parent), type="dir"))
    return found
