"""The series source in the pipeline language (torch-free): values in time order, windows of the past in,
the value `horizon` steps ahead out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dlpipe.language.files import OwnFiles


class SeriesData(OwnFiles):
    """A time series in a CSV file: each sample is `window` past values (of `column` and any `features`), its
    target the value of `column` `horizon` steps after the last of them. The split is chronological: train,
    then validation, then test, `gap` samples left out at each boundary so no target is seen twice."""

    TASK = "regression"
    type: Literal["series"] = Field(description="A time series in a CSV table, one row per time step, in time order.")
    path: str = Field(description="The CSV file (.csv, .tsv, .txt, or gzip-compressed), relative to this pipeline.")
    column: str = Field(min_length=1, description="The column to forecast.")
    window: int = Field(ge=1, le=100_000, description="Past time steps each forecast sees.")
    horizon: int = Field(1, ge=1, le=100_000, description="How many steps after the window's last value to forecast.")
    features: list[str] = Field(default_factory=list, description=(
        "More columns whose past values are inputs too (their windows sit beside the column's)."))
    time: str | None = Field(None, min_length=1, description=(
        "A column giving each row's time (numbers or dates); it must increase row by row. It labels the report's "
        "plots and the forecasts of dlpipe predict."))
    gap: int | None = Field(None, ge=0, description=(
        "Samples left out between train and validation and between validation and test (default: horizon - 1, "
        "so no target of one split lies in another's)."))
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="Field separator (default: detected).")

    @model_validator(mode="after")
    def _columns_once(self) -> SeriesData:
        named = [self.column, *self.features, *([self.time] if self.time else [])]
        twice = sorted({name for name in named if named.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} named twice among column, features and time; each "
                             "column has one role")
        return self

    @property
    def separation(self) -> int:
        """The gap in samples between two splits."""
        return self.horizon - 1 if self.gap is None else self.gap
