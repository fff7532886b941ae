"""Find an IDX dataset's files, or download them from its mirrors with checksums verified.

Downloads go to a temporary file beside the target and are renamed into place
only after their SHA-256 matches, so an interrupted or corrupt download never
leaves a file that looks usable.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Callable

from dlpipe.archive.log import Progress
from dlpipe.data.idx import DataUnavailable, IdxDataset, find_in, search_dirs

TIMEOUT_S = 15  # connecting, and then each read: this long without a byte and the mirror has failed
FILE_S = 300  # one file from one mirror, in all: a mirror that trickles is left for the next one
CHUNK = 1 << 16


class DownloadStopped(Exception):
    """Ctrl-C or SIGTERM during a download: the partial file is gone, nothing else was written."""

Opener = Callable[..., object]  # urlopen-like: opener(url, timeout=...) -> response with .read(n), .headers


def locate(spec: IdxDataset, root: str | None, allow_download: bool = True, env: dict | None = None,
           opener: Opener | None = None, progress: Progress | None = None) -> dict[str, Path]:
    """Paths of the dataset's files by role; downloads what is missing; DataUnavailable if that fails."""
    dirs = search_dirs(spec, root, env)
    for folder in dirs:
        found = find_in(folder, spec)
        if len(found) == len(spec.files):
            return found
    if not allow_download:
        raise DataUnavailable(missing_message(spec, dirs, ["downloading is off (data.download: false)"]))
    target, made = _writable(dirs[: len(dirs) - len(spec.system_dirs)])
    if target is None:
        raise DataUnavailable(missing_message(spec, dirs, ["none of the folders above is writable"]))
    failures: list[str] = []
    present = find_in(target, spec)
    for role, f in spec.files.items():
        if role not in present and not _fetch_any(spec, f.name, f.gz_sha256, target, opener, progress, failures):
            _unmake(target, made)
            raise DataUnavailable(missing_message(spec, dirs, failures))
    return find_in(target, spec)


def _writable(dirs: list[Path]) -> tuple[Path | None, Path | None]:
    """The first folder that exists or can be made, and that we may write into; and the topmost folder this
    made (None when it existed), so that a failed download leaves no empty folders behind."""
    for folder in dirs:
        made = next((p for p in [*reversed(folder.parents), folder] if not p.exists()), None)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder, made
        _unmake(folder, made)
    return None, None


def _unmake(folder: Path, made: Path | None) -> None:
    """Remove the folders from `folder` up to `made` that were made here and are still empty."""
    if made is None:
        return
    for path in [folder, *folder.parents]:
        try:
            path.rmdir()  # only when empty: a file someone put there meanwhile is never lost
        except OSError:
            return
        if path == made:
            return


def _fetch_any(spec: IdxDataset, name: str, sha256: str, target: Path, opener, progress, failures: list[str]) -> bool:
    """Try each mirror in turn; record why each failed."""
    for mirror in spec.mirrors:
        url = mirror + name
        try:
            fetch(url, target / name, sha256, opener=opener, progress=progress)
            return True
        except (OSError, http.client.HTTPException, ValueError) as exc:  # (a read timeout is an OSError)
            failures.append(f"{url}: {exc}")
    return False


def fetch(url: str, dest: Path, sha256: str, opener: Opener | None = None, progress: Progress | None = None) -> None:
    """Download `url` to `dest` atomically; ValueError when the checksum does not match or the mirror is too slow.

    DownloadStopped when progress.stop is set (Ctrl-C, SIGTERM) between two reads, which
    each wait at most TIMEOUT_S; the partial file is removed whatever happens.
    """
    opener = opener or urllib.request.urlopen
    progress = progress or Progress()
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    digest, done, deadline = hashlib.sha256(), 0, time.monotonic() + FILE_S
    try:
        with opener(url, timeout=TIMEOUT_S) as response, open(tmp, "xb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            progress.say(f"downloading {url}")
            while chunk := response.read(CHUNK):
                if progress.stop is not None and progress.stop.is_set():
                    raise DownloadStopped(f"stopped while downloading {url}; the partial file was removed")
                if time.monotonic() > deadline:
                    raise ValueError(f"too slow: {done} bytes in {FILE_S} s; trying the next mirror")
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress.bar(done, total, f"{dest.name}: {done / 1e6:5.1f} / {total / 1e6:.1f} MB")
        if total and done != total:
            raise ValueError(f"download interrupted at {done} of {total} bytes")
        if digest.hexdigest() != sha256:
            raise ValueError(f"checksum mismatch: got sha256 {digest.hexdigest()[:16]}..., "
                             f"expected {sha256[:16]}...; the download was discarded")
        os.replace(tmp, dest)
        progress.say(f"saved {dest} ({done / 1e6:.1f} MB, sha256 verified)")
    finally:
        tmp.unlink(missing_ok=True)


def missing_message(spec: IdxDataset, dirs: list[Path], failures: list[str]) -> str:
    """What is missing, where dlpipe looked, why downloading failed, and how to fix it."""
    names = [f.name for f in spec.files.values()]
    count = {1: "this file", 4: "these four"}.get(len(names), f"these {len(names)}")
    lines = [f"{spec.title}: the data files are missing. dlpipe needs {count}"
             + (" (gzipped or not):" if len(names) == 4 else ":")]
    lines += [f"    {name}" for name in names]
    lines.append("It looked in:")
    lines += [f"    {d}  (has {len(find_in(d, spec))} of {len(names)})" for d in dirs]
    if failures:
        lines.append("Downloading failed:")
        lines += [f"    {failure}" for failure in failures[-6:]]
    lines += [
        f"To fix it, put {'the files' if len(names) > 1 else 'the file'} in one of those folders, for example:",
        f"    mkdir -p {dirs[-1 - len(spec.system_dirs)]} && cp {' '.join(names)} {dirs[-1 - len(spec.system_dirs)]}/",
        f"or set DLPIPE_DATA to a folder that holds {spec.folder}/, or set data.root in the pipeline file.",
    ]
    return "\n".join(lines)
