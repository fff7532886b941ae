"""Will a data set fit in memory? Estimated before loading, so a too-big one is refused at once, not swapped."""

from __future__ import annotations

import os

from dlpipe.language.errors import InvalidValue

SHARE = 0.8  # of the memory available now: the model, its activations and the OS need the rest


def available_bytes() -> int:
    """Memory available to a new allocation now (MemAvailable on Linux; physical memory elsewhere)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def check_fits(estimate: int, what: str, key: tuple, fix: str = "use a smaller file") -> None:
    """InvalidValue (naming the estimate and the memory available) when `what` would not fit."""
    available = available_bytes()
    if estimate > SHARE * available:
        raise InvalidValue(key, f"{what} needs about {_gb(estimate)} of memory once loaded, and "
                                f"{_gb(available)} is available; {fix} or a machine with more memory")


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"
