"""What a checkpoint must prove before a run continues from it: its content, its pipeline, its machine.

A checkpoint carries the SHA-256 of its own content (every tensor's bytes and every
number, in a fixed order), so a flipped byte that torch.load would accept is caught; and
the identity of the run it belongs to: the resolved pipeline's checksum (a resumed run
keeps its own pipeline) and the thread count and library versions (which change results
in the last bits; a difference is a warning).
"""

from __future__ import annotations

import hashlib
import platform

import numpy as np
import torch

from dlpipe import __version__


def digest(value) -> str:
    """SHA-256 over a nested structure of dicts, lists, tensors and plain values, in a fixed order."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h, value) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=repr):
            h.update(repr(key).encode())
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    else:
        h.update(repr(value).encode())


def identity(pipeline_text: bytes, data_files: dict[str, str] | None = None, first: dict[str, str] | None = None
             ) -> dict:
    """Who a run is and what it runs on, as stored in each of its checkpoints.

    data_files: {path: SHA-256} of the data it trains on now; first: those it started with (they differ only
    after a resume allowed on changed data), so the run's provenance survives any number of resumes.
    """
    return {"pipeline_sha256": hashlib.sha256(pipeline_text).hexdigest(), "threads": torch.get_num_threads(),
            "torch": str(torch.__version__), "numpy": str(np.__version__), "python": platform.python_version(),
            "dlpipe": __version__, "data_files": dict(data_files or {}),
            "data_files_first": dict(first if first is not None else data_files or {})}


def changed_data(saved: dict, now: dict) -> list[str]:
    """One line per data file whose content differs from the checkpoint's (a checkpoint without them: none)."""
    before, after = saved.get("data_files") or {}, now.get("data_files") or {}
    return [f"{path} has changed since the run last trained on it (SHA-256 {after.get(path, 'none')[:12]}, was "
            f"{sha[:12]})" for path, sha in before.items() if after.get(path) != sha]


def differences(saved: dict, now: dict) -> tuple[list[str], list[str]]:
    """(refusals, warnings) comparing a checkpoint's identity with this process's (its data: changed_data)."""
    refusals = [f"pipeline.yaml has changed since the run wrote its checkpoint (SHA-256 {now['pipeline_sha256'][:12]}, "
                f"was {saved['pipeline_sha256'][:12]}); a resumed run keeps its own pipeline: start a new run with "
                "the changes instead"] if saved.get("pipeline_sha256") not in (None, now["pipeline_sha256"]) else []
    warnings = [f"{key} is {now[key]} here but was {saved[key]} when the run started: results will differ in the "
                "last digits from an uninterrupted run" for key in ("threads", "torch", "numpy", "python", "dlpipe")
                if key in saved and saved[key] != now[key]]
    return refusals, warnings
