"""preprocessing.json beside an export: what the exported model takes in, in which shape, and what it gives out."""

from __future__ import annotations

import json
from pathlib import Path

from dlpipe.trained.model import TrainedModel

# What the exported model does with an empty cell (NaN in a numeric input column), by the run's missing: policy.
EMPTY_CELLS = {
    "error": "NaN in, NaN out: the run refused rows with empty cells (missing: error); dlpipe predict refuses them too",
    "drop": "NaN in, NaN out: the run left rows with empty cells out (missing: drop); dlpipe predict leaves them out",
    "mean": "a NaN in a numeric column becomes its training mean inside the model (missing: mean), as in training; "
            "an empty or unseen category is all zeros in its one-hot columns",
}


_TEXT_MEANING = {
    "sequence": "token ids, int64, text.length per row: the text columns joined in text.columns order (id 2 between "
                "them), split into tokens as text.tokens says (lower-cased if text.lowercase), each token's id "
                "3 + its position in text.vocabulary (1 if it is not there), cut to text.length and padded with 0",
    "bag": "the other columns as for a table (input_columns), then one count per token of text.vocabulary: how "
           "often it occurs in the row's text columns, split into tokens as text.tokens says",
    "tfidf": "the other columns as for a table (input_columns), then per token of text.vocabulary its count in "
             "the row's text times text.idf, the text part scaled to unit length (L2)",
}


def describe(model: TrainedModel, fmt: str, output: Path, path: Path) -> str:
    """The description beside the file (`path`): what the input is, its shape, what the output means."""
    prep = model.preprocessing
    inputs = prep.input_names if prep.kind == "table" else None
    meaning = {"table": "one row per sample: numeric features as they are, true/false as 1/0, a date as its days "
                        "since 1970-01-01 then its weekday and month one-hot, categorical ones one-hot in the order "
                        "of input_columns",
               "images": "pixels 0..255 as float32, channels first", "arrays": "the raw arrays, as float32",
               "series": f"the last {prep.window} values of {', '.join(c.name for c in prep.columns)} in their own "
                         f"units, oldest first, one column each (float32); the output is {prep.target} "
                         f"{prep.horizon} step(s) after the last"}[prep.kind]
    if prep.text is not None:
        meaning = _TEXT_MEANING[prep.text.mode]
    try:
        earlier = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        earlier = {}
    earlier = earlier if isinstance(earlier, dict) else {}
    files = {**(earlier.get("export", {}).get("files", {}) if earlier.get("sample_shape") == list(prep.sample_shape)
                else {}), fmt: output.name}
    info = {**prep.to_json(), "export": {
        "files": files, "input": {"name": "input", "shape": ["batch", *prep.sample_shape],
                                  "dtype": "int64" if prep.sequence else "float32",
                                  "meaning": meaning, "input_columns": inputs,
                                  **({"empty_cells": EMPTY_CELLS[prep.missing]} if prep.kind == "table" else {})},
        "output": {"name": "output", "meaning": "probabilities, one per class in the order of classes (the graph's "
                                                "last op is a softmax)" + _decision(prep) if model.task == "classification"
                   else f"the predicted {prep.target or 'value'} in its own units"},
        "normalization": "onnx and torchscript: inside the model (its first op); safetensors: the buffers mean and "
                         "std, (input - mean) / std before the network"}}
    return json.dumps(info, indent=2) + "\n"


def _decision(prep) -> str:
    """How the run decides a class from the probabilities, when it has a decision threshold."""
    if prep.threshold is None:
        return "; the predicted class is the most probable"
    return (f"; the predicted class is {prep.positive!r} where its probability is at least {prep.threshold} (the "
            "run's decision threshold, as dlpipe predict applies it), else the other")
