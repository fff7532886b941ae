"""Builders for the loss and the optimizer: config in, plain torch objects out, one table each.

Adding a loss or an optimizer: its config class in dlpipe/language/optim.py (listed in
LOSSES or OPTIMIZERS) and one row here.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from dlpipe.language.optim import SGD, Adam, AdamW, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, RMSprop

LOSS_BUILDERS: dict[type, Callable[..., nn.Module]] = {  # (config, class weights or None) -> the loss
    MSELoss: lambda c, w: nn.MSELoss(),
    L1Loss: lambda c, w: nn.L1Loss(),
    HuberLoss: lambda c, w: nn.HuberLoss(delta=c.delta),
    CrossEntropyLoss: lambda c, w: nn.CrossEntropyLoss(weight=w, label_smoothing=c.label_smoothing),
}


def class_weights(config, classes: tuple[str, ...], labels: torch.Tensor) -> torch.Tensor | None:
    """Each class's weight in the training loss: balanced (rows / (classes x the class's rows), a class without
    training rows 0), the mapping's (1 for a class it does not name), or None without class_weights."""
    given = getattr(config, "class_weights", None)
    if given is None:
        return None
    if given == "balanced":
        counts = torch.bincount(labels.long().cpu(), minlength=len(classes)).double()
        weights = torch.where(counts > 0, counts.sum() / (len(classes) * counts.clamp(min=1)), torch.zeros_like(counts))
        return weights.float()
    return torch.tensor([float(given.get(name, 1.0)) for name in classes])

def _raw(method: Callable) -> Callable:
    """A torch.optim method without its decorator (functools.wraps keeps the original as __wrapped__)."""
    return getattr(method, "__wrapped__", method)


class _NoCompiler:
    """torch.optim's own methods, called without the decorators that import torch._dynamo on first use.

    Why: in torch 2.13 constructing an optimizer, its first step, zero_grad and state_dict each import
    the compiler (torch._dynamo, with sympy) only to mark themselves "not compiled": 0.75 s of a 2 s
    start, for a run that never compiles (benchmarks/startup.py). The update is torch's own code, so the
    numbers are bit for bit torch.optim's (tests/test_optimizers.py); step runs under no_grad, as the
    decorator it skips would set (differentiable=False).
    """

    def add_param_group(self, param_group: dict) -> None:
        _raw(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _raw(torch.optim.Optimizer.zero_grad)(self, set_to_none)

    def state_dict(self) -> dict:
        return _raw(torch.optim.Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict: dict) -> None:
        _raw(torch.optim.Optimizer.load_state_dict)(self, state_dict)

    def step(self, closure=None):
        with torch.no_grad():
            return _raw(self.TORCH.step)(self, closure)


def without_compiler(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """`cls` (a torch.optim class) whose methods never import torch._dynamo; isinstance(x, cls) holds."""
    return type(cls.__name__, (_NoCompiler, cls), {"TORCH": cls, "__module__": __name__})


TorchSGD, TorchAdam, TorchAdamW, TorchRMSprop, TorchLBFGS = map(without_compiler, (
    torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.LBFGS))  # (LBFGS: baselines)

# fused=True uses Adam's and AdamW's single-kernel update (CPU and CUDA): measured here 14-17 % faster
# per step for the MNIST MLP and the sine MLP, same results up to rounding.
OPTIMIZER_BUILDERS: dict[type, Callable[..., torch.optim.Optimizer]] = {
    SGD: lambda c, params, fused: TorchSGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov,
                                           weight_decay=c.weight_decay),
    Adam: lambda c, params, fused: TorchAdam(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay,
                                             fused=fused or None),
    AdamW: lambda c, params, fused: TorchAdamW(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay,
                                               fused=fused or None),
    RMSprop: lambda c, params, fused: TorchRMSprop(params, lr=c.lr, alpha=c.alpha, momentum=c.momentum,
                                                   weight_decay=c.weight_decay),
}


def build_loss(config, weights: torch.Tensor | None = None) -> nn.Module:
    """The torch loss module for a loss config (mean over the batch); weights: each class's (class_weights), for
    the training loss only."""
    return LOSS_BUILDERS[type(config)](config, weights)


def build_optimizer(config, params: Iterable[nn.Parameter], fused: bool = False) -> torch.optim.Optimizer:
    """The torch optimizer for an optimizer config over `params` (fused: single-kernel update where it exists)."""
    return OPTIMIZER_BUILDERS[type(config)](config, params, fused)
