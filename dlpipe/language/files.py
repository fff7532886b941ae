"""The user's own data files in the pipeline language (torch-free): CSV tables, NumPy arrays, image folders.

Paths are relative to the pipeline file: load_pipeline passes its folder as the
validation context `base_dir`, and the resolved pipeline.yaml holds absolute paths
(it lives in the run directory, elsewhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Union

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dlpipe.language.paths import resolved
from dlpipe.language.section import Section
from dlpipe.language.source import AUGMENT, Augment, DataSource, SplitFractions


def names_a_file(key: str, value: str) -> bool:
    """Whether `key: value` in a data section names a file or folder (relative to the pipeline file that wrote it)."""
    return key in ("path", "root") or (key in ("x", "y") and value.endswith(".npy"))


def beside_pipeline(value: str, info: ValidationInfo) -> str:
    """A path relative to the pipeline file, made absolute (the resolved pipeline.yaml lives elsewhere)."""
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or base is None else resolved(Path(base) / path))


class OwnFiles(DataSource):
    """Fields shared by the user's own files: paths beside the pipeline file, and the split."""

    split: SplitFractions = Field(default_factory=SplitFractions, description="Train/validation/test fractions.")

    @field_validator("path", "root", mode="after", check_fields=False)
    @classmethod
    def _relative_to_pipeline(cls, value: Any, info: ValidationInfo) -> Any:
        return beside_pipeline(value, info) if isinstance(value, str) else value


class WithTask(OwnFiles):
    """A source whose task is stated, or decided from its targets when they are read."""

    TASK = "auto"
    task: Literal["auto", "regression", "classification"] = Field(
        "auto", description="auto: classification for a text target or few distinct integers, else regression.")


ScaleTarget = Union[Literal["auto"], bool]


class TextSettings(Section):
    """Columns read as text: tokens, a vocabulary fitted on the training rows, and how rows become inputs."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)
    columns: list[str] = Field(min_length=1, description=(
        "The text columns; several are joined in this order, a separator token between them."))
    as_: Literal["sequence", "bag", "tfidf"] = Field("bag", alias="as", description=(
        "sequence: token ids (for an embedding layer); bag: token counts; tfidf: counts weighted by inverse "
        "document frequency, each row of unit length (bag and tfidf: for linear layers)."))
    tokens: Literal["words", "chars"] = Field("words", description=(
        "words: runs of letters and digits, and each other visible character alone; chars: every character."))
    lowercase: bool = Field(True, description="Lower-case the text before splitting it into tokens.")
    vocabulary: int = Field(20_000, ge=1, le=1_000_000, description=(
        "The most frequent tokens of the training rows kept; others count as unknown."))
    min_count: int = Field(1, ge=1, description="Keep a token only if the training rows hold it this many times.")
    ngrams: tuple[int, int] = Field((1, 1), description=(
        "bag and tfidf: runs of n tokens counted, for n from the first number to the second: [1, 3] with "
        "tokens: chars counts letters, pairs and triples (a name's ending); the vocabulary limits apply to them."))
    length: int = Field(200, ge=1, le=100_000, description="sequence: tokens kept per row (the rest is cut).")
    max_chars: int = Field(100_000, ge=1, le=10_000_000, description=(
        "The longest text cell accepted, in characters; a longer one is refused at its line."))

    @model_validator(mode="after")
    def _once(self) -> TextSettings:
        low, high = self.ngrams
        if not 1 <= low <= high <= 8:
            raise ValueError(f"ngrams: [low, high] with 1 <= low <= high <= 8 (got {list(self.ngrams)})")
        if self.as_ == "sequence" and self.ngrams != (1, 1):
            raise ValueError("ngrams: counts runs of tokens for as: bag or as: tfidf; a sequence model reads its "
                             "tokens in order (remove ngrams:, or use as: bag)")
        twice = sorted({name for name in self.columns if self.columns.count(name) > 1})
        if twice:
            raise ValueError(f"columns: {', '.join(map(repr, twice))} listed twice; list each column once")
        return self


class CSVData(WithTask):
    """A table: one row a sample, one column the target; read by the file's extension (csv is its older name)."""

    type: Literal["table", "csv"] = Field(description=(
        "A table, read by its extension: delimited text with a header row (.csv, .tsv, .txt), JSON Lines (.jsonl, "
        ".ndjson; one object a row), any of those gzip-compressed (.gz), or Parquet (.parquet). csv: the same."))
    path: str = Field(description="The table's file, relative to this pipeline file.")
    target: str = Field(min_length=1, description="The column to predict.")
    features: list[str] | None = Field(None, min_length=1, description="Input columns (default: every other).")
    delimiter: str | None = Field(None, min_length=1, max_length=1, description=(
        "Field separator of delimited text (default: detected)."))
    standardize: bool = Field(True, description="Scale numeric features to the training split's mean 0, std 1.")
    categorical: Union[Literal["auto"], list[str]] = Field(
        "auto", description="Columns to one-hot encode: auto (every non-numeric one) or a list.")
    missing: Literal["error", "drop", "mean"] = Field(
        "error", description="Empty cells: error (name them), drop the rows, or mean (the training mean).")
    scale_target: ScaleTarget = Field(
        "auto", description="Standardize a regression target for training (auto: when its scale is far from 1).")
    split_column: str | None = Field(
        None, description="A column of train/validation/test values that fixes the split (instead of fractions).")
    dates: dict[str, str] = Field(default_factory=dict, description=(
        "Columns of dates and their format: iso (2024-01-31, found without asking) or a strptime format, e.g. "
        "{sold: '%d/%m/%Y'}. A date becomes days since the training rows' first, the day of the week and the month."))
    text: TextSettings | None = Field(None, description=(
        "Columns read as text (they are features whether or not features: lists them), e.g. "
        "{columns: [subject, body], as: tfidf, vocabulary: 8000}."))

    @model_validator(mode="after")
    def _columns_once(self) -> CSVData:
        for name in self.text.columns if self.text else []:
            if name in (self.target, self.split_column):
                raise ValueError(f"text: {name!r} is the target or the split column, not a text feature")
            if self.categorical != "auto" and name in self.categorical:
                raise ValueError(f"text: {name!r} is also listed under categorical:; a column is one or the other")
        for name, fmt in self.dates.items():
            if fmt != "iso" and not _date_format(fmt):
                raise ValueError(f"dates: {name}: {fmt!r} is not a date format; write iso, or a strptime format such "
                                 "as '%d/%m/%Y' (day/month/year) or '%Y%m%d'")
            if name in (self.target, self.split_column) or name in (self.text.columns if self.text else []) or \
                    (self.categorical != "auto" and name in self.categorical):
                raise ValueError(f"dates: {name!r} is the target, the split column, text or a category; a column "
                                 "is one kind")
        features = self.features or []
        twice = sorted({name for name in features if features.count(name) > 1})
        if twice:
            raise ValueError(f"features: {', '.join(repr(n) for n in twice)} listed twice; list each column once")
        if self.target in features:
            raise ValueError(f"features: the target {self.target!r} cannot also be a feature")
        if self.split_column is not None and self.split_column in (*features, self.target):
            raise ValueError(f"split_column: {self.split_column!r} is also a feature or the target")
        return self


def _date_format(fmt: str) -> bool:
    """Whether a strptime format reads back the date it writes (a day, a month and a year at least)."""
    from datetime import datetime

    try:
        return "%" in fmt and datetime.strptime(datetime(2024, 1, 31).strftime(fmt), fmt).date().isoformat() \
            == "2024-01-31"
    except ValueError:
        return False


class SpamAssassinData(CSVData):
    """The SpamAssassin public mail corpus, part 1: 3,250 messages (subject, body, label: spam or ham), found like
    MNIST (data.root, $DLPIPE_DATA/spamassassin, ~/.cache/dlpipe/spamassassin)."""

    type: Literal["spamassassin"] = Field(description="The SpamAssassin public corpus, part 1, as a CSV table.")
    path: str | None = Field(None, description="The CSV file (default: spamassassin-1.csv.gz, searched as above).")
    root: str | None = Field(None, description="Folder holding spamassassin-1.csv.gz; searched first.")
    target: str = Field("label", min_length=1, description="The column to predict: label (spam or ham).")
    text: TextSettings | None = Field(
        default_factory=lambda: TextSettings(columns=["subject", "body"]),
        description="How the messages are read (default: subject and body as word counts).")


class ArraysData(WithTask):
    """NumPy arrays: one .npz holding x and y, or a pair of .npy files."""

    type: Literal["arrays"] = Field(description="NumPy arrays (.npz, or two .npy files).")
    path: str | None = Field(None, description="The .npz file, relative to this pipeline file (else x and y are .npy files).")
    x: str = Field("x", min_length=1, description="The inputs: a name in the .npz, or a .npy file when path is not given.")
    y: str = Field("y", min_length=1, description="The targets: a name in the .npz, or a .npy file when path is not given.")
    standardize: bool = Field(True, description="Scale inputs to the training split's mean 0, std 1 (per feature, or per channel).")
    scale_target: ScaleTarget = Field(
        "auto", description="Standardize a regression target for training (auto: when its scale is far from 1).")

    @model_validator(mode="before")
    @classmethod
    def _npy_files_beside_pipeline(cls, raw: Any, info: ValidationInfo) -> Any:
        if isinstance(raw, dict) and raw.get("path") is None:
            raw = {**raw, **{key: beside_pipeline(raw[key], info) for key in ("x", "y")
                             if isinstance(raw.get(key), str) and names_a_file(key, raw[key])}}
        return raw

    @model_validator(mode="after")
    def _pair_or_archive(self) -> ArraysData:
        if self.path is None and not (self.x.endswith(".npy") and self.y.endswith(".npy")):
            raise ValueError("give path: FILE.npz, or x: and y: as two .npy files")
        return self


class ImageFolderData(OwnFiles):
    """Images in class folders: root/<class>/*.png, or root/train|validation|test/<class>/..."""

    TASK = "classification"
    FLIPS: ClassVar[tuple[str, ...]] = ("horizontal", "vertical")  # unknown images: no flip is called a pitfall
    type: Literal["image_folder"] = Field(description="A folder of images, one sub-folder per class.")
    augment: Augment | None = Field(None, description=AUGMENT)
    root: str = Field(description="The folder, relative to this pipeline file.")
    size: tuple[int, int] | None = Field(None, description="[height, width] to resize to (default: the first image's).")
    channels: Literal[1, 3] | None = Field(None, description="1 (grey) or 3 (colour); default: the images' own.")
    validation: Union[int, float] = Field(
        0.1, gt=0, description="With root/train/ but no root/validation/: images carved from train (count or fraction).")
    normalize: bool = Field(True, description="Scale each channel to the training split's mean 0, std 1.")
    on_bad_file: Literal["error", "skip"] = Field("error", description="An unreadable image: stop, or skip it.")
    cache: bool = Field(True, description="Keep decoded pixels in the cache folder for the next run.")

    @field_validator("size")
    @classmethod
    def _positive(cls, value):
        if value is not None and not all(1 <= side <= 4096 for side in value):
            raise ValueError(f"size: [height, width] between 1 and 4096 (got {list(value)})")
        return value
