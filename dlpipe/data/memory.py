"""Will a data set fit in memory? Estimated before loading, so a too-big one is refused at once, not swapped."""

from __future__ import annotations

import os
from pathlib import Path

from dlpipe.language.errors import InvalidValue

SHARE = 0.8  # of the memory available now: the model, its activations and the OS need the rest


CGROUP = Path("/sys/fs/cgroup")  # where the kernel shows the control groups (v2; v1 under memory/)
OWN_CGROUP = Path("/proc/self/cgroup")  # which of them this process is in


def available_bytes() -> int:
    """Memory a new allocation can have now: the smallest of what the machine has free, what the process's rlimits
    leave and what its cgroup's limit leaves (a container's): `limits()` says each."""
    return min(limits().values())


def limits() -> dict[str, int]:
    """Each bound on new memory that applies here, by what sets it: free memory, an rlimit, a cgroup limit."""
    found = {"free memory": _free()}
    found.update(_rlimits())
    left = _cgroup_left()
    if left is not None:
        found["the cgroup's memory limit"] = left
    return found


def _free() -> int:
    """MemAvailable on Linux; physical memory elsewhere."""
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


def _rlimits() -> dict[str, int]:
    """What the address-space and data rlimits leave (their soft limit less what the process holds already)."""
    try:
        import resource
    except ImportError:
        return {}
    status = _status()
    found = {}
    for name, field in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        soft = resource.getrlimit(getattr(resource, name))[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            found[f"the {name} rlimit"] = max(soft - status.get(field, 0), 0)
    return found


def _status() -> dict[str, int]:
    """/proc/self/status's sizes in bytes (VmSize, VmData)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in handle)
                    if k in ("VmSize", "VmData")}
    except (OSError, ValueError):
        return {}


def _cgroup_left() -> int | None:
    """The tightest limit less usage of this process's cgroup and its parents (v2 memory.max, v1 limit_in_bytes)."""
    try:
        lines = OWN_CGROUP.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    left = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: the unified hierarchy; its limit may sit on any ancestor
            folder = CGROUP / path.lstrip("/")
            for at in (folder, *folder.parents):
                left.append(_left(at / "memory.max", at / "memory.current"))
                if at == CGROUP:
                    break
        elif "memory" in controllers.split(","):
            at = CGROUP / "memory" / path.lstrip("/")
            left.append(_left(at / "memory.limit_in_bytes", at / "memory.usage_in_bytes"))
    left = [n for n in left if n is not None]
    return min(left) if left else None


def _left(limit_file: Path, usage_file: Path) -> int | None:
    try:
        limit = limit_file.read_text().strip()
        if limit == "max" or int(limit) >= 1 << 60:  # (v1 says "no limit" with a huge number)
            return None
        return max(int(limit) - int(usage_file.read_text().strip() or 0), 0)
    except (OSError, ValueError):
        return None


def check_fits(estimate: int, what: str, key: tuple, fix: str = "use a smaller file") -> None:
    """InvalidValue (naming the estimate, the memory available and what bounds it) when `what` would not fit."""
    bounds = limits()
    by = min(bounds, key=bounds.get)
    available = bounds[by]
    if estimate > SHARE * available:
        raise InvalidValue(key, f"{what} needs about {_gb(estimate)} of memory once loaded, and "
                                f"{_gb(available)} is available ({by}); {fix} or a machine with more memory")


def check_matrix(rows: int, width: int, encoder) -> None:
    """The inputs matrix a table becomes (and its split copies), estimated and checked against the memory there is."""
    sequence = encoder is not None and encoder.mode == "sequence"
    what = f"{width:,} token ids" if sequence else f"{width:,} inputs"
    how = f" (text as: {encoder.mode})" if encoder else ""
    key = ("data", "text", "length" if sequence else "vocabulary") if encoder else ("data", "path")
    fix = "use a shorter text length" if sequence else "use a smaller vocabulary" if encoder else "use fewer columns"
    check_fits(rows * width * (8 if sequence else 4) * 2, f"the {rows:,} rows as {what} each{how}", key, fix)


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"
