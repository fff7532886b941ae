"""What every command shares: a clean exit with a message, and the quick exit of the `dlpipe` process.

Imports nothing heavy (no pydantic, torch or matplotlib), so `dlpipe --help` and
`dlpipe runs` start fast.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (2: invalid input), never a traceback."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


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
    sys.stdout.flush()
    sys.stderr.flush()
    if os.environ.get("DLPIPE_NO_QUICK_EXIT") or not is_main_program():
        sys.exit(code)
    os._exit(code)
