"""One process holds every training sample: its batches, and nothing to agree on with anyone.

`Local` is what the training loop and evaluation call in a single-process run;
`Ranks` in engine/distributed.py has the same methods for a torch.distributed run,
so neither the loop nor evaluation branches on being distributed.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Iterator

import torch
from torch import nn

from dlpipe.engine.evaluate import predict

CHUNK_BYTES = 256 << 10  # small batches are gathered this many bytes at a time (see batches)


class Local:
    """A single-process run: every sample is this process's, nothing to agree on with anyone.

    The distributed counterpart (engine/distributed.Ranks) has the same methods; the
    training loop and evaluation call them and never branch on being distributed.
    """

    def unwrap(self, model: nn.Module) -> nn.Module:
        return model

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return predict(model, x)

    def batches(self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor | None, batch_size: int
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch's batches, in `order` (None: as stored).

        Shuffled batches are gathered with index_select (for an MNIST batch of 128: 8 us, against
        22 us for x[idx]). Where a batch is much smaller than CHUNK_BYTES (the synthetic
        regressions), several batches are gathered at once and each is a view into the chunk.
        """
        n = len(x)
        if order is None:
            for lo in range(0, n, batch_size):
                yield x[lo:lo + batch_size], y[lo:lo + batch_size]
            return
        per_gather = max(1, CHUNK_BYTES // max(1, x.element_size() * x.numel() // max(n, 1) * batch_size))
        for start in range(0, n, per_gather * batch_size):
            idx = order[start:start + per_gather * batch_size]
            xs, ys = x.index_select(0, idx), y.index_select(0, idx)
            if per_gather == 1:
                yield xs, ys
                continue
            for lo in range(0, len(idx), batch_size):
                yield xs[lo:lo + batch_size], ys[lo:lo + batch_size]

    def no_sync(self, model: nn.Module):
        """A batch whose gradients are accumulated, not yet stepped: nothing to hold back in one process."""
        return nullcontext()

    def agree(self, halt: bool, bad: bool) -> tuple[bool, bool]:
        return halt, bad

    def total(self, *values: float) -> tuple[float, ...]:
        return values

    def targets(self, y: torch.Tensor, order: torch.Tensor | None, seen: int, batch_size: int) -> torch.Tensor:
        """The targets of the first `seen` training samples of this epoch, in the order they were trained on."""
        return y[:seen] if order is None else y.index_select(0, order[:seen])


