"""A trained run, loaded back: its network rebuilt from model.pt, its stored preprocessing applied to new inputs.

model.pt is read with torch.load(weights_only=True): tensors and plain values only,
never arbitrary objects. The pipeline stored in it must still validate and the weights
must fit the network built from it; otherwise LoadError says which and why.
"""

from __future__ import annotations

import difflib
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from dlpipe.archive.record import RunRecord
from dlpipe.archive.runs import find_run, list_runs
from dlpipe.data.preprocess import Preprocessing
from dlpipe.engine.evaluate import predict as batched_predict
from dlpipe.engine.threshold import decide
from dlpipe.engine.threshold import of as threshold_of
from dlpipe.language.errors import InvalidValue
from dlpipe.language.pipeline import Pipeline, pipeline_model
from dlpipe.model.layers import Facts
from dlpipe.model.network import build_model
from dlpipe.trained.errors import InputError, InputNote, LoadError
from dlpipe.trained.inputs import model_inputs


def find(ref: str | Path, out: str | Path = "reports") -> Path:
    """The run directory for RUN (a path, name/stamp, a stamp prefix or a name); LoadError naming the closest runs."""
    out = Path(out)
    try:
        return find_run(out, str(ref))
    except LookupError as exc:
        refs = [r.ref for r in list_runs(out)] if out.is_dir() else []
        names = list(dict.fromkeys(ref.split("/")[0] for ref in refs))
        close = difflib.get_close_matches(str(ref), names + refs, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise LoadError(f"{exc}{hint}") from None


def check_completed(run_dir: Path) -> None:
    """LoadError unless the run completed: a diverged, failed, interrupted or pruned run's weights are no answer.

    The message names the newest completed run of the same pipeline, if there is one, and how to use this one anyway.
    """
    try:
        status = RunRecord.read(run_dir, with_history=False).status
    except (OSError, ValueError) as exc:
        status, why = "unknown", f" (its metrics.json: {exc})"
    else:
        why = ""
    if status == "completed":
        return
    root = run_dir.parent.parent
    other = next((r for r in list_runs(root, run_dir.parent.name) if r.status == "completed"), None)
    instead = (f"; the newest completed run of {run_dir.parent.name} is {other.ref}: give that instead" if other
               else f"; {run_dir.parent.name} has no completed run")
    raise LoadError(f"{run_dir}: the run is {status}{why}, so its weights are not a trained model's{instead}, or "
                    "allow this run explicitly (--any-status; any_status=True in Python)")


class TrainedModel:
    """A run's network and preprocessing, ready for predictions (Keras-like: predict, predict_proba).

    any_status: use a run that did not complete (diverged, interrupted, pruned, failed); refused otherwise.
    """

    def __init__(self, run_dir: str | Path, any_status: bool = False):
        self.path = Path(run_dir)
        if not any_status:
            check_completed(self.path)
        file = self.path / "model.pt"
        if not file.is_file():
            raise LoadError(f"{self.path}: no model.pt; the run ended before its first epoch finished, so it has "
                            "no weights (see its run.log)")
        try:
            with warnings.catch_warnings():  # torch's remarks on a foreign file's pickle protocol: not the user's
                warnings.simplefilter("ignore")
                saved = torch.load(file, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError:  # torch's own text then suggests weights_only=False: never to be followed
            raise LoadError(f"{file}: holds objects other than tensors and plain values, which dlpipe never loads "
                            "(it would run code); this is not a model.pt that dlpipe wrote") from None
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: one clear line
            raise LoadError(f"{file}: cannot be read as a dlpipe model ({type(exc).__name__}: "
                            f"{(str(exc).strip().splitlines() or [''])[0]})") from None
        if not isinstance(saved, dict):
            raise LoadError(f"{file}: holds a {type(saved).__name__}, not a dlpipe model")
        self.pipeline = _pipeline(saved, file)
        if not saved.get("preprocessing"):
            raise LoadError(f"{file}: made by a dlpipe without stored preprocessing; run the pipeline again to use it")
        try:
            self.preprocessing = Preprocessing.from_json(saved["preprocessing"])
        except ValueError as exc:
            raise LoadError(f"{file}: its stored preprocessing {exc}") from None
        try:
            self.torch_module, self.summary = build_model(self.pipeline.model, self.preprocessing.sample_shape,
                                                             Facts(self.preprocessing.vocabulary))
            self.torch_module.load_state_dict(saved["state_dict"])
        except (RuntimeError, KeyError, TypeError, InvalidValue) as exc:
            raise LoadError(f"{file}: the weights do not fit the network its pipeline describes "
                            f"({str(exc).splitlines()[0]})") from None
        outputs = self.summary.rows[-1].output_shape
        if self.task == "classification" and outputs != (len(self.classes),):
            raise LoadError(f"{file}: the network gives {outputs} outputs for {len(self.classes)} classes")
        self.torch_module.eval()

    @property
    def task(self) -> str:
        return self.preprocessing.task

    @property
    def classes(self) -> tuple[str, ...]:
        return self.preprocessing.classes

    def outputs(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Raw network outputs (logits, or standardized regression values) for model-ready inputs.

        InputError when an output is not a finite number: no answer is better than a wrong one.
        """
        chunks = [batched_predict(self.torch_module, x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        out = torch.cat(chunks).float() if chunks else torch.empty(0)
        bad = (~torch.isfinite(out.reshape(len(out), -1))).any(dim=1).nonzero().flatten().tolist()
        if bad:
            rows = ", ".join(str(r + 1) for r in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise InputError(f"the model's output for row(s) {rows} is not a finite number (inf or NaN): no answer "
                             "is given for inputs this far from what it was trained on")
        return out

    def inputs(self, data) -> torch.Tensor:
        """Model-ready inputs from rows (a DataFrame, dict of columns or list of dicts), an array or a tensor.

        What dlpipe fills in, leaves out or encodes as unseen is said as an InputNote warning (row, column, value).
        """
        notes: list[str] = []
        x = model_inputs(self.preprocessing, data, notes)
        for note in notes:
            warnings.warn(note, InputNote, stacklevel=3)
        return x

    def predict(self, data, batch_size: int = 1000) -> np.ndarray:
        """Predictions: values in the target's own units (regression), or class names (classification)."""
        out = self.outputs(self.inputs(data), batch_size)
        if self.task == "classification":  # at the run's decision threshold, when it has one
            return np.asarray(self.classes, dtype=object)[decide(out, threshold_of(self.preprocessing,
                                                                                  tuple(self.classes))).numpy()]
        values = self.preprocessing.targets_out(out.numpy())
        return values[:, 0] if values.shape[1] == 1 else values

    def predict_proba(self, data, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities (rows sum to 1, columns in the order of .classes); classifiers only."""
        if self.task != "classification":
            raise ValueError(f"predict_proba is for classifiers; this run is a {self.task} (use predict)")
        return self.outputs(self.inputs(data), batch_size).softmax(dim=1).numpy()

    def __repr__(self) -> str:
        return f"TrainedModel({str(self.path)!r}, task={self.task}, inputs={self.preprocessing.sample_shape})"

    def _repr_html_(self) -> str:
        from html import escape

        classes = f"<br>classes: {escape(', '.join(self.classes))}" if self.classes else ""
        return (f"<div><b>dlpipe model</b> {escape(str(self.path))}<br>{self.task}, input "
                f"{self.preprocessing.sample_shape}, {self.summary.total_params:,} parameters{classes}</div>")


def _pipeline(saved: dict, file: Path) -> Pipeline:
    """The stored pipeline, validated by today's rules; LoadError when it no longer is valid."""
    try:
        return pipeline_model().model_validate(saved["pipeline"])
    except (ValidationError, KeyError, TypeError) as exc:
        raise LoadError(f"{file}: its stored pipeline no longer validates ({str(exc).splitlines()[0]}); "
                        "run the pipeline again with this version of dlpipe") from None

