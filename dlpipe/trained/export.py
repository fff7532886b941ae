"""`dlpipe export`: the trained network as ONNX, TorchScript or safetensors, verified before it is reported.

The exported graph starts with the stored normalization (raw inputs in: feature values,
one-hot columns, or pixels 0..255) and, for a regression, ends with the target's scaling
(values out in its own units); a classifier's ends with a softmax (probabilities out, to which the run's
decision threshold applies). Beside the file, preprocessing.json gives the input name and shape, the
encoding, the class names and the threshold.
Each export is loaded back (onnxruntime, torch.jit.load, safetensors) and run on 100 test
samples; if its outputs differ from the run's model by more than 1e-5 (relative to the
largest output), the file is removed and ExportError names the largest difference.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from dlpipe.archive.files import write_new
from dlpipe.archive.guard import writable
from dlpipe.data.preprocess import Preprocessing
from dlpipe.trained.describe import describe
from dlpipe.trained.model import TrainedModel

EXTRA = "pip install 'dlpipe[export]'  (in a checkout: pip install -e '.[export]')"
TOLERANCE = 1e-5
SAMPLES = 100


class ExportError(Exception):
    """An export that could not be made or did not verify; nothing is left behind. code: the command's exit code
    (2: refused before anything ran, 1: it failed)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class Deployable(nn.Module):
    """The network between the stored normalization (first op) and the target's scaling (last op).

    fill: for a table trained with missing: mean, what an empty (NaN) input becomes, per input column, as in
    training; otherwise None and a NaN input gives a NaN output (the run refused or dropped such rows).
    """

    def __init__(self, network: nn.Module, mean: torch.Tensor, std: torch.Tensor, out_mean: float, out_std: float,
                 fill: torch.Tensor | None = None, ids: bool = False, probabilities: bool = False):
        super().__init__()
        self.network = network
        self.ids = ids  # token ids (a sequence model): passed on as they are
        self.probabilities = probabilities  # a classifier: softmax, the last op (a threshold applies to them)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("out_mean", torch.tensor(out_mean, dtype=torch.float32))
        self.register_buffer("out_std", torch.tensor(out_std, dtype=torch.float32))
        self.fills = fill is not None
        if fill is not None:
            self.register_buffer("fill", fill)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ids:
            out = self.network(x)
        else:
            if self.fills:
                x = torch.where(torch.isnan(x), self.fill, x)
            out = self.network((x - self.mean) / self.std)
        return out.softmax(dim=1) if self.probabilities else out * self.out_std + self.out_mean


def deployable(model: TrainedModel) -> Deployable:
    """The run's network with its preprocessing folded in, in eval mode."""
    prep = model.preprocessing
    mean, std = raw_scale(prep)
    out_mean, out_std = prep.target_scale if model.task == "regression" else (0.0, 1.0)
    fill = None
    if prep.kind == "table" and prep.missing == "mean" and not prep.sequence:
        text = [0.0] * len(prep.text.input_names if prep.text else [])
        fill = torch.tensor([f for c in prep.columns for _, _, f in c.raw_scales] + text,
                            dtype=torch.float32).view(1, -1)
    return Deployable(model.torch_module, mean, std, out_mean, out_std, fill, ids=prep.sequence,
                      probabilities=model.task == "classification").eval()


def raw_scale(prep: Preprocessing) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) that turn a raw input into the model's: per input column, per feature, or per channel x 255."""
    shape = prep.sample_shape
    if prep.kind == "table":  # categories and text (counts, tf-idf or token ids) go in as they are
        text = len(prep.text.input_names) if prep.text else 0
        mean = [m for c in prep.columns for m, _, _ in c.raw_scales] + [0.0] * text
        std = [s for c in prep.columns for _, s, _ in c.raw_scales] + [1.0] * text
        view = (1, -1)
    elif prep.kind == "images":
        mean = [m * 255 for m in (prep.mean or (0.0,) * shape[0])]
        std = [s * 255 for s in (prep.std or (1.0,) * shape[0])]
        view = (1, -1, 1, 1)
    elif prep.kind == "series":  # (N, window, channels): one mean and std per channel
        mean, std, view = list(prep.mean), list(prep.std), (1, 1, -1)
    else:
        mean, std = list(prep.mean or (0.0,)), list(prep.std or (1.0,))
        view = (1, -1) + (1,) * (len(shape) - 1) if len(shape) > 1 else (1, -1)
    return (torch.tensor(mean, dtype=torch.float32).view(view), torch.tensor(std, dtype=torch.float32).view(view))


def export_run(model: TrainedModel, fmt: str, output: Path | None = None, force: bool = False
               ) -> tuple[Path, Path, float]:
    """Export to `output` (default RUN/exports/model.EXT), verified on the run's first 100 test samples.

    Nothing existing is replaced without force, nothing inside a run directory is touched (but its own
    exports/ folder), and the file appears only once it has verified (written beside, then renamed).
    """
    default = model.path / "exports" / f"model{FORMATS[fmt].suffix}"
    output = Path(output) if output is not None else default
    beside = output.with_name("preprocessing.json") if output == default else \
        output.with_name(output.name + ".preprocessing.json")  # never the user's own preprocessing.json
    shared = beside.parent == default.parent  # exports/preprocessing.json describes every format: it is merged
    for path, replace in ((output, force), (beside, force or shared)):
        if (why := writable(path, replace, allowed=model.path / "exports")) is not None:
            raise ExportError(why)
    test = _test_sample(model)
    mean, std = raw_scale(model.preprocessing)
    raw = test if model.preprocessing.sequence else test * std + mean  # back to raw inputs (token ids already are)
    data, difference = export(model, fmt, raw)
    existed = output.exists()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_new(output, data, replace=force)
        write_new(beside, describe(model, fmt, output, beside), replace=force or shared)
    except OSError as exc:
        if not existed:  # a model without its description is no export: the next one needs no --force
            output.unlink(missing_ok=True)
        left = "the file it replaced is gone (--force)" if existed else "nothing was left half-written"
        raise ExportError(f"cannot write {output}: {exc.strerror or exc}; {left}", 1) from None
    return output, beside, difference


_SAMPLES_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a model's test sample, read once


def _test_sample(model: TrainedModel) -> torch.Tensor:
    """The run's first SAMPLES test inputs, which every export of this model is verified on (the data read once
    for all the formats: a text run's corpus takes seconds to read and encode)."""
    if model not in _SAMPLES_OF:
        from dlpipe.data.sources import load_data

        _SAMPLES_OF[model] = load_data(model.pipeline.data, model.pipeline.seed).test.x[:SAMPLES]
    return _SAMPLES_OF[model]


def export(model: TrainedModel, fmt: str, raw: torch.Tensor) -> tuple[bytes, float]:
    """The exported file's bytes, verified: loaded back as a user would and run on `raw` against the run's model.

    Everything happens in memory, so a full disk or a failing exporter can leave no file behind (torch's
    C++ writer aborted the interpreter on a full disk); ExportError says why in one line.
    """
    wrapped = deployable(model)
    with torch.inference_mode():
        expected = wrapped(raw).numpy()
    form = FORMATS[fmt]
    absent = [name for name in form.packages if importlib.util.find_spec(name) is None]
    if absent:
        raise ExportError(f"{fmt} export needs the {', '.join(form.packages)} package(s) ({', '.join(absent)} "
                          f"missing): {EXTRA}")
    try:
        data = form.write(wrapped, raw)
        got = _load_and_run(model, fmt, data, raw)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - an exporter failure is one line
        raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}", 1) from None
    difference = float(np.abs(got - expected).max() / max(float(np.abs(expected).max()), 1e-12))
    if not difference <= TOLERANCE:
        raise ExportError(f"the {fmt} model's outputs differ from the run's by up to {difference:.3g} (relative; "
                          f"allowed {TOLERANCE:g}); nothing was written", 1)
    return data, difference


def _onnx(wrapped: Deployable, raw: torch.Tensor) -> bytes:
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # it prints its steps and warns
        warnings.simplefilter("ignore")
        program = torch.onnx.export(wrapped, (raw[:2],), input_names=["input"], output_names=["output"],
                                    dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True, verbose=False)
    return program.model_proto.SerializeToString()


def _torchscript(wrapped: Deployable, raw: torch.Tensor) -> bytes:
    # torch.jit is deprecated upstream (in favour of torch.export) but still what C++ and mobile runtimes load.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # torch's own LSTM/GRU shape checks warn while traced; the trace is verified on another batch size below
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapped, raw[:2])
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _safetensors(wrapped: Deployable, raw: torch.Tensor) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in wrapped.state_dict().items()})


def _run_onnx(model: TrainedModel, data: bytes, raw: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": raw.numpy()})[0]


def _run_torchscript(model: TrainedModel, data: bytes, raw: torch.Tensor) -> np.ndarray:
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(io.BytesIO(data)).eval()(raw).numpy()


def _run_safetensors(model: TrainedModel, data: bytes, raw: torch.Tensor) -> np.ndarray:
    from safetensors.torch import load

    rebuilt = deployable(TrainedModel(model.path, any_status=True))
    rebuilt.load_state_dict(load(data))
    with torch.inference_mode():
        return rebuilt(raw).numpy()


@dataclass(frozen=True)
class Format:
    """An export format: its file suffix, the packages it needs (the export extra), its bytes, and how a user
    loads those back and runs them (the verification)."""

    suffix: str
    packages: tuple[str, ...]
    write: Callable[[Deployable, torch.Tensor], bytes]
    run: Callable[[TrainedModel, bytes, torch.Tensor], np.ndarray]


# The export formats: `dlpipe export --format` offers these names.
FORMATS = {
    "onnx": Format(".onnx", ("onnx", "onnxscript", "onnxruntime"), _onnx, _run_onnx),
    "torchscript": Format(".torchscript.pt", (), _torchscript, _run_torchscript),
    "safetensors": Format(".safetensors", ("safetensors",), _safetensors, _run_safetensors),
}


def _load_and_run(model: TrainedModel, fmt: str, data: bytes, raw: torch.Tensor) -> np.ndarray:
    """The exported file loaded back the way a user would, run on `raw` (a batch size it was not traced with)."""
    return FORMATS[fmt].run(model, data, raw)
