"""dlpipe steps torch.optim's own optimizers without importing the compiler: bit for bit the same numbers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from dlpipe.engine.optim import OPTIMIZER_BUILDERS, build_optimizer
from dlpipe.language.optim import OPTIMIZERS, SCHEDULERS
from dlpipe.language.section import tags

from conftest import ROOT, TINY_SINE

# Settings that take every branch of each update (momentum, Nesterov, weight decay, Adam's bias correction).
SETTINGS = {"sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1.0e-3},
            "adam": {"lr": 1.0e-2, "weight_decay": 1.0e-3}, "adamw": {"lr": 1.0e-2},
            "rmsprop": {"lr": 1.0e-3, "momentum": 0.5, "weight_decay": 1.0e-4}}


def test_every_registered_optimizer_is_covered():
    assert {tags(cls)[0] for cls in OPTIMIZERS} == set(SETTINGS) and set(OPTIMIZER_BUILDERS) == set(OPTIMIZERS)


def _network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def _train(optimizer: torch.optim.Optimizer, model: nn.Module, steps: int = 25) -> None:
    data = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 5, generator=data)
        optimizer.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_each_optimizer_equals_torch_optim_bit_for_bit(name, fused):
    config = next(cls for cls in OPTIMIZERS if tags(cls)[0] == name)(type=name, **SETTINGS[name])
    ours_model, theirs_model = _network(), _network()
    ours = build_optimizer(config, ours_model.parameters(), fused=fused)
    torch_class = type(ours).TORCH
    assert isinstance(ours, torch_class) and torch_class.__module__.startswith("torch.optim")
    options = {k: v for k, v in ours.defaults.items() if k in torch_class.__init__.__code__.co_varnames}
    theirs = torch_class(theirs_model.parameters(), **options)  # what a plain torch loop builds
    _train(ours, ours_model)
    _train(theirs, theirs_model)
    for mine, reference in zip(ours_model.parameters(), theirs_model.parameters()):
        assert torch.equal(mine, reference)
    assert ours_model[0].weight.sub(_network()[0].weight).abs().max() > 1.0e-3  # it did train
    saved = ours.state_dict()  # a checkpoint's round trip continues exactly as torch's would
    again = build_optimizer(config, ours_model.parameters(), fused=fused)
    again.load_state_dict(saved)
    _train(again, ours_model, steps=5)
    theirs_again = torch_class(theirs_model.parameters(), **options)
    theirs_again.load_state_dict(theirs.state_dict())
    _train(theirs_again, theirs_model, steps=5)
    assert all(torch.equal(a, b) for a, b in zip(ours_model.parameters(), theirs_model.parameters()))


@pytest.mark.parametrize("scheduler", [tags(cls)[0] for cls in SCHEDULERS])
def test_no_optimizer_or_schedule_imports_the_compiler(scheduler):
    """In a fresh interpreter: build, step, schedule and checkpoint each optimizer; torch._dynamo stays out."""
    code = f"""
import sys, torch
from torch import nn
from dlpipe.engine.optim import build_optimizer
from dlpipe.engine.schedule import LRSchedule
from dlpipe.language.optim import OPTIMIZERS, SCHEDULERS
from dlpipe.language.section import tags
settings = {SETTINGS!r}
cls = next(c for c in SCHEDULERS if tags(c)[0] == {scheduler!r})
fields = {{"onecycle": {{"max_lr": 0.01}}, "step": {{"step_size": 1}}, "multistep": {{"milestones": [1]}}}}.get({scheduler!r}, {{}})
for config in OPTIMIZERS:
    name = tags(config)[0]
    model = nn.Linear(3, 2)
    optimizer = build_optimizer(config(type=name, **settings[name]), model.parameters(), fused=name.startswith("adam"))
    schedule = LRSchedule(cls(type={scheduler!r}, **fields), optimizer, 3, 2)
    for epoch in (1, 2):
        schedule.start_epoch(epoch)
        for _ in range(2):
            optimizer.zero_grad(set_to_none=True)
            model(torch.randn(4, 3)).sum().backward()
            optimizer.step()
            schedule.after_batch()
        schedule.end_epoch(epoch, {{"val_loss": 1.0, "epoch": epoch}})
    optimizer.load_state_dict(optimizer.state_dict())
print("torch._dynamo" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "False"


def test_a_whole_run_never_imports_the_compiler(write_yaml, tmp_path):
    code = (f"import sys, dlpipe; dlpipe.run({str(write_yaml(TINY_SINE))!r}, out={str(tmp_path)!r}, quiet=True); "
            "print(sorted(m for m in sys.modules if m.startswith(('torch._dynamo', 'sympy')))[:3])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr[-3000:]


def test_the_run_command_never_imports_the_compiler(write_yaml, tmp_path):
    """The command as users type it (it leaves without interpreter teardown): -X importtime lists each import."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "dlpipe", "run", str(write_yaml(TINY_SINE)),
                           "--out", str(tmp_path), "-q"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "import time:" in done.stderr and " torch.nn\n" in done.stderr
    assert "torch._dynamo" not in done.stderr and "sympy" not in done.stderr
