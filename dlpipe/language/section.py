"""The base of every config model, and the tagged unions the registries are turned into."""

from __future__ import annotations

import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Base of every config model: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def tags(config_class: type[BaseModel]) -> tuple[str, ...]:
    """The `type:` names a config class answers to (one class may cover several, e.g. relu and tanh)."""
    return typing.get_args(config_class.model_fields["type"].annotation)


def names(table: tuple[type[BaseModel], ...]) -> list[str]:
    """Every `type:` name of a registry table, in table order."""
    return [tag for config_class in table for tag in tags(config_class)]


def tagged_union(table: tuple[type[BaseModel], ...]) -> Any:
    """One registry table as a pydantic discriminated union on `type`."""
    if len(table) == 1:
        return table[0]
    return Annotated[Union[tuple(table)], Field(discriminator="type")]


def expand_shorthand(value: Any) -> Any:
    """`loss: mse` means `loss: {type: mse}`; the same for layers, optimizers and metrics."""
    return {"type": value} if isinstance(value, str) else value
