"""training.precision: fp16's gradient scaler steps as fp32 does (unscaled before clipping), fp16 is refused on a
CPU, and data moves to a GPU from pinned memory. (benchmarks/gpu_check.sh times each precision on a GPU.)"""

from __future__ import annotations

import copy

import pytest
import torch

from dlpipe.engine.train import Stepper
from dlpipe.language.pipeline import Training


def stepped(scaler: bool, clip: float | None) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    x, y = torch.randn(32, 8) * 10, torch.randn(32, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stepper = Stepper(model, optimizer, Training(clip_grad_norm=clip), lambda: None, torch.device("cpu"))
    if scaler:  # fp16's scaler, on the CPU here (the code path a GPU takes)
        stepper.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        stepper.backward(torch.nn.functional.mse_loss(model(x), y))
        stepper.step()
    return model


@pytest.mark.parametrize("clip", [None, 0.5])
def test_the_gradient_scaler_steps_as_plain_fp32_does_and_clips_unscaled_gradients(clip):
    plain, scaled = stepped(False, clip), stepped(True, clip)
    for a, b in zip(plain.parameters(), scaled.parameters()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)  # a scale of 2^10 and back is exact in float32


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: fp16 is allowed")
def test_fp16_is_refused_on_a_cpu_at_its_key(cli, write_yaml, tmp_path):
    from conftest import TINY_SINE

    done = cli("run", write_yaml(TINY_SINE), "--set", "training.precision=fp16", "--out", tmp_path)
    assert done.exit_code == 2 and "training.precision: fp16 needs a CUDA GPU" in done.stderr
    assert "use bf16 or fp32 there" in done.stderr and not (tmp_path / "tiny").exists()
