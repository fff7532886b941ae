"""What a run ran on: versions, machine, command line, and checksums of its inputs."""

from __future__ import annotations

import hashlib
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from dlpipe import __version__
from dlpipe.language.secrets import mask


def cpu_model() -> str:
    """The CPU's marketing name where Linux tells it, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes; of a folder (an image folder), of its files' relative names and sizes."""
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{item.relative_to(path)}\0{item.stat().st_size}\n".encode())
        return "listing " + digest.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def environment(pipeline_text: str, data_files: tuple[Path, ...], device: str) -> dict:
    """Everything needed to say where a result came from, as plain strings and numbers."""
    return {
        "dlpipe": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "device": device,
        "command": mask(shlex.join(["dlpipe", *sys.argv[1:]])),  # a --storage URL's password never stored
        "pipeline_sha256": hashlib.sha256(pipeline_text.encode("utf-8")).hexdigest(),
        "data_files": {str(path): sha256_file(path) for path in data_files},
    }
