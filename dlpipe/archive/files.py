"""Run archive: one new directory per run, files written atomically, nothing overwritten.

Layout: <root>/<name>/<UTC yyyymmdd-HHMMSS>-<6 hex>/ holding report.html,
pipeline.yaml, metrics.json, history.csv, model.pt and run.log.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from dlpipe.language.secrets import mask

MAX_NAME = 80
RESERVED = ("index.html", "comparisons")  # the archive's own entries beside the run folders


def sanitize_name(name: str) -> str:
    """A run name safe as one directory name: no separators, no leading dots, no `..`, none of RESERVED.

    A name that would collide with the archive's own files (in any case, for case-insensitive
    file systems) gets `-run` appended: `index.html` becomes `index.html-run`.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:MAX_NAME] or "run"
    return f"{safe}-run" if safe.lower() in RESERVED else safe


def create_run_dir(root: Path, name: str, started: datetime) -> Path:
    """Make a fresh run directory; a clash (same name, same second) draws new random hex."""
    parent = Path(root) / sanitize_name(name)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        run_dir = parent / f"{stamp}-{secrets.token_hex(3)}"
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise RuntimeError(f"could not create a new run directory under {parent}")


LOCK = ".lock"


class RunLocked(Exception):
    """Another live process is writing this run directory; the message names it."""


def lock_run_dir(run_dir: Path):
    """Hold an exclusive OS lock on the run directory for as long as the returned handle is open.

    flock(2): the kernel releases it when the process ends however it ends, so a killed run
    is resumable at once, while a second writer (a --resume of a run still going) is refused.
    Where there is no fcntl (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(Path(run_dir) / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held until unlock_run_dir
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise RunLocked(f"{run_dir}: process {holder} is writing this run; wait for it to end, or stop it "
                        f"(kill -INT {holder}) and then resume") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def run_is_live(run_dir: Path) -> bool:
    """Whether a live process holds the run directory's lock (a run still going, not a killed one)."""
    path = Path(run_dir) / LOCK
    try:
        import fcntl
    except ImportError:
        return path.exists()
    try:
        with open(path, encoding="utf-8") as handle:
            try:  # shared and released at once: never in the way of the holder or of a --resume
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        pass
    return False


def unlock_run_dir(handle) -> None:
    """Release the lock (and remove the lock file: the run is no longer anyone's)."""
    if handle is not None:
        Path(handle.name).unlink(missing_ok=True)
        handle.close()


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    write_new(path, content, replace=True)


NO_SPACE = "no space left on the device"  # how a full disk is said; a sweep reruns a trial that ended so
def write_new(path: Path, content: str | bytes, replace: bool = False) -> None:
    """Write through a temporary file beside `path`, renamed into place only when complete; an existing file is
    replaced only when asked (a hard link refuses to clobber it, where the file system has them)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:  # no hard links here: check, then rename
                if path.exists():
                    raise FileExistsError(errno.EEXIST, "already exists", str(path)) from None
                os.replace(tmp, path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"{NO_SPACE} of {path.parent} (needed about "
                                        f"{max(len(data) / 1e6, 0.01):.2f} MB for {path.name})") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def history_csv(history: dict[str, list]) -> str:
    """The history as CSV, one row per epoch."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = list(history)
    writer.writerow(keys)
    for i in range(len(history[keys[0]]) if keys else 0):
        writer.writerow([history[k][i] for k in keys])
    return out.getvalue()


def table_csv(header: list[str], rows: list[list]) -> str:
    """Rows as CSV text (quoted where a value needs it: a class name may hold a comma)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_json(path: Path, obj: Any) -> None:
    # NaN/inf are not JSON; a diverged run records them as null.
    write_atomic(path, json.dumps(_finite(obj), indent=2) + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _type_first(obj: Any) -> Any:
    """Put `type:` first in every mapping, so the dump reads like a hand-written file."""
    if isinstance(obj, dict):
        ordered = {"type": obj["type"]} if "type" in obj else {}
        ordered.update({k: _type_first(v) for k, v in obj.items() if k != "type"})
        return ordered
    if isinstance(obj, list):
        return [_type_first(v) for v in obj]
    return obj


def _flow(value: Any) -> str:
    """One value in YAML flow style, quoted where YAML needs it."""
    import yaml  # here, not at the top: `dlpipe runs` reads the archive without it

    return yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=10**9)[1:-2]


def _lines(obj: dict, origin: Callable[[tuple], str], path: tuple = (), indent: int = 0) -> list[str]:
    """Block-style YAML for `obj`, each leaf value followed by `# where it came from`."""
    pad, lines = " " * indent, []
    for key, value in obj.items():
        here = path + (key,)
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines += _lines(value, origin, here, indent + 2)
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            lines.append(f"{pad}{key}:")
            for index, item in enumerate(value):
                block = _lines(item, origin, here + (index,), indent + 4)
                block[0] = f"{pad}  - {block[0].lstrip()}"
                lines += block
        else:
            text = f"{pad}{key}: {_flow(mask(value) if isinstance(value, str) else value)}"  # a URL's password
            lines.append(f"{text:<44} # {origin(here)}")
    return lines


def resolved_yaml(resolved: dict, source: Path, overrides: tuple[str, ...],
                  origin: Callable[[tuple], str] = lambda path: "") -> str:
    """The resolved pipeline (every default filled in) as YAML that dlpipe reads back.

    Each value carries a comment saying where it came from: its line in the
    source file, a --set override, or the default.
    """
    header = [f"# Resolved by dlpipe from {source}", "# Every default is filled in; `dlpipe run` accepts this file.",
              "# Comments say where each value came from: a line of the file, a --set override, or a default."]
    header += [f"# override: --set {o}" for o in overrides]
    return mask("\n".join(header + _lines(_type_first(resolved), origin)) + "\n")  # comments quote --set too
