"""Data-parallel runs on PyTorch's own engine: torch.distributed, launched by torchrun.

`dlpipe run --nproc N FILE` starts N local workers through torch.distributed.run;
`torchrun --nnodes ... -m dlpipe run FILE` does the same across machines. Every
worker loads the same data and draws the same permutation each epoch; each global
batch (training.batch_size) is split across the ranks (rank r takes every world-th
sample), DistributedDataParallel averages the gradients, so one step sees the whole
global batch, as a single process would. Validation and test predictions are
gathered from all ranks, so every metric is over the full split.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

from dlpipe.engine.evaluate import predict

TIMEOUT_S = 60  # a collective waiting longer than this for a dead or stuck peer fails instead of hanging


@dataclass(frozen=True)
class World:
    """This process's place in a distributed run."""

    rank: int
    size: int
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> World | None:
    """The world torchrun describes in the environment; None for a single-process run."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    return World(int(os.environ["RANK"]), size, backend)


def start(world: World) -> None:
    """Join the process group (gloo on CPU, nccl on CUDA), with a timeout so a dead peer cannot hang us."""
    if world.backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(world.backend, timeout=timedelta(seconds=TIMEOUT_S))


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


LAUNCHED = "DLPIPE_LAUNCHED"  # set for workers that `dlpipe run --nproc` started (see launch)


def launch(nproc: int, argv: list[str]) -> int:
    """Run `dlpipe argv` as `nproc` local workers under torch.distributed.run; the run's exit code.

    torchrun runs in a session of its own, so a Ctrl-C at the terminal (or a signal to the
    process group) reaches this launcher only; the launcher forwards SIGINT and SIGTERM to
    the workers themselves, not to torchrun's agent (which would tear them down mid-batch).
    The workers then stop together after the current batch, as one process does, and a
    worker that stopped for a signal exits 0 so that torchrun ends quietly; the launcher
    returns 130. If the launcher dies, the kernel sends torchrun SIGTERM (PR_SET_PDEATHSIG),
    which ends the workers: none outlives it.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "--max-restarts=0", "-m", "dlpipe", *argv]
    process = subprocess.Popen(command, start_new_session=True, env={**os.environ, LAUNCHED: "1"},
                               preexec_fn=_end_with_parent)
    forwarded: list[int] = []

    def forward(signum, frame) -> None:
        forwarded.append(signum)
        for pid in _children(process.pid):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 130 if forwarded else code


def _children(pid: int) -> list[int]:
    """The direct children of a process (torchrun's workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def _end_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent (the launcher) dies (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around the model: gradients are averaged over the ranks in backward."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def any_rank(*flags: bool) -> list[bool]:
    """Each flag, true if it is true on any rank (stop requests, a non-finite loss): ranks must agree."""
    tensor = torch.tensor([float(f) for f in flags])
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


def total(*values: float) -> list[float]:
    """Sums over the ranks (per-epoch training loss and sample counts)."""
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather(local: torch.Tensor, n: int, world: World) -> torch.Tensor:
    """Reassemble the full split from strided shards (rank r holds rows r, r+world, ...)."""
    size = -(-n // world.size)
    padded = local.new_zeros((size, *local.shape[1:]))
    padded[:len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    full = local.new_empty((n, *local.shape[1:]))
    for rank, part in enumerate(parts):
        full[rank::world.size] = part[:len(range(rank, n, world.size))]
    return full


def weights_agree(model: nn.Module) -> bool:
    """Whether every rank ends with bit-identical weights (what data parallelism promises)."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digests: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(digests, digest.hexdigest())
    return len(set(digests)) == 1


class Ranks:
    """This rank's part of a distributed run, with the methods of engine.local.Local.

    Each global batch is split across the ranks (rank r takes every world-th sample of it);
    the ranks agree after every batch on stopping, and sum their losses and counts per epoch.
    """

    def __init__(self, world: World):
        self.world = world

    def unwrap(self, model: nn.Module) -> nn.Module:
        return model.module  # evaluation needs no gradient sync

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return gather(predict(model, x[self.world.rank::self.world.size]), len(x), self.world)

    def _shares(self, n: int, order: torch.Tensor | None, batch_size: int, device) -> Iterator[torch.Tensor]:
        idx = order if order is not None else torch.arange(n, device=device)
        for lo in range(0, n, batch_size):
            yield idx[lo:lo + batch_size][self.world.rank::self.world.size]

    def batches(self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor | None, batch_size: int
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in self._shares(len(x), order, batch_size, x.device):
            yield x.index_select(0, idx), y.index_select(0, idx)

    def no_sync(self, model: nn.Module):
        """A batch accumulated before the step: DDP holds its gradient all-reduce until the step's last batch."""
        return model.no_sync()

    def agree(self, halt: bool, bad: bool) -> list[bool]:
        return any_rank(halt, bad)  # every rank stops at the same batch, or none does

    def total(self, *values: float) -> list[float]:
        return total(*values)

    def targets(self, y: torch.Tensor, order: torch.Tensor | None, seen: int, batch_size: int) -> torch.Tensor:
        """The targets of this rank's share of the first batches, in the order it trained on them."""
        return y.index_select(0, torch.cat(list(self._shares(len(y), order, batch_size, y.device)))[:seen])
