"""Where a run computes: the device (cuda, mps or cpu) and the CPU threads it starts with."""

from __future__ import annotations

import os

import torch

from dlpipe.engine import speed
from dlpipe.engine.distributed import World
from dlpipe.engine.threads import Threads, usable_cpus
from dlpipe.language.errors import InvalidValue
from dlpipe.language.pipeline import Training


def resolve_device(name: str) -> torch.device:
    """auto: cuda, else mps, else cpu; a named device this machine lacks is an InvalidValue."""
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    if (name == "cuda" and not torch.cuda.is_available()) or (name == "mps" and not mps):
        raise InvalidValue(("training", "device"), f"torch sees no {name} device on this machine; "
                                                   "use device: auto (or cpu)")
    return torch.device(name)


def training_device(training: Training) -> torch.device:
    """training.device resolved, and training.precision checked against it: fp16 needs CUDA (an InvalidValue)."""
    device = resolve_device(training.device)
    if training.precision == "fp16" and device.type != "cuda":
        raise InvalidValue(("training", "precision"), f"fp16 needs a CUDA GPU (float16 kernels and a gradient "
                                                      f"scaler); this run would train on {device.type}: use bf16 or "
                                                      "fp32 there")
    return device


def use_channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """Convert a convolutional network's weights to channels_last on the CPU or a CUDA GPU; True when it did.

    oneDNN's convolutions and max-pooling run on NHWC without reordering: the MNIST CNN's
    training step took 60 ms instead of 79 ms here (benchmarks/roofline.py --levers), with the
    same results up to float rounding; cuDNN's tensor-core convolutions prefer NHWC too (in
    half precision above all). The loop then feeds it NHWC batches (engine/train.py).
    """
    if device.type not in ("cpu", "cuda") or not any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        return False
    model.to(memory_format=torch.channels_last)
    return True


def place(training: Training, world: World | None, tune_process: bool) -> torch.device:
    """The device to train on (the CPU threads: threads_for, once the network's work per step is known)."""
    device = training_device(training)
    if world and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))  # one GPU per local rank
    if tune_process and device.type == "cpu":
        speed.tune_allocator()
    return device


def threads_for(training: Training, world: World | None, device: torch.device, mflop: float) -> Threads:
    """The run's CPU threads: training.threads if set; a distributed run's share of the cores per local worker
    (its ranks would read each other as load); otherwise as many as the work per step can use and other
    programs leave free, followed as their load changes (engine/threads.py)."""
    cpus = usable_cpus()
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if world else 1
    fixed = training.threads or (max(1, len(cpus) // local_ranks) if world or device.type != "cpu" else None)
    return Threads(fixed, cpus, mflop)
