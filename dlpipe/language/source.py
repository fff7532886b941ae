"""What every data section shares (torch-free): the split fractions and the DataSource base.

Its own module so that the built-in sources (data.py) and the user's own files (files.py)
both build on it without importing each other.
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import Field, model_validator

from dlpipe.language.section import Section


class SplitFractions(Section):
    """Fractions of the samples for training, validation and test; they sum to 1."""

    train: float = Field(0.7, gt=0, lt=1, description="Fraction of samples used for training.")
    validation: float = Field(0.15, gt=0, lt=1, description="Fraction used for validation each epoch.")
    test: float = Field(0.15, gt=0, lt=1, description="Fraction held out for the final test metrics.")

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + validation + test must be 1 (got {total:g})")
        return self

    def sizes(self, samples: int) -> tuple[int, int, int]:
        """How many of `samples` each split gets (the data stage cuts exactly these)."""
        n_train = min(max(1, round(self.train * samples)), samples - 2)
        n_val = min(max(1, round(self.validation * samples)), samples - n_train - 1)
        return n_train, n_val, samples - n_train - n_val


MIN_SPLIT = 2  # samples every split needs: R^2 and the spread of the errors need two
MAX_ABS_X = 1.0e6  # x beyond this overflows the polynomials and the uniform draw long before it helps


class DataSource(Section):
    """A data source. TASK: regression, classification, or auto (decided from the data when it is read)."""

    TASK: ClassVar[str]

    @classmethod
    def declared_task(cls, raw: dict) -> str:
        """The task a raw `data:` mapping of this type states: TASK, or its own `task:` where TASK is auto."""
        task = raw.get("task", "auto") if cls.TASK == "auto" else cls.TASK
        return task if task in ("regression", "classification") else "auto"

    @property
    def task_name(self) -> str:
        """regression or classification; auto only until the data stage has decided (see loader.load_pipeline)."""
        return getattr(self, "task", self.TASK) if self.TASK == "auto" else self.TASK
