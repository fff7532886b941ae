"""Static checks before any data is loaded: shapes layer by layer, and loss against task."""

from __future__ import annotations

from dlpipe.config import CrossEntropyLoss
from dlpipe.data import sample_shape, target_size
from dlpipe.loader import Loaded
from dlpipe.model import ShapeError, Summary, build_model, check_output

REGRESSION_LOSSES = "mse, l1 or huber"


def check_pipeline(loaded: Loaded) -> Summary:
    """Build the model on the data's sample shape; raise PipelineError pointing at the culprit."""
    pipeline = loaded.pipeline
    if pipeline.task == "regression" and isinstance(pipeline.loss, CrossEntropyLoss):
        raise loaded.error_at(("loss",), f"cross_entropy is for classification, but data source "
                                         f"'{pipeline.data.type}' is a regression; use {REGRESSION_LOSSES}")
    try:
        _, summary = build_model(pipeline.model, sample_shape(pipeline.data))
        check_output(summary, target_size(pipeline.data))
    except ShapeError as exc:
        raise loaded.error_at(("model", "layers", exc.index), str(exc)) from None
    return summary
