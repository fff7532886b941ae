"""The `sweep:` section: which settings a hyperparameter search varies, over what, and what it optimises.

Each parameter is a `--set` path with one of: {choice: [...]}, {range: [low, high]},
{log_range: [low, high]} (sampled on a log scale) or {int_range: [low, high]}.
overrides.check_sweep tries every value a parameter can take before anything runs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from dlpipe.language.errors import PipelineError
from dlpipe.language.section import Section

Value = bool | int | float | str
MAX_GRID = 10_000  # points (each one a run); queueing them takes about 25 s on SQLite


class Parameter(Section):
    """One searched setting: exactly one of choice, range, log_range, int_range."""

    choice: list[Value] | None = Field(None, min_length=1, description="The values to try (grid: each of them).")
    range: tuple[float, float] | None = Field(None, description="Uniform between low and high.")
    log_range: tuple[float, float] | None = Field(None, description="Log-uniform between low and high (both > 0).")
    int_range: tuple[int, int] | None = Field(None, description="A whole number between low and high, inclusive.")

    @model_validator(mode="after")
    def _one_kind(self) -> "Parameter":
        given = [k for k in ("choice", "range", "log_range", "int_range") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of choice, range, log_range, int_range (got {given or 'none'})")
        low_high = self.range or self.log_range or self.int_range
        if low_high is not None and not low_high[0] < low_high[1]:
            raise ValueError(f"{given[0]}: low must be below high (got {list(low_high)})")
        if self.log_range is not None and self.log_range[0] <= 0:
            raise ValueError(f"log_range: both ends must be above 0 (got {list(self.log_range)})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("choice", "range", "log_range", "int_range") if getattr(self, k) is not None)

    @property
    def probes(self) -> list[Value]:
        """The values that stand for all the others when checking: each choice, both ends of a range."""
        return list(self.choice) if self.choice is not None else list(getattr(self, self.kind))


class Sweep(Section):
    """A hyperparameter search run by `dlpipe sweep` (a plain `dlpipe run` trains the file's own values)."""

    metric: str = Field("val_loss", description=(
        "The recorded validation value to optimise, e.g. val_accuracy; its direction comes from the metric. "
        "Default: the pipeline's headline metric on validation (balanced_accuracy when it records it, else its "
        "task's headline: accuracy, r2), else val_loss."))
    trials: int = Field(20, ge=1, le=100_000, description="Trials for random and bayes (a grid runs every point).")
    method: Literal["grid", "random", "bayes"] = Field(
        "bayes", description="grid: every combination of choices; random; bayes: Optuna's TPE sampler.")
    prune: bool = Field(False, description="Stop a trial whose metric is worse than the median of earlier trials "
                                           "at the same epoch (Optuna's MedianPruner); never before its third epoch "
                                           "or a fifth of its epochs, whichever is later.")
    parameters: dict[str, Parameter] = Field(min_length=1, description="--set path: the values to search.")

    @model_validator(mode="after")
    def _grid_needs_choices(self) -> "Sweep":
        if self.method == "grid":
            ranged = [key for key, p in self.parameters.items() if p.choice is None]
            if ranged:
                raise ValueError(f"method grid needs a choice list for every parameter; {', '.join(ranged)} "
                                 "has a range (use method random or bayes, or list the values)")
            if self.grid_size > MAX_GRID:
                raise ValueError(f"the grid has {self.grid_size:,} points; a grid is at most {MAX_GRID:,} (each point "
                                 "is a run): use method random or bayes with trials:, or fewer values")
        return self

    @property
    def grid_size(self) -> int:
        return math.prod(len(parameter.choice or []) for parameter in self.parameters.values())


def grid_flag(text: str) -> tuple[str, Parameter]:
    """`--grid optimizer.lr=1.0e-3,1.0e-2` as (path, Parameter with those choices); values read as YAML scalars."""
    import yaml

    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise PipelineError(f"--grid {text}: expected key.path=value,value,..., e.g. --grid optimizer.lr=1.0e-3,1.0e-2")
    try:
        parsed = [yaml.safe_load(v) for v in values.split(",")]
    except yaml.YAMLError:
        raise PipelineError(f"--grid {text}: the values are not valid YAML scalars") from None
    if any(not isinstance(v, (bool, int, float, str)) for v in parsed):
        raise PipelineError(f"--grid {text}: each value must be a number, true/false or a word")
    return key.strip(), Parameter(choice=parsed)


def yaml_text(value: Any) -> str:
    """A value as one line of YAML, the way --set reads it back."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
