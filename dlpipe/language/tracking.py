"""The `tracking:` section (torch-free): where a run is also logged besides its archive, MLflow and TensorBoard.

The archive stays the record: a tracker that cannot be reached or written is a warning,
never a failed run. The trackers themselves live in dlpipe/tracking/, imported only when
a pipeline asks for one.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from dlpipe.language.files import beside_pipeline
from dlpipe.language.section import Section


class MLflowTracking(Section):
    """An MLflow tracking server or store: params, every epoch's metrics, test metrics, the run's files."""

    uri: str | None = Field(None, min_length=1, description=(
        "The tracking URI (http://host:5000, sqlite:///mlflow.db); default: $MLFLOW_TRACKING_URI, else MLflow's own "
        "default (MLflow 3: sqlite:///mlflow.db in the current folder). Give credentials in "
        "MLFLOW_TRACKING_USERNAME/PASSWORD, not in the URI: the archive masks a password written here."))
    experiment: str | None = Field(None, min_length=1, max_length=500, description=(
        "The MLflow experiment (created when missing); default: the pipeline's name."))


class TensorBoardTracking(Section):
    """TensorBoard event files: every epoch's scalars and, at the end, the hyperparameters with the test metrics."""

    dir: str = Field("tensorboard", min_length=1, description=(
        "The log folder, relative to this pipeline file; each run writes DIR/<name>/<run stamp>/ "
        "(`tensorboard --logdir DIR`)."))

    @field_validator("dir", mode="after")
    @classmethod
    def _relative_to_pipeline(cls, value: str, info: ValidationInfo) -> str:
        return beside_pipeline(value, info)


class Tracking(Section):
    """Experiment trackers the run is logged to, besides its archive; each optional."""

    mlflow: MLflowTracking | None = Field(None, description="Log to MLflow: {uri: URI, experiment: NAME}.")
    tensorboard: TensorBoardTracking | None = Field(None, description="Write TensorBoard event files: {dir: DIR}.")
