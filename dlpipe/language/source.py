"""What every data section shares (torch-free): the split fractions and the DataSource base.

Its own module so that the built-in sources (data.py) and the user's own files (files.py)
both build on it without importing each other.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from dlpipe.language.section import Section


class SplitFractions(Section):
    """Fractions of the samples for training, validation and test; they sum to 1."""

    train: float = Field(0.7, gt=0, lt=1, description="Fraction of samples used for training.")
    validation: float = Field(0.15, gt=0, lt=1, description="Fraction used for validation each epoch.")
    test: float = Field(0.15, gt=0, lt=1, description="Fraction held out for the final test metrics.")
    folds: int | None = Field(None, ge=2, le=100, description=(
        "K-fold cross-validation (`dlpipe run --folds K` sets it and fold, one run per fold): the rows are cut into "
        "this many folds (stratified by class for a classification; a series: expanding windows in time order), "
        "and test is ignored."))
    fold: int | None = Field(None, ge=1, le=100, description=(
        "With folds: which fold is the test split (1 to folds); validation is carved from the other folds, "
        "validation / (train + validation) of them."))

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + validation + test must be 1 (got {total:g})")
        if (self.folds is None) != (self.fold is None):
            raise ValueError("folds and fold go together: fold K of folds (dlpipe run --folds K sets both)")
        if self.folds is not None and self.fold > self.folds:
            raise ValueError(f"fold {self.fold} of {self.folds} folds: fold is 1 to {self.folds}")
        return self

    @property
    def validation_share(self) -> float:
        """The share of the training folds that validation takes (K-fold)."""
        return self.validation / (self.train + self.validation)

    def sizes(self, samples: int) -> tuple[int, int, int]:
        """How many of `samples` each split gets (the data stage cuts exactly these); with folds, this fold's."""
        if self.folds is not None:
            n_test = samples // self.folds + (1 if self.fold - 1 < samples % self.folds else 0)
            n_val = min(max(1, round(self.validation_share * (samples - n_test))), samples - n_test - 1)
            return samples - n_test - n_val, n_val, n_test
        n_train = min(max(1, round(self.train * samples)), samples - 2)
        n_val = min(max(1, round(self.validation * samples)), samples - n_train - 1)
        return n_train, n_val, samples - n_train - n_val


MIN_SPLIT = 2  # samples every split needs: R^2 and the spread of the errors need two
MAX_ABS_X = 1.0e6  # x beyond this overflows the polynomials and the uniform draw long before it helps


AUGMENT = "Image augmentation of the training batches: random flips, shifts, turns, crops, noise, erasing."


class Augment(Section):
    """Random changes to every training batch (never validation or test), made on the whole batch as tensor
    operations and seeded: a resumed run draws the same ones."""

    flip: Literal["horizontal", "vertical"] | None = Field(None, description=(
        "Mirror half the images, left-right (horizontal) or upside down (vertical)."))
    shift: int = Field(0, ge=0, le=64, description="Move each image up to this many pixels each way (black fills).")
    rotate: float = Field(0.0, ge=0, le=180, description="Turn each image by up to this many degrees either way.")
    crop: int = Field(0, ge=0, le=64, description=(
        "Pad by this many black pixels and cut the image's size back out at a random place (CIFAR's usual 4)."))
    noise: float = Field(0.0, ge=0, le=1, description="Add Gaussian noise of this standard deviation (pixels 0..1).")
    erase: float = Field(0.0, ge=0, le=1, description=(
        "With this probability, blank a random rectangle of 2-33 % of the image (random erasing)."))


class DataSource(Section):
    """A data source. TASK: regression, classification, or auto (decided from the data when it is read)."""

    TASK: ClassVar[str]

    @classmethod
    def refused(cls, key: str) -> str | None:
        """Why `key`, a key other sources have, is none of this one's (None: it is simply unknown)."""
        if key == "augment" and "augment" not in cls.model_fields:
            kind = getattr(cls.model_fields["type"].annotation, "__args__", ("this",))[0]
            return (f"augmentation moves and mirrors pixels; data.type {kind} has none (augment: is for mnist, "
                    "fashion_mnist, cifar10 and image_folder)")
        return None

    @classmethod
    def declared_task(cls, raw: dict) -> str:
        """The task a raw `data:` mapping of this type states: TASK, or its own `task:` where TASK is auto."""
        task = raw.get("task", "auto") if cls.TASK == "auto" else cls.TASK
        return task if task in ("regression", "classification") else "auto"

    @property
    def task_name(self) -> str:
        """regression or classification; auto only until the data stage has decided (see loader.load_pipeline)."""
        return getattr(self, "task", self.TASK) if self.TASK == "auto" else self.TASK
