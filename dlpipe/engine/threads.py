"""How many CPU threads training uses: as many as its work per step can use, no more than other programs leave
free, decided again as their load changes.

Why: a waiting OpenMP thread spins for its core. When another program holds that core the spin
and the work fight over it: on this 2-core machine with two busy programs, 100 epochs of the
house-price CSV trained in 29.8 s on 2 threads and 1.4 s on 1 (benchmarks/contention.py). And a
small network gains nothing from a second thread even on a quiet machine: below about
MFLOP_PER_THREAD million operations a step the hand-over costs more than the work it shares
(a 64-unit MLP on 32 rows: 0.17 ms a step on 1 thread, 0.18 on 2; 512 units on 128 rows: 2.4 ms
against 1.7). `training.threads` fixes the number and turns this off.

The load is read from /proc/stat (the CPUs this process may run on: a pinned sweep job or test
worker watches its own share) less this process's own CPU time (/proc/self/stat): what the
others use, in cores. It is looked at every CHECK_S seconds, at the end of a batch (the
thread count is per thread in OpenMP: only the training thread can set its own). Fewer threads at
once; more only when two looks in a row agree (no flapping). Elsewhere than Linux: the work decides.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import torch

# A thread per 20 million operations a training step. Where a second thread starts to pay
# (benchmarks/contention.py --crossover) moved between days on this shared 2-core machine: 7-20
# MFLOP on one, 33-65 on another (its cores faster alone); near the line either choice costs under 10 %.
MFLOP_PER_THREAD = 20.0
CHECK_S = 1.0  # seconds between two looks at the load
TAKEN = 0.25  # a core counts as taken once other programs use more than a quarter of it
CLOCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def step_mflop(rows, batch_size: int) -> float:
    """Million operations one training step costs, roughly: 6 per multiply-add of the forward pass (forward 2,
    backward 4); a linear layer's multiply-adds are its weights, a convolution's its weights at every output
    position, a sequence layer's its weights at every step (attention adds steps^2 x width). rows: the model
    summary's LayerRows."""
    macs = 0.0
    for row in rows:
        if row.kind.startswith("conv2d"):
            macs += row.params * math.prod(row.output_shape[1:])
        elif row.kind.startswith(("conv1d", "lstm", "gru", "transformer")):
            steps, width = row.output_shape
            macs += row.params * steps + (2 * steps * steps * width if row.kind.startswith("transformer") else 0)
        elif row.kind.startswith("linear"):
            macs += row.params
    return 6 * macs * batch_size / 1e6


def usable_cpus() -> frozenset[int]:
    """The CPUs this process may run on (its affinity: a pinned sweep job's or test worker's share)."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def _busy_ticks(cpus: frozenset[int]) -> tuple[int, int] | None:
    """(ticks `cpus` spent busy, ticks this process spent), or None where /proc does not say."""
    busy = 0
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                name, *values = line.split()
                if not name.startswith("cpu"):
                    break
                if name != "cpu" and int(name[3:]) in cpus:
                    ticks = [int(v) for v in values[:8]]
                    busy += sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)  # less idle and iowait
        with open("/proc/self/stat", encoding="ascii") as handle:
            mine = handle.read().rsplit(")", 1)[1].split()
        return busy, int(mine[11]) + int(mine[12])  # utime and stime of all our threads (all on `cpus`)
    except (OSError, ValueError, IndexError):
        return None


Sample = tuple[float, int, int]  # (perf_counter, busy ticks of the CPUs, this process's ticks)


def sample() -> Sample | None:
    """The counters now, to measure the load from (Threads.start)."""
    ticks = _busy_ticks(usable_cpus())
    return None if ticks is None else (time.perf_counter(), *ticks)


@dataclass
class Threads:
    """The run's thread count and why; call pace() after every batch.

    fixed: training.threads (never changed); cpus: the CPUs this process may use; mflop: its work a step.
    """

    fixed: int | None
    cpus: frozenset[int]
    mflop: float
    changes: list[str] = field(default_factory=list)  # what was decided and why, for run.log and the report
    current: int = 0
    _last: Sample | None = None
    _next: float = 0.0
    _rise: int = 0  # looks in a row that allowed more threads

    @property
    def cores(self) -> int:
        return len(self.cpus)

    @property
    def wanted(self) -> int:
        """The threads its work can use (without other programs)."""
        return self.fixed or max(1, min(self.cores, int(self.mflop // MFLOP_PER_THREAD)))

    def start(self, since: Sample | None = None, look_s: float = 0.1) -> int:
        """Set the first count: the work's, less the cores that others use now: since `since` (a sample() taken
        while the data loaded), or over a look of look_s when that is too recent."""
        if self.fixed:
            return self._set(self.fixed, f"{self.fixed} (training.threads)")
        work = f"{self.mflop:.3g} MFLOP a step"
        if self.wanted == 1:
            return self._set(1, f"1 ({work}: below {MFLOP_PER_THREAD:g} a second thread costs more than it saves)")
        self._last = since
        if since is None or time.perf_counter() - since[0] < look_s:
            self._look()
            time.sleep(look_s)
        others = self._look()
        free = self._free(others)
        if others is None or free >= self.wanted:
            return self._set(self.wanted, f"{self.wanted} ({work}, {self.cores} cores free)")
        return self._set(free, f"{free} ({work}; other programs use {others:.1f} of the {self.cores} cores)")

    def pace(self) -> None:
        """After a batch: every CHECK_S, follow the load (fewer threads at once, more after two looks agree)."""
        if self.fixed or self.wanted == 1:
            return
        now = time.perf_counter()
        if now < self._next:
            return
        others = self._look()
        if others is None:
            return
        target = self._free(others)
        self._rise = self._rise + 1 if target > self.current else 0
        if target < self.current or (target > self.current and self._rise >= 2):
            self._set(target, f"{target} (other programs use {others:.1f} of the {self.cores} cores)")

    def _free(self, others: float | None) -> int:
        if others is None:
            return self.wanted
        return max(1, min(self.wanted, self.cores - math.ceil(others - TAKEN)))

    def _look(self) -> float | None:
        """The cores other programs used since the last look (None at the first, or without /proc)."""
        ticks, now = _busy_ticks(self.cpus), time.perf_counter()
        self._next = now + CHECK_S
        if ticks is None:
            return None
        last, self._last = self._last, (now, *ticks)
        if last is None or now - last[0] < 0.05:
            return None
        elapsed_ticks = (now - last[0]) * CLOCK
        return max(0.0, ((ticks[0] - last[1]) - (ticks[1] - last[2])) / elapsed_ticks)

    def _set(self, count: int, why: str) -> int:
        if count != self.current:
            torch.set_num_threads(count)
            self.changes.append(why if not self.current else f"then {why}")
            self.current = count
        return count
