"""Where a command may write: never inside a run directory, never over a special file, never over a file
without --force. A run directory is known by its own files, whatever its name."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

RUN_DIR_NAME = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # create_run_dir's names: <UTC stamp>-<6 hex>


def is_run_dir(folder: Path) -> bool:
    """Whether a folder is a run directory, by its own files whatever its name (a copied or renamed run too): the
    resolved pipeline.yaml and the metrics.json a run writes from its first moment (or, for a run older than
    that, a stamp name as create_run_dir gives)."""
    folder = Path(folder)
    return (folder / "pipeline.yaml").is_file() and ((folder / "metrics.json").is_file()
                                                    or RUN_DIR_NAME.fullmatch(folder.name) is not None)


def run_dir_of(path: Path) -> Path | None:
    """The run directory `path` is in (or is), if any."""
    resolved = Path(path).resolve()
    return next((folder for folder in (resolved, *resolved.parents) if is_run_dir(folder)), None)


def special(path: Path) -> str | None:
    """What a path is when it exists and is not a regular file (a device, a FIFO, a socket), else None."""
    try:
        mode = os.stat(path).st_mode  # (through a symbolic link: what it points at is what would be written)
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a FIFO (named pipe)" \
        if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def writable(path: Path, force: bool, allowed: Path | None = None) -> str | None:
    """Why a command may not write its output to `path`, or None: never inside a run directory (but `allowed`, a
    folder of the run's that dlpipe itself fills, such as its exports/), never over a special file, never over an
    existing file unless force."""
    run = run_dir_of(path)
    inside_allowed = allowed is not None and Path(path).resolve().is_relative_to(Path(allowed).resolve())
    if run is not None and not inside_allowed:
        return (f"{path}: is inside the run directory {run}, whose files dlpipe never overwrites; choose a path "
                "outside it")
    if Path(path).is_dir():
        return f"{path}: is a folder; give a file name"
    kind = special(path)
    if kind is not None:
        return f"{path}: is {kind}; dlpipe writes only regular files, with --force or without (nothing was written)"
    if Path(path).exists() and not force:
        return f"{path}: already exists; pass --force to replace it (nothing was written)"
    return None
