"""What a path is, before anything reads it: only regular files are read, and never more than a limit.

A FIFO would block a reader for ever, /dev/zero would fill the memory, a directory is no file:
each gets its one line instead (used for pipeline files, data files and predict inputs).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

KINDS = ((stat.S_ISDIR, "is a directory"), (stat.S_ISFIFO, "is a FIFO (a named pipe), not a file"),
         (stat.S_ISCHR, "is a character device, not a file"), (stat.S_ISBLK, "is a block device, not a file"),
         (stat.S_ISSOCK, "is a socket, not a file"))


def resolved(path) -> Path:
    """`path` made absolute with its links followed as far as they go: a symbolic-link loop or a zero byte gives
    the absolute path as written (whoever reads it then says what is wrong, in one line), never an exception."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def not_a_file(path: Path) -> str | None:
    """Why `path` is not a regular file that can be read ('no such file', 'is a FIFO ...'), or None when it is."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except ValueError:
        return "is no path a file can have (it holds a zero byte)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return next((text for test, text in KINDS if test(mode)), "is not a regular file")


def read_at_most(path: Path, limit: int) -> bytes:
    """A regular file's first limit + 1 bytes at most (so a caller can tell the file is longer than the limit)."""
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


def looks_utf16(data: bytes) -> bool:
    """A byte-order mark, or ASCII text with a zero byte beside every character."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    head = data[:64 - len(data[:64]) % 2]
    halves = (head[0::2], head[1::2])
    return len(head) >= 4 and any(set(zeros) == {0} and all(32 <= b < 127 or b in (9, 10, 13) for b in text)
                                  for zeros, text in (halves, halves[::-1]))
